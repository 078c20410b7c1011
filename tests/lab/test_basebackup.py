"""sync --method basebackup: the standby is copied from the running primary
with pg_basebackup while a client writes to it; the primary is never stopped
and every committed row reaches the standby."""
import threading
import time

import pytest

ROWS = "select md5(string_agg(aid || ':' || abalance, ',' order by aid)) from pgbench_accounts"


@pytest.fixture(scope="module")
def lab(lab_factory):
    lab = lab_factory(pg=17)
    lab.sh("master", "sudo -u postgres pgbench -q -i -s 10 -h /run/postgresql postgres")
    return lab


def test_full_with_basebackup_never_stops_the_primary_under_writes(lab):
    # Settings that wait for a restart (listen_addresses) are the one restart
    # this method allows: made beforehand, so that the run itself has none.
    assert lab.fab("configure-master").returncode == 0
    lab.sh("master", "pg_ctlcluster 17 main restart")
    started = lab.query("master", "select pg_postmaster_start_time()")
    writer = {}

    def write():
        writer["out"] = lab.ssh("master", "sudo -u postgres pgbench -n -c 2 -T 25 "
                                          "-h /run/postgresql postgres 2>&1", check=False)

    thread = threading.Thread(target=write)
    thread.start()
    time.sleep(2)
    result = lab.fab("full", "--method", "basebackup")
    thread.join()
    assert result.returncode == 0, result.stdout + result.stderr
    assert "copied master with pg_basebackup (primary running)" in result.stdout
    assert "primary downtime: none" in result.stdout and "master: stopped" not in result.stdout
    assert lab.query("master", "select pg_postmaster_start_time()") == started
    out = writer["out"]
    assert out.returncode == 0 and "number of failed transactions: 0" in out.stdout, out.stdout
    rows = lab.query("master", ROWS)
    for _ in range(100):
        if lab.query("standby", ROWS) == rows:
            break
        time.sleep(0.3)
    assert lab.query("standby", ROWS) == rows
    slot = lab.query("master", "select active from pg_replication_slots "
                               "where slot_name = 'standby'")
    assert slot == [(True,)]


def test_plan_then_rerun_with_basebackup_changes_nothing(lab):
    planned = lab.fab("plan", "--method", "basebackup")
    assert planned.returncode == 0 and "plan: no changes" in planned.stdout, planned.stdout
    again = lab.fab("full", "--method", "basebackup")
    assert again.returncode == 0 and "nothing changed" in again.stdout, again.stdout
