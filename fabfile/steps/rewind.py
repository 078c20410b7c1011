"""pg_rewind: the copy of a former primary's data directory kept before it is
rewound, and the rewind itself.  What it needs on the primary: grants to the
replication role (role.grant, 11+) and wal_log_hints or data checksums
(render.primary_settings)."""

from . import server
from ..hosts.cluster import ClusterError
from ..knowledge import datadir, versions
from ..knowledge.shell import sh


def keep_copy(run, host):
    """Copy the (stopped) data directory aside on its own file system; the
    run remembers where (RunState.kept_copies)."""
    data = host.layout.data_dir
    actor = server.proven(host)[data].actor
    kept = datadir.aside_path(data)
    room = no_room(host)
    if room:
        raise ClusterError(f"{host.name}: {room}: free some space")
    host.change(datadir.copy_aside(data, kept, actor), user=actor)
    run.state.kept_copies[host.name] = kept
    return kept


def no_room(host):
    """Why a copy of the data directory cannot be kept beside it, or ''."""
    data = host.layout.data_dir
    free, size = server.free_space(host, data), server.data_size(host)
    if free < size * datadir.ROOM_MARGIN:
        return (f"no room to keep a copy of {data} ({size / 1e6:.0f} MB needed, "
                f"{free / 1e6:.0f} MB free)")
    return ""


def problem(host, state, tablespaces):
    """Why pg_rewind cannot bring this stopped copy back (state: its
    server.read_state), or '': what pg_rewind itself checks first (hint
    bits logged, from pg_control), a server whose files it would change
    outside the kept copy (tablespaces), and room for that copy."""
    if not versions.fact("rewind_functions", host.layout.major):
        return "before PostgreSQL 11 pg_rewind needs a superuser's connection"
    if state.wal_log_hints != "on" and state.data_checksums in ("", "0"):
        return "it ran without wal_log_hints or data checksums, which pg_rewind needs"
    if tablespaces:
        return "its tablespaces are outside the copy pg_rewind's changes would be kept in"
    return no_room(host)


def onto_primary(run, s):
    """pg_rewind s's data directory onto the primary's timeline, keeping s's own
    config files; the error's last line, or None on success."""
    lay = s.layout
    if not versions.fact("rewind_functions", lay.major):
        return "before PostgreSQL 11 it needs a superuser's connection"
    own = {name: s.read(f"{lay.data_dir}/{name}") for name in lay.own_config_files}
    source = run.conninfo(s, dbname="postgres")
    result = s.change(sh("{rewind} -D {data} --source-server={source}",
                         rewind=lay.pg("pg_rewind"), data=lay.data_dir, source=source),
                      user="postgres", warn=True)
    for name, text in own.items():
        if text is not None:
            s.install(f"{lay.data_dir}/{name}", text, owner="postgres", mode="600")
    if result.exited != 0:
        return ((result.stderr or result.stdout).strip().splitlines() or ["no output"])[-1]
    return None
