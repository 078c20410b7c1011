"""Faults injected into real hosts: a dropped SSH session, a cut network, a
second primary, a diverged or promoted standby, a standby holding another
cluster, WAL removed on the primary, broken authentication, low standby
limits, a host without PostgreSQL; and no password in any process list."""
import threading
import time

import pytest
import yaml


@pytest.fixture
def lab(lab_factory):
    lab = lab_factory(pg=15)
    lab.sh("master", "sudo -u postgres pgbench -q -i -s 5 -h /run/postgresql postgres")
    return lab


@pytest.fixture
def paired(lab):
    result = lab.fab("full")
    assert result.returncode == 0, result.stdout + result.stderr
    return lab


def data_checksum(lab):
    return lab.query("master", "select md5(string_agg(aid || ':' || abalance, ',' order by aid)) "
                               "from pgbench_accounts")


def assert_primary_up_with(lab, checksum):
    assert lab.query("master", "select pg_is_in_recovery()") == [(False,)]
    lab.query("master", "create table if not exists alive (t int); insert into alive values (1)")
    assert data_checksum(lab) == checksum


def test_primary_ssh_session_dropped_after_stop_all(lab):
    checksum = data_checksum(lab)
    code, out = lab.fab_with_fault("master: stopped PostgreSQL",
                                   lambda _: lab.exec("master", "pkill -f 'sshd: [a]dmin' || true"),
                                   "--method", "rsync-cold")
    assert code == 1, out
    assert "starting the primary again" in out
    assert_primary_up_with(lab, checksum)
    rerun = lab.fab("full")
    assert rerun.returncode == 0, rerun.stdout + rerun.stderr


def test_network_cut_during_sync(lab):
    checksum = data_checksum(lab)
    code, out = lab.fab_with_fault("== sync ==", lambda _: lab.cut("standby"),
                                   "--method", "rsync-cold")
    assert code == 1, out
    assert "starting the primary again" in out and "master: primary accepts connections" in out
    assert_primary_up_with(lab, checksum)
    lab.restore("standby")
    lab.refresh_ports()
    for _ in range(100):   # sshd, not PostgreSQL: the failed run left it stopped
        if lab.ssh("standby", "true", check=False).returncode == 0:
            break
        time.sleep(0.3)
    rerun = lab.fab("full")
    assert rerun.returncode == 0, rerun.stdout + rerun.stderr


def test_standby_started_without_its_marker_is_a_second_primary(paired):
    lab = paired
    lab.sh("standby", "pg_ctlcluster 15 main stop -m fast && "
                      "rm /var/lib/postgresql/15/main/standby.signal && pg_ctlcluster 15 main start")
    result = lab.fab("start-standby-then-master")
    assert result.returncode == 1
    assert "runs as a second primary" in result.stderr


def test_diverged_standby_is_refused(paired):
    lab = paired
    # The standby runs as a primary for a while (writes), then gets its marker back.
    lab.sh("standby", f"pg_ctlcluster 15 main stop -m fast && mv {DATA}/standby.signal /tmp/ && "
                      "pg_ctlcluster 15 main start")
    lab.query("standby", "create table diverged as select generate_series(1, 50000) g; "
                         "checkpoint")
    lab.sh("standby", f"pg_ctlcluster 15 main stop -m fast && mv /tmp/standby.signal {DATA}/")
    result = lab.fab("start-standby-then-master")
    assert result.returncode == 1
    assert "split brain" in result.stderr and "ahead of the primary" in result.stderr
    assert lab.sh("standby", f"test -f {DATA}/postmaster.pid && echo running || echo stopped"
                  ).strip() == "stopped"


DATA = "/var/lib/postgresql/15/main"


def test_promoted_standby_is_refused_as_a_timeline_fork(paired):
    lab = paired
    lab.sh("standby", "pg_ctlcluster 15 main promote")
    for _ in range(100):
        if lab.query("standby", "select pg_is_in_recovery()") == [(False,)]:
            break
        time.sleep(0.2)
    lab.sh("standby", f"pg_ctlcluster 15 main stop -m fast && "
                      f"sudo -u postgres touch {DATA}/standby.signal")
    result = lab.fab("start-standby-then-master")
    assert result.returncode == 1
    assert "its timeline 2 is ahead of the primary's 1 (it was promoted)" in result.stderr
    assert lab.sh("standby", f"test -f {DATA}/postmaster.pid || echo stopped").strip() == "stopped"
    rerun = lab.fab("full")
    assert rerun.returncode == 0, rerun.stdout + rerun.stderr


