"""The steps one by one, several standbys, roles from a config file, a
bastion (ProxyJump), the rsync quick-check trap, bad host lists, the WAL
guard, forgotten slots, and retiring standbys."""
import pytest

from conftest import REPO, wait_for

STEPS = ["configure-master", "configure-standby", "stop-all", "sync",
         "start-standby-then-master", "smoke-test"]


@pytest.fixture(scope="module")
def lab(lab_factory):
    return lab_factory(pg=15)


def test_each_step_alone_gives_what_full_gives(lab):
    refused = lab.fab("sync", "--method", "rsync-cold")
    assert refused.returncode == 1
    assert "run stop-all first" in refused.stderr
    # Then the guide's steps with the default method: after stop-all the copy is cold.
    for step in STEPS:
        result = lab.fab(step)
        assert result.returncode == 0, f"{step}:\n{result.stdout}{result.stderr}"
        assert f"== {step} ==" in result.stdout
    assert "smoke test passed" in result.stdout
    again = lab.fab("full")
    assert again.returncode == 0 and "nothing to stop or copy" in again.stdout
    assert "nothing changed" in again.stdout


def test_roles_from_a_config_file(lab):
    result = lab.fab("smoke-test", hosts=[], config=REPO / "config" / "lab.yaml")
    assert result.returncode == 0, result.stdout + result.stderr
    assert "PASS  standby: refuses writes" in result.stdout


def test_standby_reached_through_a_bastion(lab, tmp_path):
    config = lab.ssh_config.read_text()
    key = next(line.split()[1] for line in config.splitlines() if "IdentityFile" in line)
    jump = tmp_path / "ssh_config"
    jump.write_text(config.replace("Host standby\n", "Host standby-direct\n") +
                    f"\nHost standby\n    HostName standby\n    Port 22\n    User admin\n"
                    f"    IdentityFile {key}\n    ProxyJump master\n"
                    f"    StrictHostKeyChecking yes\n    UserKnownHostsFile {lab.known_hosts}\n")
    result = lab.fab("smoke-test", ssh_config=jump)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "PASS  standby: WAL receiver is streaming" in result.stdout


def test_pg_control_copied_when_rsync_quick_check_would_skip_it(lab):
    """Both stopped in the same second: pg_control keeps size and mtime second
    on the standby, so `rsync -a` alone would keep the standby's own."""
    lab.query("master", "create table if not exists trap (id int); insert into trap values (1)")
    assert lab.fab("stop-all").returncode == 0
    control = f"/var/lib/postgresql/{lab.pg}/main/global/pg_control"
    mtime = lab.sh("master", f"stat -c %Y {control}").strip()
    lab.sh("standby", f"touch -d @{mtime} {control}")
    assert lab.sh("standby", f"stat -c '%s %Y' {control}") == \
        lab.sh("master", f"stat -c '%s %Y' {control}")
    assert lab.sh("standby", f"md5sum < {control}") != lab.sh("master", f"md5sum < {control}")
    result = lab.fab("sync")
    assert result.returncode == 0, result.stdout + result.stderr
    assert "update, --checksum" in result.stdout
    assert lab.sh("standby", f"md5sum < {control}") == lab.sh("master", f"md5sum < {control}")
    assert lab.fab("start-standby-then-master").returncode == 0
    smoke = lab.fab("smoke-test")
    assert smoke.returncode == 0, smoke.stdout + smoke.stderr


@pytest.mark.parametrize("hosts,message", [
    (["master"], "only one host"),
    (["master", "standby", "master"], "given twice"),
    (["master", "no-such-host"], "cannot reach no-such-host"),
])
def test_bad_host_lists_fail_with_one_line(lab, hosts, message):
    before = lab.sh("master", "md5sum /etc/postgresql/15/main/pg_hba.conf")
    result = lab.fab("full", hosts=hosts)
    assert result.returncode == 1
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and message in lines[0], result.stderr
    assert lab.sh("master", "md5sum /etc/postgresql/15/main/pg_hba.conf") == before


@pytest.fixture(scope="module")
def two(lab_factory):
    """master with standby and standby2 (the tests below build on each other)."""
    return lab_factory(pg=15, standbys=2)


