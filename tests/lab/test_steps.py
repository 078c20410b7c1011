"""The steps one by one, several standbys, roles from a config file, a
bastion (ProxyJump), the rsync quick-check trap, and bad host lists."""
import pytest

from conftest import REPO

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


def test_a_second_standby_added_later_with_limits_raised(lab_factory):
    lab = lab_factory(pg=15, standbys=2)
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