def test_standby_holding_another_cluster_is_refused_at_start(paired):
    lab = paired
    # Another server's cluster, carrying this standby's recovery settings.
    other = "/var/lib/postgresql/other"
    lab.sh("standby", f"pg_ctlcluster 15 main stop -m fast && "
                      f"sudo -u postgres /usr/lib/postgresql/15/bin/initdb -D {other} >/dev/null && "
                      f"cp -p {DATA}/standby.signal {DATA}/postgresql.auto.conf {other}/ && "
                      f"mv {DATA} /var/lib/postgresql/copy && mv {other} {DATA}")
    result = lab.fab("start-standby-then-master")
    assert result.returncode == 1
    assert "standby: its data directory is not a copy of this primary (system identifier" \
        in result.stderr
    rerun = lab.fab("full")
    assert rerun.returncode == 0, rerun.stdout + rerun.stderr
    assert "aside to" in rerun.stdout


def test_wal_removed_on_the_primary_is_named(paired, tmp_path):
    lab = paired
    checksum = data_checksum(lab)
    lab.sh("standby", "pg_ctlcluster 15 main stop -m fast")
    # Without its slot the primary recycles the WAL the stopped standby needs.
    lab.query("master", "select pg_drop_replication_slot(slot_name) from pg_replication_slots")
    for _ in range(4):
        lab.query("master", "create table if not exists churn as select 1 g; "
                            "insert into churn select generate_series(1, 100000); "
                            "select pg_switch_wal(); checkpoint")
    started = lab.fab("start-standby-then-master", config=quick(tmp_path))
    assert started.returncode == 0, started.stdout + started.stderr
    result = lab.fab("smoke-test", config=quick(tmp_path))
    assert result.returncode == 1
    assert "the primary recycled WAL the standby still needs" in result.stderr
    assert "has already been removed" in result.stderr
    assert data_checksum(lab) == checksum
    rerun = lab.fab("full")
    assert rerun.returncode == 0, rerun.stdout + rerun.stderr


def restart_standby(lab):
    lab.sh("standby", "pg_ctlcluster 15 main restart -m fast || true")


def quick(tmp_path):
    path = tmp_path / "quick.yaml"
    path.write_text(yaml.safe_dump({"hotstandby": {"timeouts": {"start": 15, "stream": 10}}}))
    return path


@pytest.mark.parametrize("host,breakage,meaning,log_line", [
    ("master", "sed -i '/BEGIN pg-hotstandby/,/END pg-hotstandby/d' "
               "/etc/postgresql/15/main/pg_hba.conf && pg_ctlcluster 15 main reload",
     "pg_hba.conf has no line for this standby",
     "no pg_hba.conf entry for replication connection"),
    ("standby", "sed -i 's/:[^:]*$/:not-the-password/' /var/lib/postgresql/.pg-hotstandby.pgpass",
     "wrong replication password", 'password authentication failed for user "replicator"'),
], ids=["missing-pg_hba-entry", "wrong-password"])
def test_broken_authentication_is_named(paired, tmp_path, host, breakage, meaning, log_line):
    lab = paired
    lab.sh(host, breakage)
    restart_standby(lab)
    result = lab.fab("smoke-test", config=quick(tmp_path))
    assert result.returncode == 1
    assert meaning in result.stderr and log_line in result.stderr
    fixed = lab.fab("full")
    assert fixed.returncode == 0, fixed.stdout + fixed.stderr


def test_low_standby_limits_are_named(paired, tmp_path):
    lab = paired
    lab.sh("standby", "pg_ctlcluster 15 main stop -m fast && echo 'max_connections = 20' >> "
                      "/var/lib/postgresql/15/main/postgresql.auto.conf")
    result = lab.fab("start-standby-then-master", config=quick(tmp_path))
    assert result.returncode == 1
    assert "a standby limit is below the primary's" in result.stderr
    assert "insufficient parameter settings" in result.stderr


def test_host_without_postgresql(lab):
    lab.sh("standby", "pg_dropcluster --stop 15 main")
    before = lab.sh("master", "md5sum /etc/postgresql/15/main/pg_hba.conf")
    result = lab.fab("full")
    assert result.returncode == 1
    assert result.stderr.strip().splitlines() == [
        "error: standby: no PostgreSQL data directory found: install PostgreSQL or set "
        "hotstandby.data_directory"]
    assert lab.sh("master", "md5sum /etc/postgresql/15/main/pg_hba.conf") == before


def test_password_never_in_a_process_list(lab):
    seen, stop = [], threading.Event()

    def watch():
        while not stop.is_set():
            for host in lab.hosts:
                seen.append(lab.exec(host, "ps -eo args"))
            time.sleep(0.1)

    watcher = threading.Thread(target=watch)
    watcher.start()
    try:
        result = lab.fab("full")
    finally:
        stop.set()
        watcher.join()
    assert result.returncode == 0, result.stdout + result.stderr
    password = lab.sh("standby", "cat /var/lib/postgresql/.pg-hotstandby.pgpass"
                      ).strip().split(":")[-1]
    assert len(seen) > 20
    assert any("rsync" in snapshot for snapshot in seen) or any("psql" in s for s in seen)
    assert not [s for s in seen if password in s]
