"""Nothing lost: checks before changes, a standby holding another cluster's
data, interrupts and a dying standby during the copy, the sudo password."""
import signal
import subprocess
import time

import pytest

from conftest import REPO

CONFIGS = ("md5sum /etc/postgresql/15/main/*.conf /etc/postgresql/15/main/conf.d/* "
           "/var/lib/postgresql/.pg-hotstandby.* 2>/dev/null; true")


@pytest.fixture
def lab(lab_factory):
    """A fresh stock lab for every test: these tests break hosts."""
    return lab_factory(pg=15)


def primary_accepts_writes(lab):
    lab.query("master", "create table if not exists alive (t timestamptz); "
                        "insert into alive values (now())")
    return lab.query("master", "select pg_is_in_recovery()") == [(False,)]


def test_preflight_passes_and_changes_nothing(lab):
    before = lab.on_each(CONFIGS)
    result = lab.fab("preflight")
    assert result.returncode == 0, result.stdout + result.stderr
    assert "preflight passed" in result.stdout
    assert lab.on_each(CONFIGS) == before


def test_plan_shows_every_change_makes_none_and_nothing_is_left_after_full(lab):
    before = lab.on_each(CONFIGS)
    planned = lab.fab("plan")
    assert planned.returncode == 0, planned.stdout + planned.stderr
    out = planned.stdout
    assert "master: (plan) would change /etc/postgresql/15/main/conf.d/pg-hotstandby.conf:" in out
    assert "+listen_addresses = '*'" in out and "+wal_log_hints = 'on'" in out
    assert "+hostssl replication     replicator" in out
    # The certificate that would be made and pinned, never its key.
    assert "master: (plan) TLS: a new key and self-signed certificate, O=pg-hotstandby" in out
    assert "standby: (plan) TLS: pins master's certificate O=pg-hotstandby" in out
    assert "PRIVATE KEY" not in out
    assert "master: (plan) created replication role replicator" in out
    assert "master: (plan) created replication slot standby" in out
    assert "master: (plan) restarted PostgreSQL for its new settings" in out
    assert "standby: (plan) move its own cluster" in out
    assert "standby: (plan) copy master:/var/lib/postgresql/15/main (" in out
    assert "changes; run full to make them" in out
    assert lab.on_each(CONFIGS) == before
    assert lab.query("master", "select count(*) from pg_roles where rolname = 'replicator'"
                     ) == [(0,)]
    assert lab.query("master", "select count(*) from pg_replication_slots") == [(0,)]

    done = lab.fab("full")
    assert done.returncode == 0, done.stdout + done.stderr
    again = lab.fab("plan")
    assert again.returncode == 0, again.stdout + again.stderr
    assert "(plan)" not in again.stdout and "plan: no changes" in again.stdout
    password = lab.sh("standby", "cat /var/lib/postgresql/.pg-hotstandby.pgpass").split(":")[-1]
    assert password.strip() not in out + again.stdout


def test_standby_holding_another_clusters_data(lab):
    lab.query("standby", "create table precious (v text); insert into precious values ('keep')")
    before = lab.on_each(CONFIGS)
    refused = lab.fab("full")
    assert refused.returncode == 1
    assert "--force" in refused.stderr and "standby" in refused.stderr
    assert len(refused.stderr.strip().splitlines()) == 1
    assert lab.on_each(CONFIGS) == before
    assert lab.query("standby", "select v from precious") == [("keep",)]

    forced = lab.fab("full", "--force")
    assert forced.returncode == 0, forced.stdout + forced.stderr
    kept = forced.stdout.split("aside to ")[1].split()[0]
    assert lab.sh("standby", f"test -f {kept}/PG_VERSION && echo yes").strip() == "yes"
    assert lab.query("standby", "select pg_is_in_recovery()") == [(True,)]


@pytest.mark.parametrize("marker,sig", [("== stop-all ==", signal.SIGTERM),
                                        ("== sync ==", signal.SIGTERM),
                                        ("== sync ==", signal.SIGINT),
                                        ("master: stopped PostgreSQL", signal.SIGINT)])
def test_interrupted_full_leaves_the_primary_running(lab, marker, sig):
    lab.sh("master", "sudo -u postgres pgbench -q -i -s 10 -h /run/postgresql postgres")
    checksum = lab.query("master", "select sum(abalance), count(*) from pgbench_accounts")
    code, out = lab.fab_with_fault(marker, lambda proc: proc.send_signal(sig),
                                   "--method", "rsync-cold")
    assert primary_accepts_writes(lab), out
    assert lab.query("master", "select sum(abalance), count(*) from pgbench_accounts") == checksum
    if code != 0:
        assert "starting the primary again" in out
    rerun = lab.fab("full")
    assert rerun.returncode == 0, rerun.stdout + rerun.stderr


