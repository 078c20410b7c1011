"""`fab ... status` on a running pair: real lag that grows while the
standby's replay is paused and returns to zero after, exit 1 above a
threshold, exit 2 with the standby stopped, exit 3 on bad input."""
import time

import pytest


@pytest.fixture(scope="module")
def lab(lab_factory):
    lab = lab_factory(pg=17)
    result = lab.fab("full")
    assert result.returncode == 0, result.stdout + result.stderr
    return lab


def standby_row(doc):
    return next(row for row in doc["hosts"] if row["host"] == "standby")


def test_table_on_a_healthy_pair(lab):
    result = lab.fab("status")
    assert result.returncode == 0, result.stdout + result.stderr
    lines = result.stdout.splitlines()
    assert lines[0].split()[:4] == ["host", "role", "version", "wal"]
    assert lines[1].split()[:2] == ["master", "primary"]
    assert lines[2].split()[:2] == ["standby", "standby"] and "streaming" in lines[2]
    assert lines[-1] == "status: OK"
    assert "\033[" not in result.stdout    # not a terminal: no colour


def test_lag_grows_while_replay_is_paused_and_returns_to_zero(lab):
    lab.query("standby", "select pg_wal_replay_pause()")
    try:
        lab.query("master", "create table lagging as select generate_series(1, 200000) g")
        code, doc, stderr = lab.status("--warn-lag-bytes", "65536")
        behind = standby_row(doc)
        assert behind["lag_bytes"] > 1_000_000, doc
        assert code == 1 and doc["status"] == "warning"
        assert "warning: standby is" in stderr and "bytes behind master" in stderr
    finally:
        lab.query("standby", "select pg_wal_replay_resume()")
    for _ in range(100):
        code, doc, _ = lab.status("--warn-lag-bytes", "65536")
        if standby_row(doc)["lag_bytes"] == 0:
            break
        time.sleep(0.2)
    assert standby_row(doc)["lag_bytes"] == 0 and code == 0, doc


def test_bad_threshold_is_exit_3(lab):
    result = lab.fab("status", "--warn-lag-seconds", "soon")
    assert result.returncode == 3
    assert result.stderr.strip() == ("error: hotstandby.status.warn_lag_seconds = 'soon': "
                                     "use a number of seconds, 0 or more")


def test_slot_wal_cap_applied_by_a_rerun_without_a_restart(lab, tmp_path):
    config = tmp_path / "cap.yaml"
    config.write_text("hotstandby:\n  max_slot_wal_keep_size: 64MB\n")
    started = {h: lab.query(h, "select pg_postmaster_start_time()") for h in lab.hosts}
    result = lab.fab("full", config=config)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "standby: reloaded its settings (none needs a restart)" in result.stdout
    for host in lab.hosts:
        assert lab.query(host, "show max_slot_wal_keep_size") == [("64MB",)]
    assert {h: lab.query(h, "select pg_postmaster_start_time()") for h in lab.hosts} == started
    code, doc, _ = lab.status()
    assert code == 0 and standby_row(doc)["wal"] == "streaming"


def test_standby_stopped_is_critical(lab):
    lab.sh("standby", "pg_ctlcluster 17 main stop -m fast")
    try:
        code, doc, stderr = lab.status()
        assert code == 2 and standby_row(doc)["role"] == "down"
        assert "critical: standby: PostgreSQL is not running on the standby" in stderr
        table = lab.fab("status")
        assert table.returncode == 2 and table.stdout.splitlines()[-1] == "status: CRITICAL"
        quiet = lab.fab("status", "--quiet")
        assert quiet.returncode == 2 and quiet.stdout == ""
        assert quiet.stderr.startswith("critical: standby: PostgreSQL is not running")
    finally:
        lab.sh("standby", "pg_ctlcluster 17 main start")
