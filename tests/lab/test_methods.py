"""The three copy methods end to end on 15 and 17, with pgbench writing to the
primary during the copy: rsync (two passes) keeps the primary down for the
second pass only; basebackup never stops it (no failed transaction); every
committed row reaches the standby; a standby switches from one method to
another; a standby stopped for a while catches up from its slot."""
import re
import threading
import time

import pytest

ROWS = "select md5(string_agg(aid || ':' || abalance, ',' order by aid)) from pgbench_accounts"


@pytest.fixture(scope="module", params=[15, 17])
def lab(request, lab_factory):
    lab = lab_factory(pg=request.param)
    lab.sh("master", "sudo -u postgres pgbench -q -i -s 10 -h /run/postgresql postgres")
    return lab


def writing(lab, seconds):
    """pgbench on the primary in a thread; join() gives its output."""
    writer = {}

    def write():
        writer["out"] = lab.ssh("master", f"sudo -u postgres pgbench -n -c 2 -T {seconds} "
                                          "-h /run/postgresql postgres 2>&1", check=False)
    thread = threading.Thread(target=write)
    thread.start()
    time.sleep(2)

    def join():
        thread.join()
        return writer["out"]
    return join


def same_rows(lab):
    rows = lab.query("master", ROWS)
    for _ in range(100):
        if lab.query("standby", ROWS) == rows:
            return True
        time.sleep(0.3)
    return False


def step_order(output):
    return re.findall(r"^== (.+) ==$", output, re.M)


def test_full_with_two_pass_rsync_stops_the_primary_for_the_second_pass_only(lab):
    join = writing(lab, 20)
    result = lab.fab("full", "--method", "rsync")
    join()   # pgbench stops at the primary's restart: what counts is what it committed
    out = result.stdout
    assert result.returncode == 0, out + result.stderr
    assert step_order(out)[3:7] == ["sync (first pass)", "stop-all", "sync (second pass)",
                                    "start-standby-then-master"]
    assert "standby: copied master:" in out and "(first pass, primary running)" in out
    second = re.search(r"\(update, --checksum\): (\d+) files, ([\d.]+) MB", out)
    first = re.search(r"\(first pass, primary running\): (\d+) files, ([\d.]+) MB", out)
    assert second and first and float(second.group(2)) < float(first.group(2)), out
    downtime = float(re.search(r"primary downtime: at most ([\d.]+) s", out).group(1))
    total = float(re.search(r"; total ([\d.]+) s", out).group(1))
    assert 0 < downtime < total
    assert same_rows(lab)


def test_switch_to_basebackup_under_writes_no_failed_transaction(lab):
    started = lab.query("master", "select pg_postmaster_start_time()")
    join = writing(lab, 25)
    result = lab.fab("sync", "--method", "basebackup")
    out = join()
    assert result.returncode == 0, result.stdout + result.stderr
    assert "copied master with pg_basebackup (primary running)" in result.stdout
    assert "master: stopped" not in result.stdout
    assert out.returncode == 0 and "number of failed transactions: 0" in out.stdout, out.stdout
    for task in ("start-standby-then-master", "smoke-test"):
        done = lab.fab(task)
        assert done.returncode == 0, done.stdout + done.stderr
    assert lab.query("master", "select pg_postmaster_start_time()") == started
    assert same_rows(lab)


def test_switch_back_to_rsync_step_by_step(lab):
    """sync --method rsync: the first pass while the primary runs, the second
    after stop-all; a standby is never started on the unfinished first pass."""
    first = lab.fab("sync", "--method", "rsync")
    assert first.returncode == 0 and "(first pass, primary running)" in first.stdout, \
        first.stdout + first.stderr
    early = lab.fab("start-standby-then-master")
    assert early.returncode == 1 and "copy of the primary is unfinished" in early.stderr
    for task in ("stop-all", "sync", "start-standby-then-master", "smoke-test"):
        done = lab.fab(task, "--method", "rsync") if task == "sync" else lab.fab(task)
        assert done.returncode == 0, task + done.stdout + done.stderr
    assert same_rows(lab)


def test_full_with_basebackup_never_stops_the_primary_under_writes(lab):
    # Make the standby need a copy again: it holds another cluster's data now.
    lab.reinit("standby")
    started = lab.query("master", "select pg_postmaster_start_time()")
    join = writing(lab, 25)
    result = lab.fab("full", "--method", "basebackup")
    out = join()
    assert result.returncode == 0, result.stdout + result.stderr
    assert "primary downtime: none" in result.stdout and "master: stopped" not in result.stdout
    assert lab.query("master", "select pg_postmaster_start_time()") == started
    assert out.returncode == 0 and "number of failed transactions: 0" in out.stdout, out.stdout
    assert same_rows(lab)
    assert lab.query("master", "select active from pg_replication_slots "
                               "where slot_name = 'standby'") == [(True,)]


def test_standby_stopped_for_a_while_catches_up_from_its_slot(lab):
    lab.sh("standby", f"pg_ctlcluster {lab.pg} main stop -m fast")
    lab.ssh("master", "sudo -u postgres pgbench -n -c 2 -t 500 -h /run/postgresql postgres")
    # Without the slot, these switches and checkpoints recycle what the standby needs.
    for _ in range(4):
        lab.query("master", "select pg_switch_wal(); checkpoint")
    retained = lab.query("master", "select pg_wal_lsn_diff(pg_current_wal_lsn(), restart_lsn) "
                                   "from pg_replication_slots where slot_name = 'standby'")
    assert retained[0][0] > 16 * 1024 * 1024, retained
    done = lab.fab("start-standby-then-master")
    assert done.returncode == 0, done.stdout + done.stderr
    assert same_rows(lab)
    smoke = lab.fab("smoke-test")
    assert smoke.returncode == 0, smoke.stdout + smoke.stderr


def test_plan_then_rerun_changes_nothing(lab):
    planned = lab.fab("plan", "--method", "rsync")
    assert planned.returncode == 0 and "plan: no changes" in planned.stdout, planned.stdout
    again = lab.fab("full", "--method", "basebackup")
    assert again.returncode == 0 and "nothing changed" in again.stdout, again.stdout