def test_a_killed_run_leaves_the_primary_to_its_watchdog(lab, tmp_path):
    """kill -9 of fab while rsync-cold copies: nothing of the run's own
    cleanup runs, and the watchdog on the primary's host starts it once the
    run has not been heard from for timeouts.watchdog seconds."""
    lab.sh("master", "sudo -u postgres pgbench -q -i -s 10 -h /run/postgresql postgres")
    checksum = lab.query("master", "select sum(abalance), count(*) from pgbench_accounts")
    config = tmp_path / "watchdog.yaml"
    config.write_text("hotstandby:\n  timeouts:\n    watchdog: 10\n")
    code, out = lab.fab_with_fault("== sync ==", lambda proc: proc.kill(), "--method",
                                   "rsync-cold", config=config)
    assert code == -signal.SIGKILL and "master: watchdog armed" in out, out
    down = "pg_isready -q -h /run/postgresql && echo up || echo down"
    assert lab.sh("master", down).strip() == "down"   # the run left it stopped
    for _ in range(60):
        if lab.sh("master", down).strip() == "up":
            break
        time.sleep(1)
    assert primary_accepts_writes(lab)
    assert lab.query("master", "select sum(abalance), count(*) from pgbench_accounts") == checksum
    # Started through its unit (which settles a moment after the server answers).
    unit = "systemctl is-active postgresql@15-main || true"
    for _ in range(30):
        if lab.sh("master", unit).strip() != "activating":
            break
        time.sleep(0.5)
    assert lab.sh("master", unit).strip() == "active"
    assert lab.sh("master", "ls -d /run/pg-hotstandby-watchdog.* 2>/dev/null; true").strip() == ""
    rerun = lab.fab("full")
    assert rerun.returncode == 0, rerun.stdout + rerun.stderr


def test_standby_host_dying_during_sync(lab):
    lab.sh("master", "sudo -u postgres pgbench -q -i -s 10 -h /run/postgresql postgres")
    code, text = lab.fab_with_fault("== sync ==", lambda proc: lab.kill("standby"),
                                    "--method", "rsync-cold")
    assert code != 0, text
    assert "error:" in text and "starting the primary again" in text
    assert primary_accepts_writes(lab)
    lab.start("standby")
    rerun = lab.fab("full")
    assert rerun.returncode == 0, rerun.stdout + rerun.stderr


def deploy_config(lab, tmp_path):
    cfg = tmp_path / "ssh_config"
    cfg.write_text(lab.ssh_config.read_text().replace("User admin", "User deploy"))
    return cfg


def test_prompted_sudo_password(lab, tmp_path):
    cfg = deploy_config(lab, tmp_path)
    cmd = ["fab", "--prompt-for-sudo-password", "-S", str(cfg), "-H", "master,standby", "full"]
    done = subprocess.run(cmd, cwd=REPO, input="deploy-sudo-pw\n", capture_output=True, text=True,
                          timeout=600)
    assert done.returncode == 0, done.stdout + done.stderr
    assert "smoke test passed" in done.stdout
    assert "deploy-sudo-pw" not in done.stdout + done.stderr


def test_wrong_sudo_password_is_one_line_and_changes_nothing(lab, tmp_path):
    before = lab.on_each(CONFIGS)
    cmd = ["fab", "--prompt-for-sudo-password", "-S", str(deploy_config(lab, tmp_path)),
           "-H", "master,standby", "full"]
    done = subprocess.run(cmd, cwd=REPO, input="wrong-password\n", capture_output=True,
                          text=True, timeout=300)
    assert done.returncode == 1
    errors = [line for line in done.stderr.splitlines() if line.startswith("error:")]
    assert len(errors) == 1 and "sudo" in errors[0], done.stderr
    assert "wrong-password" not in done.stdout + done.stderr
    assert lab.on_each(CONFIGS) == before


def test_malformed_config_is_one_line_and_changes_nothing(lab, tmp_path):
    bad = tmp_path / "bad.yaml"
    bad.write_text("hotstandby:\n  auth_method: trust\n")
    before = lab.on_each(CONFIGS)
    result = lab.fab("full", config=bad)
    assert result.returncode == 1
    assert result.stderr.strip().splitlines() == [
        "error: hotstandby.auth_method = 'trust': use scram-sha-256 or md5 "
        "(trust and password are refused)"]
    assert lab.on_each(CONFIGS) == before
