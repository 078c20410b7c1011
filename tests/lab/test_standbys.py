"""Three standbys at once: copied in parallel (rsync) or fanned out from one
copy of the primary (basebackup), each with its own slot and pg_hba entry;
a fan-out copy whose source fails is made from the primary; one whose copy fails does not stop the others and the summary
names it; a standby left out of the host list loses its slot and entry, and
one that still streams is refused before anything changes.  Last, switchover:
refused for a stopped or a lagging candidate with nothing changed, rolled back when the
promotion fails, and there and back under writes with every acknowledged
commit on the new primary and a sibling following it, having pinned the
candidate's certificate before the switch.  Then standby3 back as a delayed
standby of standby2 (cascading): its copy, stream, slot and TLS pin from
standby2, status, and a switchover that leaves it there; last, the cascaded
standby (down) and its upstream retired with remove-standby."""
import re
import signal
import threading
import time
from contextlib import contextmanager

import pytest

from conftest import wait_for

STANDBYS = ["standby", "standby2", "standby3"]
BROKEN_RSYNC = ("mv /usr/bin/rsync /usr/bin/rsync.real && "
                "printf '#!/bin/sh\\necho broken rsync >&2\\nexit 12\\n' > /usr/bin/rsync && "
                "chmod 755 /usr/bin/rsync")


@pytest.fixture(scope="module")
def lab(lab_factory):
    lab = lab_factory(pg=15, standbys=3)
    lab.sh("master", "sudo -u postgres pgbench -q -i -s 5 -h /run/postgresql postgres")
    return lab


def streaming(lab):
    return {r[0] for r in lab.query("master", "select application_name from "
                                              "pg_stat_replication where state = 'streaming'")}


def slots(lab):
    return {r[0] for r in lab.query("master", "select slot_name from pg_replication_slots")}


def hba_block(lab):
    return lab.sh("master", "sed -n '/BEGIN pg-hotstandby/,/END pg-hotstandby/p' "
                            "/etc/postgresql/15/main/pg_hba.conf")


def test_one_failing_copy_does_not_stop_the_others(lab):
    # The receiving end of standby3's copy is broken after preflight saw rsync there.
    lab.sh("standby3", BROKEN_RSYNC)
    result = lab.fab("full", "--method", "rsync")
    out = result.stdout
    assert result.returncode == 1, out + result.stderr
    assert "copy failed on 1 standby(s): standby3" in result.stderr
    assert "standby3" in out and "COPY FAILED" in out.split("== summary ==")[1]
    assert "master: stopped" not in out   # the online delta copy
    for name in ("standby", "standby2"):
        assert f"{name}: copied master:" in out
        assert f"PASS  {name}: WAL receiver is streaming" in out
    assert streaming(lab) == {"standby", "standby2"}
    assert lab.query("master", "select not pg_is_in_recovery()") == [(True,)]


def test_rerun_copies_only_the_failed_one_and_all_three_stream(lab):
    lab.sh("standby3", "mv /usr/bin/rsync.real /usr/bin/rsync")
    result = lab.fab("full")   # the default method
    out = result.stdout
    assert result.returncode == 0, out + result.stderr
    # Its rsync failed before anything arrived: a fresh copy, not a delta.
    assert "standby3: pg_basebackup: holds no cluster: a fresh copy" in out, out
    assert "standby3: copied master with pg_basebackup" in out
    assert "standby: copied" not in out and "standby2: copied" not in out
    assert streaming(lab) == set(STANDBYS)
    assert slots(lab) == set(STANDBYS)
    block = hba_block(lab)
    assert all(f"# standby {name}\n" in block for name in STANDBYS)


def rows(lab, host):
    return lab.query(host, "select count(*), sum(abalance) from pgbench_accounts")


def started_at(lab):
    return lab.query("master", "select pg_postmaster_start_time()")


def configured(lab):
    """The primary configured and restarted (configure-master leaves the
    restart listen_addresses needs to full): no restart is left for the
    clock, whichever test runs first."""
    assert lab.fab("configure-master").returncode == 0
    lab.sh("master", "systemctl restart postgresql@15-main")


