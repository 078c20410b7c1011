"""`fab plan` changes nothing on any host (#11): every file the tool could
write, the listings where it could leave or move something, and each server's
running state are the same after a plan as before, on a fresh lab and on a
configured lab that plan has work to skip on."""
import pytest

# Under the data directory only its top level and base/'s entries are walked:
# what lies deeper (pg_wal/, pg_xact/, global/pg_control, relation files, ...)
# the running server rewrites by itself, and the tool only ever writes top-level
# files (standby.signal, postgresql.auto.conf, its copy marker).  Whole copies,
# moves and leftovers show at the top level or beside the data directory.
# postmaster.pid's contents and logs change under a running server: listed,
# not hashed (the PID is taken from the file below).
UNHASHED = "! -name postmaster.pid ! -name '*.log'"

# The running state, as the postgres superuser over the local socket.
STATE_SQL = {
    "in_recovery": "select pg_is_in_recovery()",
    "started": "select pg_postmaster_start_time()",
    # A reload is a change too: plan must not make one.
    "conf_loaded": "select pg_conf_load_time()",
    "roles": "select rolname, rolpassword from pg_authid order by 1",
    # The GRANT EXECUTE for pg_rewind lands here.
    "function_grants": "select oid::regprocedure, proacl from pg_proc "
                       "where proacl is not null order by 1",
    "slots": "select slot_name from pg_replication_slots order by 1",
    "replication": "select application_name from pg_stat_replication order by 1",
}


def dirs(lab):
    """(config dir, data dir) of the lab's layout."""
    if lab.layout == "generic":
        return f"/var/lib/pgsql/{lab.pg}/data", f"/var/lib/pgsql/{lab.pg}/data"
    return f"/etc/postgresql/{lab.pg}/main", f"/var/lib/postgresql/{lab.pg}/main"


def snapshot_script(lab):
    conf, data = dirs(lab)
    # (root, depth): depth None walks the whole tree.
    walks = [(conf, None), (data, 1), (f"{data}/base", 1),
             (data.rsplit("/", 1)[0], 1),     # where a data dir is moved aside or staged
             ('"$H"', 1), ('"$H/.ssh"', None),  # passfiles; the copy's temporary key
             ("/var/backups/pg-hotstandby", None),
             ("/tmp", None)]                  # the tool's mktemp -d directories
    lines = ['H=$(getent passwd postgres | cut -d: -f6)']
    for root, depth in dict.fromkeys(walks):
        limit = f"-maxdepth {depth}" if depth is not None else ""
        lines.append(f"find {root} {limit} -printf 'entry %y %m %u:%g %p\\n' 2>/dev/null")
        lines.append(f"find {root} {limit} -type f {UNHASHED} -exec sha256sum {{}} + "
                     "2>/dev/null")
    # printf, not dash's echo, which would expand backslashes; one line per value.
    lines.append(f"printf 'state pid %s\\n' \"$(head -1 {data}/postmaster.pid 2>/dev/null)\"")
    for key, sql in STATE_SQL.items():
        lines.append(f"printf 'state {key} %s\\n' \"$(runuser -u postgres -- psql -XAtq "
                     f"-h /run/postgresql -d postgres -F , -R ' | ' -c \"{sql}\" 2>&1 "
                     "| tr '\\n' ' ')\"")
    return "\n".join(lines) + "\ntrue\n"


def parse_snapshot(text):
    """{path or state name: 'type mode owner' / 'sha256 ...' / value}."""
    entries, hashes = {}, {}
    for line in text.splitlines():
        if line.startswith("entry "):
            _, kind, mode, owner, path = line.split(" ", 4)
            entries[path] = f"{kind} {mode} {owner}"
        elif line.startswith("state "):
            _, key, *value = line.split(" ", 2)
            entries[f"state:{key}"] = value[0].strip() if value else ""
        elif line.strip():
            digest, path = line.split("  ", 1)
            hashes[path] = digest
    for path, digest in hashes.items():   # a regular file: its kind, and its content
        entries[path] = f"{entries.get(path, '?')} sha256:{digest}"
    return entries