def test_a_second_standby_added_later_with_limits_raised(two):
    lab = two
    lab.query("master", "alter system set max_connections = 150")
    lab.sh("master", "pg_ctlcluster 15 main restart")
    first = lab.fab("full", hosts=["master", "standby"])
    assert first.returncode == 0, first.stdout + first.stderr
    assert lab.query("standby", "show max_connections") == [("150",)]
    started = lab.query("standby", "select pg_postmaster_start_time()")

    result = lab.fab("full")
    assert result.returncode == 0, result.stdout + result.stderr
    for name in ("standby", "standby2"):
        assert f"PASS  {name}: sees the 100 rows written on the primary" in result.stdout
    assert "standby: stopped" not in result.stdout
    assert lab.query("standby", "select pg_postmaster_start_time()") == started
    assert lab.query("standby2", "show max_connections") == [("150",)]
    slots = lab.query("master", "select slot_name, active from pg_replication_slots "
                                "order by 1")
    assert slots == [("standby", True), ("standby2", True)]
    code, doc, stderr = lab.status()
    assert code == 0, (doc, stderr)
    assert [(h["host"], h["wal"]) for h in doc["hosts"][1:]] == [("standby", "streaming"),
                                                                ("standby2", "streaming")]


def test_the_wal_guard_caps_what_each_slot_holds(two):
    """full set max_slot_wal_keep_size from the free space, on the primary and
    (for its days as a primary) on the standbys, and a rerun kept it."""
    for host in ("master", "standby", "standby2"):
        value = two.query(host, "show max_slot_wal_keep_size")[0][0]
        assert value.endswith("GB") or value.endswith("MB"), (host, value)
    free = int(two.sh("master", "df -P -B1 /var/lib/postgresql/15/main/pg_wal/ | tail -n 1")
               .split()[3])
    cap = two.query("master", "select setting::bigint * 1024 * 1024 from pg_settings "
                              "where name = 'max_slot_wal_keep_size'")[0][0]
    assert 0 < cap < free


def test_a_forgotten_slot_is_named_by_status(two):
    two.query("master", "select pg_create_physical_replication_slot('db9', true)")
    try:
        code, doc, stderr = two.status()
        assert code == 1, (doc, stderr)
        assert "warning: slot db9 on master holds" in stderr
        assert "remove-standby" in stderr
    finally:
        two.query("master", "select pg_drop_replication_slot('db9')")


HBA = "/etc/postgresql/15/main/pg_hba.conf"


def test_remove_standby_plan_changes_nothing(two):
    before = two.sh("master", f"md5sum {HBA}")
    result = two.fab("plan", "remove-standby", hosts=["master", "standby"])   # = --plan
    assert result.returncode == 0, result.stdout + result.stderr
    assert "master: (plan) dropped replication slot standby" in result.stdout
    assert "standby: (plan) stopped PostgreSQL" in result.stdout
    assert two.sh("master", f"md5sum {HBA}") == before
    assert len(two.query("master", "select * from pg_replication_slots")) == 2
    assert two.query("standby", "select pg_is_in_recovery()") == [(True,)]


def test_remove_a_running_standby_and_one_cut_off(two):
    """standby is reachable: stopped, kept down at boot, passfile gone, data
    kept; standby2 is cut off (still streaming as far as it knows): the
    primary forgets it all the same, and a second run stops it once back."""
    lab = two
    lab.cut("standby2")
    try:
        result = lab.fab("remove-standby", hosts=["master", "standby", "standby2"])
        assert result.returncode == 0, result.stdout + result.stderr
        assert "!! standby2: cannot be reached" in result.stdout
        assert lab.query("master", "select slot_name from pg_replication_slots") == []
        block = lab.sh("master", f"sed -n '/BEGIN pg-hotstandby/,/END pg-hotstandby/p' {HBA}")
        assert "# standby standby" not in block   # neither standby nor standby2
        assert "its data directory is kept in /var/lib/postgresql/15/main" in result.stdout
        assert lab.sh("standby", "cat /etc/postgresql/15/main/start.conf").strip() == "manual"
        assert lab.sh("standby", "ls /var/lib/postgresql/.pg-hotstandby.pgpass 2>&1 || true") \
            .strip().endswith("No such file or directory")
        assert lab.sh("standby", "test -f /var/lib/postgresql/15/main/PG_VERSION && echo kept") \
            .strip() == "kept"
    finally:
        lab.restore("standby2")
    lab.reboot("standby", postgres=False)   # (the lab reads every host's ports)
    assert lab.sh("standby", "pg_lsclusters -h").split()[3].startswith("down")
    # Back on the network it is turned away (no pg_hba entry, no slot) ...
    wait_for(lambda: "no pg_hba.conf entry" in lab.sh(
        "standby2", "tail -n 20 /var/log/postgresql/postgresql-15-main.log"), 60)
    # ... and a second run, now that it can be reached, stops it there.
    again = lab.fab("remove-standby", hosts=["master", "standby2"])
    assert again.returncode == 0, again.stdout + again.stderr
    assert "standby2: stopped PostgreSQL" in again.stdout
    assert lab.sh("standby2", "pg_lsclusters -h").split()[3].startswith("down")