TABLESPACE = """
install -d -o postgres -m 700 /srv/fan
cd / && runuser -u postgres -- psql -q -h /run/postgresql <<'SQL'
create tablespace fan location '/srv/fan';
create table in_fan tablespace fan as select g, md5(g::text) v from generate_series(1, 5000) g;
SQL
"""


def test_three_fresh_standbys_fan_out_from_a_finished_copy(lab):
    # A tablespace too: a standby's copy carries it from where standbys keep it.
    lab.exec("master", TABLESPACE)
    configured(lab)
    for name in STANDBYS:
        lab.reinit(name)
    planned = lab.fab("plan")
    assert planned.returncode == 0, planned.stdout + planned.stderr
    data = "/var/lib/postgresql/15/main"
    # Two waves: standby from the primary; then standby2 from standby's
    # finished copy and standby3 from the primary.
    for name in ("standby", "standby3"):
        assert f"{name}: (plan) copy master:{data} (" in planned.stdout
    assert f"standby2: (plan) copy standby:{data} (fan-out: its finished copy of master)" \
        in planned.stdout
    before = started_at(lab)
    result = lab.fab("full")   # the defaults: basebackup, fan-out auto
    out = result.stdout
    assert result.returncode == 0, out + result.stderr
    for name in ("standby", "standby3"):
        assert f"{name}: copied master with pg_basebackup" in out
    assert f"standby2: copied standby:{data} (fan-out: its finished copy of master" in out
    assert "standby2: copied master with pg_basebackup" not in out
    assert streaming(lab) == set(STANDBYS) and slots(lab) == set(STANDBYS)
    assert started_at(lab) == before
    assert all(rows(lab, name) == rows(lab, "master") for name in STANDBYS)
    fan = "select count(*), md5(string_agg(v, ',' order by g)) from in_fan"
    assert all(lab.query(name, fan) == lab.query("master", fan) for name in STANDBYS)


def test_a_source_failing_mid_copy_leaves_its_standby_to_the_primary(lab):
    configured(lab)
    for name in STANDBYS:
        lab.reinit(name)
    before = started_at(lab)

    def kill_source_rsync(_proc):
        # standby's copy is finished and sends itself to standby2: cut it.
        for _ in range(100):
            if lab.sh("standby", "pkill -x rsync && echo killed || true").strip():
                return
            time.sleep(0.2)
        raise AssertionError("no rsync ran on standby")
    # Capped, so that the copy from standby is still running when cut.
    code, out = lab.fab_with_fault("standby2: copying from standby", kill_source_rsync,
                                   "--max-rate", "8M")
    assert code == 0, out
    assert "!! standby2: copy from standby failed" in out
    assert "copying from the primary master instead" in out
    assert all(f"{name}: copied master with pg_basebackup" in out for name in STANDBYS)
    assert streaming(lab) == set(STANDBYS)
    assert started_at(lab) == before   # the primary never stopped
    assert all(rows(lab, name) == rows(lab, "master") for name in STANDBYS)


def test_standby_left_out_while_streaming_is_refused(lab):
    before = hba_block(lab)
    result = lab.fab("full", hosts=["master", "standby", "standby2"])
    assert result.returncode == 1
    assert "standby3 streams from master but is not in the host list" in result.stderr
    assert hba_block(lab) == before and slots(lab) == set(STANDBYS)


def test_stopped_standby_left_out_loses_its_slot_and_entry(lab):
    lab.sh("standby3", "pg_ctlcluster 15 main stop")
    result = lab.fab("full", hosts=["master", "standby", "standby2"])
    assert result.returncode == 0, result.stdout + result.stderr
    assert "dropped replication slot standby3" in result.stdout
    assert slots(lab) == {"standby", "standby2"}
    assert "standby3" not in hba_block(lab)
    assert streaming(lab) == {"standby", "standby2"}


