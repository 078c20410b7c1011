"""A PostgreSQL server on a host: its state, its settings, its WAL positions,
its log (starting and stopping it: service.py).

State is read in one round trip (pg_ctl status, pg_controldata, signal files)
and parsed by pure functions.
"""
from dataclasses import dataclass, replace

from ..knowledge import datadir, places, render, timeline, versions, walguard
from ..knowledge.layout import UNIT_OF_POSTMASTER
from ..knowledge.lsn import Lsn
from ..knowledge.values import UNIT
from ..knowledge.rsync import COPYING_MARKER
from ..knowledge.shell import join, sh

CONTROL_FIELDS = {
    "Database system identifier": "system_id",
    "Database cluster state": "cluster_state",
    "Latest checkpoint location": "checkpoint",
    "Latest checkpoint's REDO location": "redo",
    "Backup start location": "backup_start",
    "Blocks per segment of large relation": "rel_segment_blocks",
    "Minimum recovery ending location": "min_recovery",
    "Bytes per WAL segment": "segment_size",
    "Latest checkpoint's TimeLineID": "timeline",
    "Catalog version number": "catalog_version",
    "wal_log_hints setting": "wal_log_hints",
    "Data page checksum version": "data_checksums",
}

LSN_FIELDS = ("checkpoint", "min_recovery", "redo", "backup_start")


@dataclass
class ServerState:
    exists: bool = False
    running: bool = False
    system_id: str = ""
    cluster_state: str = ""
    checkpoint: Lsn = None   # the latest checkpoint's location
    min_recovery: Lsn = None   # a standby's: how far its replay went, at least
    redo: Lsn = None         # where recovery from the latest checkpoint starts
    backup_start: Lsn = None   # not 0/0 while the recovery of a copy is unfinished
    rel_segment_blocks: str = ""   # blocks per relation file segment
    segment_size: str = ""
    timeline: str = ""
    catalog_version: str = ""
    standby_marker: bool = False
    copying_from: str = ""   # system identifier of an unfinished copy's source
    # names of incoming directories (pg_basebackup's, cut short) beside it or
    # in it (datadir.incoming_place): datadir.cut_copy finds ours
    incoming: tuple = ()
    unit: str = ""           # the systemd unit the running postmaster belongs to
    wal_log_hints: str = ""  # 'on' or 'off', as pg_control has it
    data_checksums: str = ""   # the checksum version: '0' for none
    # {timeline: Lsn where it was left} of its own timeline's history
    # (timeline.parse_history); None when it could not be read
    history: dict = None

    @property
    def wal_end(self):
        """Where its own WAL ends at least (a stopped standby streams on
        from the segment holding it), or None."""
        known = [lsn for lsn in (self.checkpoint, self.min_recovery) if lsn is not None]
        return max(known) if known else None

    def outside(self, service):
        """Runs, but not inside `service` (started by hand or around systemd)."""
        return bool(self.running and service and self.unit != service)


def is_copy_of(state, primary_state):
    """The data directory is (or was being made) a copy of this primary."""
    return state.exists and primary_state.system_id in (state.system_id, state.copying_from)


def state_script(layout):
    return sh("""
{unit_of}
for found in {beside}* {inside}*; do
    [ -d "$found" ] && [ ! -L "$found" ] && printf 'incoming=%s\n' \
        "$(printf %s "${{found##*/}}" | tr -c 'A-Za-z0-9._-' '?')"
done
[ -f {d}/PG_VERSION ] || {{ echo exists=no; exit 0; }}
echo exists=yes
{pg_ctl} status -D {d} >/dev/null 2>&1 && echo running=yes && echo "unit=$(unit_of {d})"
[ -f {d}/{marker} ] && echo standby_marker=yes
[ -f {d}/{copying} ] && echo "copying_from=$(head -c 64 {d}/{copying} | tr -c '0-9' ' ')"
control=$(LC_ALL=C {controldata} {d} 2>/dev/null)
echo "$control"
tli=$(echo "$control" | sed -n "s/^Latest checkpoint's TimeLineID: *//p")
case $tli in
    ''|*[!0-9]*) ;;
    *) history={d}/{wal}/$(printf %08X "$tli").history
       # each line of the file one line here: nothing else passes
       [ -f "$history" ] && head -c 65536 "$history" | tr -c '0-9A-Za-z/.\\t\\n ' '?' \\
           | sed 's/^/history=/' ;;
esac
exit 0
""", unit_of=UNIT_OF_POSTMASTER, d=layout.data_dir,
              beside="/".join(datadir.incoming_place(layout.data_dir, False)),
              inside="/".join(datadir.incoming_place(layout.data_dir, True)), pg_ctl=layout.pg("pg_ctl"),
              marker=versions.fact("standby_signal", layout.major), copying=COPYING_MARKER,
              controldata=layout.pg("pg_controldata"), wal=versions.fact("wal_dir", layout.major))