def snapshot(lab):
    """{host: parse_snapshot(...)} for every lab host."""
    script = snapshot_script(lab)
    return {host: parse_snapshot(lab.sh(host, script)) for host in lab.hosts}


def differences(before, after):
    """{host: ['path: before -> after', ...]} where the snapshots differ."""
    found = {}
    for host in before:
        b, a = before[host], after[host]
        changed = [f"{k}: {b.get(k, '(absent)')} -> {a.get(k, '(absent)')}"
                   for k in sorted(b.keys() | a.keys()) if b.get(k) != a.get(k)]
        if changed:
            found[host] = changed
    return found


def assert_plan_changed_nothing(lab, before, planned):
    changed = differences(before, snapshot(lab))
    assert not changed, f"plan changed hosts: {changed}\nplan printed:\n{planned.stdout}"


def changed_keys(before, after):
    return {h: {line.split(": ", 1)[0] for line in lines}
            for h, lines in differences(before, after).items()}


@pytest.fixture(scope="module")
def lab(lab_factory):
    return lab_factory(pg=15)


def test_snapshot_sees_a_file_and_a_reload(lab):
    """Without this the other tests could not fail: a stray file in a config
    directory and a reload each show, and nothing else does."""
    conf, data = dirs(lab)
    before = snapshot(lab)
    stray = f"{conf}/conf.d/zz-plan-selfcheck"
    lab.sh("standby", f"echo x > {stray}")
    lab.sh("master", "sudo -u postgres psql -XAtqc 'select pg_reload_conf()'")
    try:
        after = snapshot(lab)
    finally:
        lab.sh("standby", f"rm -f {stray}")
    assert changed_keys(before, after) == {"standby": {stray},
                                           "master": {"state:conf_loaded"}}, \
        differences(before, after)
    # The walks found what matters (a wrong path would silently compare empty sets).
    for host, entries in after.items():
        assert f"{conf}/postgresql.conf" in entries and "sha256:" in \
            entries[f"{conf}/postgresql.conf"], host
        assert f"{data}/PG_VERSION" in entries and "/tmp" in entries, host
        assert entries["state:pid"].isdigit() and entries["state:in_recovery"] == "f", \
            (host, entries["state:pid"], entries["state:in_recovery"])
    assert "lab," in after["master"]["state:roles"]


def test_plan_on_a_fresh_lab_changes_nothing(lab):
    before = snapshot(lab)
    planned = lab.fab("plan")
    assert planned.returncode == 0, planned.stdout + planned.stderr
    assert "standby: (plan) copy master:" in planned.stdout
    assert "changes; run full to make them" in planned.stdout
    assert_plan_changed_nothing(lab, before, planned)


def test_plan_with_work_to_skip_after_full_changes_nothing(lab):
    """After full, the primary loses the tool's settings and restarts: it no
    longer listens on the network, so the standby stops streaming.  Plan
    would rewrite the drop-in, restart the primary and copy the standby again."""
    conf, data = dirs(lab)
    done = lab.fab("full")
    assert done.returncode == 0, done.stdout + done.stderr
    dropin = f"{conf}/conf.d/pg-hotstandby.conf"
    lab.sh("master", f"rm {dropin} && pg_ctlcluster {lab.pg} main restart")
    assert lab.query("master", "select count(*) from pg_stat_replication") == [(0,)]

    before = snapshot(lab)
    assert before["standby"]["state:in_recovery"] == "t"
    assert before["master"]["state:slots"] == "standby"
    # The home walk sees the passfile, so a plan rewriting it would show.
    assert "sha256:" in before["standby"].get("/var/lib/postgresql/.pg-hotstandby.pgpass", "")
    planned = lab.fab("plan")
    assert planned.returncode == 0, planned.stdout + planned.stderr
    out = planned.stdout
    assert f"master: (plan) would change {dropin}:" in out, out
    assert "master: (plan) restarted PostgreSQL for its new settings" in out, out
    assert "standby: (plan) stop PostgreSQL" in out, out
    assert f"standby: (plan) copy master:{data} (" in out, out
    assert_plan_changed_nothing(lab, before, planned)