# Switchover, with master, standby and standby2 (standby3 left out above).
PAIR = ["master", "standby", "standby2"]
BIN = "/usr/lib/postgresql/15/bin"
# pg_ctl refuses only to promote: status, start and stop still work.
BROKEN_PROMOTE = (f"mv {BIN}/pg_ctl {BIN}/pg_ctl.real && printf '%s\\n' '#!/bin/sh' "
                  "'case \" $* \" in *\" promote \"*) echo \"promote broken\" >&2; exit 1;; esac' "
                  f"'exec {BIN}/pg_ctl.real \"$@\"' > {BIN}/pg_ctl && chmod 755 {BIN}/pg_ctl")
# What a refused switchover must leave as it was, on every host.
FILES = ("cat /etc/postgresql/15/main/conf.d/* /etc/postgresql/15/main/pg_hba.conf "
         "/var/lib/postgresql/.pg-hotstandby.* 2>/dev/null; "
         "ls /var/lib/postgresql/15/main /var/lib/postgresql/15/main/pg_replslot")


def set_up(lab):
    """master streams to standby and standby2 (after the tests above: no
    change), with a ledger table."""
    result = lab.fab("full", hosts=PAIR)
    assert result.returncode == 0, result.stdout + result.stderr
    lab.query("master", "create table if not exists ledger (id int primary key)")
    wait_for(lambda: {"standby", "standby2"} <= streaming(lab))


def in_recovery(lab, host):
    return lab.query(host, "select pg_is_in_recovery()")[0][0]


@contextmanager
def ledger(lab, host, first):
    """Insert rows one commit at a time on `host` until the block ends or the
    server goes away; yields the ids whose commit was acknowledged."""
    acked, done = [], threading.Event()

    def write():
        try:
            with lab.sql(host) as db, db.cursor() as cur:
                for n in range(first, first + 1_000_000):
                    if done.is_set():
                        return
                    cur.execute("insert into ledger values (%s)", (n,))
                    acked.append(n)   # autocommit: execute returned, the commit was acknowledged
                    time.sleep(0.02)
        except Exception:   # the primary stopped: its last commits are the test's
            return
    writer = threading.Thread(target=write, daemon=True)
    writer.start()
    wait_for(lambda: len(acked) >= 20)
    try:
        yield acked
    finally:
        done.set()
        writer.join(30)


def test_switchover_plan_shows_the_steps_and_changes_nothing(lab):
    set_up(lab)
    before = lab.on_each(FILES)
    result = lab.fab("switchover", "--plan", "--standby", "standby", hosts=PAIR)
    out = result.stdout
    assert result.returncode == 0, out + result.stderr
    steps = ["master: (plan) CHECKPOINT", "master: (plan) stop through postgresql@15-main",
             "standby: (plan) prove it received WAL past master's shutdown checkpoint",
             "standby: (plan) promote", "master: (plan) start PostgreSQL through"]
    assert [out.index(step) for step in steps] == sorted(out.index(step) for step in steps)
    assert "standby: (plan) created replication slot master" in out
    assert "would change /etc/postgresql/15/main/pg_hba.conf" in out
    assert "master: (plan) wrote /var/lib/postgresql/15/main/standby.signal" in out
    assert lab.on_each(FILES) == before and in_recovery(lab, "master") is False


def test_switchover_refuses_a_stopped_candidate_and_changes_nothing(lab):
    set_up(lab)
    lab.sh("standby", "systemctl stop postgresql@15-main")
    before = lab.on_each(FILES)
    result = lab.fab("switchover", "--standby", "standby", hosts=PAIR)
    assert result.returncode == 1, result.stdout + result.stderr
    assert result.stderr.strip().splitlines() == [
        "error: standby is not a running standby of master: start it (or run full), or leave "
        "it out of -H"]
    assert lab.on_each(FILES) == before
    assert in_recovery(lab, "master") is False
    lab.sh("standby", "systemctl start postgresql@15-main")
    wait_for(lambda: {"standby", "standby2"} <= streaming(lab))