def parse_state(text):
    state, history = ServerState(), []
    for line in text.splitlines():
        key, sep, value = line.partition("=")
        if sep and key == "history":
            history.append(value)
            continue
        if sep and key == "incoming":
            state.incoming += (value,)
            continue
        if sep and key in ("exists", "running", "standby_marker"):
            setattr(state, key, value.strip() == "yes")
            continue
        if sep and key == "copying_from":   # a system identifier, written by the tool
            state.copying_from = value.strip() if value.strip().isdigit() else ""
            continue
        if sep and key == "unit":
            state.unit = value.strip() if UNIT.fullmatch(value.strip()) else ""
            continue
        key, sep, value = line.partition(":")
        if sep and key.strip() in CONTROL_FIELDS:
            name = CONTROL_FIELDS[key.strip()]
            setattr(state, name, Lsn.parse_or_none(value)
                    if name in LSN_FIELDS else value.strip())
    try:   # timeline 1 has no history file
        state.history = timeline.parse_history("\n".join(history)) \
            if history or state.timeline == "1" else None
    except ValueError:
        state.history = None
    return state


def read_state(host):
    return parse_state(host.query(state_script(host.layout), user="postgres").stdout)


def primary_state(host):
    """read_state of the primary, with the timeline it writes on: right after
    a promotion pg_control names the old one until the first checkpoint; a
    standby's timeline is compared with the new one, and its history read
    (by SQL: reading changes nothing, so plan sees what the run will)."""
    state = read_state(host)
    if not state.running:
        return state
    fact = lambda name: versions.fact(name, host.layout.major)  # noqa: E731
    rows = host.psql(f"select {fact('walfile_name_function')}({fact('current_lsn_function')}())",
                     warn=True)
    now = timeline.of_wal_file(rows[0][0]) if rows and rows[0] else None
    if now is None or now == int(state.timeline or 0):
        return state
    path = f"{fact('wal_dir')}/{timeline.history_file(now)}"
    rows = host.psql(f"select encode(pg_read_binary_file({render.sql_literal(path)}), 'hex')",
                     warn=True)
    try:
        history = timeline.parse_history(bytes.fromhex(rows[0][0]).decode("ascii"))
    except (TypeError, IndexError, ValueError):   # no answer, or not a history
        history = None
    return replace(state, timeline=str(now), history=history)


def cut_copy(host, state, primary_state):
    """Where a pg_basebackup of this primary, cut short, left what it
    copied (datadir.cut_copy), or ''."""
    if not state.incoming:
        return ""
    data = host.layout.data_dir
    return datadir.cut_copy(state.incoming, data, is_mount_point(host, data),
                            primary_state.system_id)


def user_data(host):
    listing = host.query(sh("cd {base} 2>/dev/null && find . -mindepth 1 -maxdepth 2 "
                            "-name '[0-9]*' -printf '%P\\n'",
                            base=f"{host.layout.data_dir}/base"),
                         user="postgres", warn=True).stdout
    return datadir.holds_user_data(listing)


def diverged(state, primary_state):
    """A copy of this primary that went its own way (timeline.diverged):
    promoted since, or past where the primary left its timeline (a former
    primary that wrote on).  What it took after that lives only there: kept,
    never overwritten."""
    return is_copy_of(state, primary_state) and timeline.diverged(
        state.timeline, state.wal_end, primary_state.timeline, primary_state.history)


def replaceable(state, primary_state):
    """A copy of this primary that a copy may update in place or replace
    (not one that diverged)."""
    return is_copy_of(state, primary_state) and not diverged(state, primary_state)


def standby_data_problem(standby, primary_state, force, state=None):
    """Why copying over this standby's data directory must not happen, or None.
    state: the standby's, if just read."""
    state = state or read_state(standby)
    if state.exists and not is_copy_of(state, primary_state) \
            and not force and user_data(standby):
        return (f"{standby.name}: its data directory {standby.layout.data_dir} holds another "
                f"cluster (system identifier {state.system_id}) with databases or tables in "
                "it: check that this is the right host, then run again with --force "
                "(the old directory is moved aside, not deleted)")
    return None


def config_values(host, names):
    """Values the server's config files give (postgres -C), running or not.
    One postgres -C per name (it prints one), all at once: each reads the
    config files, and a line written at once is not split by the others."""
    lay = host.layout
    script = join([*(sh('echo {name}="$({postgres} -D {config} -C {name} 2>/dev/null)" &',
                        name=n, postgres=lay.pg("postgres"), config=lay.config_dir)
                     for n in names), sh("wait")], " ")
    values = {}
    for line in host.query(script, user="postgres").stdout.splitlines():
        key, _, value = line.partition("=")
        values[key] = value.strip()
    return values


def proven(host, spaces=()):
    """{path: knowledge.places.Place} for the directories a copy acts on
    there: the data directory and each tablespace's location, proven in one
    round trip; a RemoteError for the first that root must not touch."""
    return host.prove([places.data_directory(host.layout.data_dir),
                       *(places.tablespace(t.target, t.name) for t in spaces)])


def is_mount_point(host, path):
    """The directory is a mount point of its own (a volume): it cannot be renamed."""
    return host.query(sh("mountpoint -q {path}", path=path), warn=True).exited == 0