def test_switchover_refuses_a_lagging_candidate_and_changes_nothing(lab, tmp_path):
    """The candidate's replay held back while the primary writes, with a
    bound of 1 kB: refused in one line, nothing stopped or written."""
    set_up(lab)
    config = tmp_path / "lag.yaml"
    config.write_text("hotstandby:\n  switchover:\n    max_lag_bytes: 1024\n")
    started = lab.query("master", "select pg_postmaster_start_time()")
    lab.query("standby", "select pg_wal_replay_pause()")
    try:
        lab.query("master", "update pgbench_accounts set abalance = abalance + 1 "
                            "where aid <= 2000")
        before = lab.on_each(FILES)
        result = lab.fab("switchover", "--standby", "standby", hosts=PAIR, config=config)
        assert result.returncode == 1, result.stdout + result.stderr
        error = result.stderr.strip().splitlines()
        assert len(error) == 1 and re.fullmatch(
            r"error: standby has \d+ bytes of master's WAL left to replay, more than "
            r"hotstandby\.switchover\.max_lag_bytes \(1024\): wait until it catches up "
            r"\(fab status\), or raise the bound", error[0]), error
        assert lab.on_each(FILES) == before
        assert lab.query("master", "select pg_postmaster_start_time()") == started
        assert in_recovery(lab, "master") is False and in_recovery(lab, "standby") is True
    finally:
        lab.query("standby", "select pg_wal_replay_resume()")
    wait_for(lambda: {"standby", "standby2"} <= streaming(lab))


def test_switchover_whose_promotion_fails_rolls_back(lab):
    set_up(lab)
    lab.exec("standby", BROKEN_PROMOTE)
    try:
        result = lab.fab("switchover", "--standby", "standby", hosts=PAIR)
    finally:
        lab.exec("standby", f"mv {BIN}/pg_ctl.real {BIN}/pg_ctl")
    out = result.stdout
    assert result.returncode == 1, out + result.stderr
    assert "proof: standby received WAL up to" in out
    error = result.stderr.strip().splitlines()
    assert len(error) == 1 and error[0].startswith("error: switchover rolled back: ")
    assert "promote broken" in error[0] and error[0].endswith("master is the primary again")
    assert "standby: stopped, still a standby" in out
    # The old primary takes writes again; the candidate is a standby of it again.
    lab.query("master", "insert into ledger values (-1)")
    assert in_recovery(lab, "master") is False and in_recovery(lab, "standby") is True
    wait_for(lambda: {"standby", "standby2"} <= streaming(lab))
    wait_for(lambda: lab.query("standby", "select count(*) from ledger where id = -1")
             == [(1,)])
    # The slots made for the switchover that did not happen hold no WAL there.
    assert lab.query("standby", "select count(*) from pg_replication_slots") == [(0,)]


def test_switchover_killed_before_the_promotion_leaves_the_old_primary_to_its_watchdog(
        lab, tmp_path):
    """kill -9 of fab once the old primary has stopped, before the proof and
    the promotion: nothing of the run's own rollback runs; the watchdog on
    the old primary's host starts it again as the primary."""
    set_up(lab)
    config = tmp_path / "watchdog.yaml"
    config.write_text("hotstandby:\n  timeouts:\n    watchdog: 10\n")
    code, out = lab.fab_with_fault("master: stopped through", lambda proc: proc.kill(),
                                   "--standby", "standby", task="switchover", config=config,
                                   hosts=PAIR)
    assert code == -signal.SIGKILL and "master: watchdog armed" in out, out
    assert "promote" not in out.split("master: stopped through")[1], out
    down = "pg_isready -q -h /run/postgresql && echo up || echo down"
    assert lab.sh("master", down).strip() == "down"   # the run left it stopped
    wait_for(lambda: lab.sh("master", down).strip() == "up", seconds=90)
    assert in_recovery(lab, "master") is False and in_recovery(lab, "standby") is True
    lab.query("master", "insert into ledger values (-2)")
    wait_for(lambda: {"standby", "standby2"} <= streaming(lab))
    # What the switch made on the candidate, kept by a run that died: its
    # slots would hold WAL there for ever.
    lab.query("standby", "select pg_drop_replication_slot(slot_name) from pg_replication_slots")


def switch(lab, hosts, candidate, first):
    """Switch over to `candidate` under writes on the primary; the output."""
    started = lab.query(candidate, "select pg_postmaster_start_time()")
    with ledger(lab, hosts[0], first) as acked:
        result = lab.fab("switchover", "--standby", candidate, hosts=hosts)
    out = result.stdout
    assert result.returncode == 0, out + result.stderr
    summary = out.split("== summary ==")[1]
    assert f"\n  proof: {candidate} received WAL up to " in summary
    assert f"past {hosts[0]}'s shutdown checkpoint" in summary
    assert "\n  write outage: " in summary
    assert f"  primary  {candidate} " in summary
    assert "pg_rewind" not in out and "copied" not in out and "restarted" not in out
    # Every commit the old primary acknowledged is on the new one, which was
    # promoted, not restarted.
    found = {r[0] for r in lab.query(candidate, f"select id from ledger where id >= {first}")}
    assert acked and set(acked) <= found
    assert lab.query(candidate, "select pg_postmaster_start_time()") == started
    new_order = [candidate, *(h for h in hosts if h != candidate)]
    code, doc, stderr = lab.status(hosts=new_order)
    assert code == 0, (doc, stderr)
    assert [(h["host"], h["role"]) for h in doc["hosts"]] == \
        [(candidate, "primary")] + [(h, "standby") for h in new_order[1:]]
    # The sibling follows the new primary.
    lab.query(candidate, f"insert into ledger values ({first - 1})")
    for host in new_order[1:]:
        wait_for(lambda: lab.query(host, f"select count(*) from ledger where id = {first - 1}")
                 == [(1,)])
    return out


def test_switchover_there_and_back_loses_no_acknowledged_commit(lab):
    set_up(lab)
    there = switch(lab, PAIR, "standby", 1000)
    back = switch(lab, ["standby", "master", "standby2"], "master", 1_000_000_000)
    for out in (there, back):
        print(out)
    assert lab.query("master", "select count(*) from pg_replication_slots") == [(2,)]
    assert lab.query("standby", "select count(*) from pg_replication_slots") == [(0,)]


def test_switchover_siblings_pin_the_candidate_before_the_switch(lab):
    """Before the old primary stops, the standby that is to follow the
    candidate pins the candidate's certificate beside the old primary's; once
    it follows, the candidate's alone."""
    out = switch(lab, PAIR, "standby2", 2_000_000_000)
    pinned = "standby: TLS: pins standby2's certificate "
    assert pinned in out and out.index(pinned) < out.index("master: stopped through"), out
    home = lab.home("standby")
    assert lab.exec("standby", f"cat {home}/.pg-hotstandby.primary.crt") == \
        lab.exec("standby2", f"cat {lab.home('standby2')}/.pg-hotstandby.server.crt")
    switch(lab, ["standby2", "master", "standby"], "master", 2_100_000_000)


# standby3 (stopped, left out above) back as a delayed standby that copies
# and streams from standby2.
CASCADE = "hotstandby:\n  hosts:\n    standby3:\n      upstream: standby2\n      apply_delay: 1h\n"
ALL = ["master", *STANDBYS]


@pytest.fixture
def cascade(tmp_path):
    config = tmp_path / "cascade.yaml"
    config.write_text(CASCADE)
    return config