def data_size(host, path=None):
    """Bytes in the data directory (or another directory)."""
    path = path or host.layout.data_dir
    return int(host.query(sh("du -sb {path}", path=path), user="postgres").stdout.split()[0])


def free_space(host, path):
    """Bytes free on the file system holding path (0 when it cannot be read)."""
    avail = host.query(sh("df -B1 --output=avail {path} | tail -1", path=path), warn=True)
    return int(avail.stdout.strip()) if avail.stdout.strip().isdigit() else 0


def wal_space(host):
    """What the server's WAL may use (walguard.Space), or None when it cannot
    be read.  As postgres, through pg_wal: it may be a link to a disk of its
    own, and that disk is the one that fills."""
    wal = f"{host.layout.data_dir}/{versions.fact('wal_dir', host.layout.major)}/"
    result = host.query(sh("df -P -B1 {place} | tail -n 1 && "
                           "{{ du -s -B1 {wal} 2>/dev/null || true; }}",
                           place=nearest(wal), wal=wal), user="postgres", warn=True)
    try:
        return walguard.parse_df_du(result.stdout)
    except ValueError:
        return None


def wal_guard(host, settings, current, owned):
    """What bounds the WAL the host's slots hold (walguard.Guard), from its
    space and values.  current: its config's values (config_values, with
    render.PRIMARY_SETTINGS_READ); owned: the text the tool's file holds."""
    return walguard.decide(host.layout.major, settings.wal_guard.share,
                           settings.max_slot_wal_keep_size, wal_space(host),
                           render.settings_values(owned).get("max_slot_wal_keep_size"),
                           current.get("max_slot_wal_keep_size"), settings.wal_guard.idle_timeout)


def nearest(path):
    """Shell: the nearest existing directory at or above path."""
    return sh('"$(p={path}; while [ ! -e "$p" ]; do p=$(dirname "$p"); done; echo "$p")"',
              path=path)


def room(host, paths_and_needs):
    """[(file system, bytes free, bytes needed)] for what must fit on a host:
    paths_and_needs [(path, bytes)] added up per file system, in order."""
    script = join([sh("df -B1 --output=target,avail {dir} | tail -1", dir=nearest(path))
                   for path, _ in paths_and_needs])
    lines = host.query(script).stdout.splitlines()
    totals = {}
    for (_path, need), line in zip(paths_and_needs, lines):
        mount, avail = line.rsplit(None, 1)
        free, wanted = totals.get(mount, (int(avail), 0))
        totals[mount] = (free, wanted + need)
    return [(mount, free, wanted) for mount, (free, wanted) in totals.items()]


def reload(host):
    host.psql_change("select pg_reload_conf()")


def pending_restart(host, wanted):
    """Settings changed in the files that wait for a restart.  On a dry host
    nothing was written: the ones of `wanted` the running server lacks."""
    if host.dry:
        names = ", ".join(render.sql_literal(n) for n in wanted)
        rows = host.psql(f"select name, setting, context from pg_settings where name in ({names})")
        return render.restart_needed(wanted, rows)
    rows = host.psql("select name from pg_settings where pending_restart") or []
    return [r[0] for r in rows]


def in_recovery(host):
    rows = host.psql("select pg_is_in_recovery()", warn=True)
    return None if rows is None else rows[0][0] == "t"


def current_lsn(host):
    """The running primary's current WAL write position."""
    function = versions.fact("current_lsn_function", host.layout.major)
    return Lsn.parse(host.psql(f"select {function}()")[0][0])


def received_and_replayed(host):
    """A standby's last received and replayed WAL positions (None: none yet)."""
    f = lambda name: versions.fact(name, host.layout.major)  # noqa: E731
    row = host.psql(f"select {f('receive_lsn_function')}(), {f('replay_lsn_function')}()")[0]
    return tuple(Lsn.parse_or_none(value) for value in row)


def log_tail(host, lines=300):
    """The server's recent log lines (Debian's log file or the generic one,
    else the newest file in the data directory's log/), read as postgres."""
    lay = host.layout
    newest = sh('f=$(ls -t {dir} 2>/dev/null | head -1) && [ -n "$f" ] && '
                'tail -n {lines} {dir}/"$f"', dir=f"{lay.data_dir}/log", lines=lines)
    script = sh("tail -n {lines} {log} 2>/dev/null || {newest}", lines=lines,
                log=lay.log_file, newest=newest) if lay.log_file else newest
    return host.query(script, user="postgres", warn=True).stdout


def streaming_standbys(run):
    """Names of the standbys their feeder (the primary, or their upstream) is
    streaming to right now (none from a feeder that is down: psql fails)."""
    streaming = set()
    for feeder in run.feeders():
        rows = feeder.psql("select application_name from pg_stat_replication "
                           "where state = 'streaming'", warn=True) or []
        names = {r[0] for r in rows}
        streaming |= {s.name for s in run.fed_by(feeder) if run.slot(s) in names}
    return streaming