def test_a_delayed_standby_copies_and_streams_from_its_upstream(lab, cascade):
    planned = lab.fab("plan", config=cascade, hosts=ALL)
    assert planned.returncode == 0, planned.stdout + planned.stderr
    assert "standby3: (plan) copy standby2" in planned.stdout
    result = lab.fab("full", config=cascade, hosts=ALL)
    out = result.stdout
    assert result.returncode == 0, out + result.stderr
    assert "PASS  standby3: receives the WAL of the 100 rows written on the primary" in out
    assert "standby3 (" in out and "streams from its upstream standby2, replays 1h late" in out
    # It streams from standby2, over TLS checked against standby2's own certificate.
    address = lab.sh("standby3", "getent hosts standby2").split()[0]
    assert lab.query("standby3", "select sender_host, status from pg_stat_wal_receiver") == \
        [(address, "streaming")]
    assert lab.replication_tls("standby2", "standby3")[::2] == (True, "verify-full")
    pinned = lab.exec("standby3", f"cat {lab.home('standby3')}/.pg-hotstandby.primary.crt")
    served = lab.exec("standby2", f"cat {lab.home('standby2')}/.pg-hotstandby.server.crt")
    assert "BEGIN CERTIFICATE" in pinned and pinned == served
    # Its slot is on standby2, none on the primary.
    assert lab.query("standby2", "select slot_name, active from pg_replication_slots") == \
        [("standby3", True)]
    assert slots(lab) == {"standby", "standby2"}
    assert lab.query("standby3", "show recovery_min_apply_delay") == [("1h",)]
    code, doc, stderr = lab.status(hosts=ALL, config=cascade)
    assert code == 0, (doc, stderr)
    rows_ = {h["host"]: h for h in doc["hosts"]}
    assert (rows_["standby3"]["upstream"], rows_["standby3"]["apply_delay_seconds"],
            rows_["standby3"]["tls"]["verified"]) == ("standby2", 3600, True)
    assert (rows_["standby"]["upstream"], rows_["standby"]["apply_delay_seconds"]) == \
        ("master", None)
    table = lab.fab("status", config=cascade, hosts=ALL).stdout
    assert any(line.split()[:6] == ["standby3", "standby", "15", "streaming", "standby2", "1h"]
               for line in table.splitlines()), table


def test_switchover_leaves_a_cascaded_standby_on_its_upstream(lab, cascade):
    result = lab.fab("switchover", "--standby", "standby", config=cascade, hosts=ALL)
    out = result.stdout
    assert result.returncode == 0, out + result.stderr
    assert "standby3: keeps streaming from its upstream standby2" in out
    assert "standby3: reloaded" not in out and "standby3: restarted" not in out
    wait_for(lambda: {r[0] for r in lab.query(
        "standby", "select application_name from pg_stat_replication")} == {"master", "standby2"})
    address = lab.sh("standby3", "getent hosts standby2").split()[0]
    assert f"host={address} " in lab.query("standby3", "show primary_conninfo")[0][0]
    assert lab.query("standby2", "select slot_name from pg_replication_slots") == [("standby3",)]
    # Its pin is still standby2's own certificate alone (siblings that follow
    # the candidate pin it beside the old primary's; a cascaded one does not).
    assert lab.exec("standby3", f"cat {lab.home('standby3')}/.pg-hotstandby.primary.crt") == \
        lab.exec("standby2", f"cat {lab.home('standby2')}/.pg-hotstandby.server.crt")



def test_remove_a_cascaded_standby_that_is_down_and_its_upstream(lab, cascade):
    """After the switchover above `standby` is the primary, standby2 feeds
    standby3.  standby3 is down; both retire: standby2 forgets standby3 while
    it still runs, the primary forgets standby2, both stay down at boot."""
    lab.sh("standby3", "pg_ctlcluster 15 main stop")
    result = lab.fab("remove-standby", config=cascade, hosts=["standby", "standby2", "standby3"])
    out = result.stdout
    assert result.returncode == 0, out + result.stderr
    assert "standby2: dropped replication slot standby3" in out
    assert "standby: dropped replication slot standby2" in out
    assert "standby2: stopped PostgreSQL" in out and "standby3: stopped" not in out
    assert lab.query("standby", "select slot_name from pg_replication_slots") == [("master",)]
    for feeder, gone in (("standby", "standby2"), ("standby2", "standby3")):
        block = lab.sh(feeder, "sed -n '/BEGIN pg-hotstandby/,/END pg-hotstandby/p' "
                               "/etc/postgresql/15/main/pg_hba.conf")
        assert f"# standby {gone}\n" not in block + "\n", (feeder, block)
    for name in ("standby2", "standby3"):
        assert lab.sh(name, "cat /etc/postgresql/15/main/start.conf").strip() == "manual"
    code, doc, stderr = lab.status(hosts=["standby", "master"])
    assert code == 0, (doc, stderr)
