"""A bad day, through the real command line: the primary's host dies, the
standby is promoted, the old primary comes back (as a primary, as a rebooted
server would) and rejoins as a standby of the new one with pg_rewind: roles
swapped, streaming, every row intact, the old timeline's files kept.  Then
the other way round, brought back by full's default (pg_rewind)."""

import pytest

from conftest import wait_for

ROWS = "select md5(string_agg(aid || ':' || abalance, ',' order by aid)) from pgbench_accounts"


@pytest.fixture(scope="module")
def lab(lab_factory):
    lab = lab_factory(pg=15)
    lab.sh("master", "sudo -u postgres pgbench -q -i -s 5 -h /run/postgresql postgres")
    result = lab.fab("full")
    assert result.returncode == 0, result.stdout + result.stderr
    return lab



def test_promote_refused_while_the_primary_takes_writes(lab):
    result = lab.fab("promote")
    assert result.returncode == 1
    assert result.stderr.strip().splitlines() == [
        "error: master still accepts writes as the primary: stop it first (two primaries "
        "would both take writes: split brain), or run again with --force"]
    assert lab.query("standby", "select pg_is_in_recovery()") == [(True,)]


def test_promote_then_rejoin_swaps_roles_and_keeps_every_row(lab):
    lab.sh("master", "sudo -u postgres pgbench -n -t 200 -h /run/postgresql postgres")
    rows = lab.query("master", ROWS)
    wait_for(lambda: lab.query("standby", ROWS) == rows)

    lab.kill("master")                      # the primary's host dies
    promoted = lab.fab("promote")
    assert promoted.returncode == 0, promoted.stdout + promoted.stderr
    assert "standby: promoted: it is the primary now" in promoted.stdout
    assert "fab -H standby,master rejoin" in promoted.stdout
    lab.query("standby", "create table after_failover (v int); insert into after_failover "
                         "values (7)")

    lab.start("master")                     # back after a reboot: a second primary now
    assert lab.query("master", "select pg_is_in_recovery()") == [(False,)]
    lab.query("master", "create table only_on_the_old_timeline (v int)")

    rejoined = lab.fab("rejoin", hosts=["standby", "master"])
    assert rejoined.returncode == 0, rejoined.stdout + rejoined.stderr
    assert "rewound to standby's timeline with pg_rewind" in rejoined.stdout
    # Its settings as a standby (hot_standby, limits) change nothing on a primary: no restart.
    assert "restart" not in rejoined.stdout.split("== rejoin ==")[1].split("rewound")[0]
    assert "smoke test passed" in rejoined.stdout
    kept = rejoined.stdout.split("(the old timeline) in ")[1].split()[0]
    assert lab.sh("master", f"test -f {kept}/PG_VERSION && echo kept").strip() == "kept"

    assert lab.query("master", "select pg_is_in_recovery()") == [(True,)]
    wait_for(lambda: lab.query("master", "select to_regclass('after_failover') is not null")
             == [(True,)])
    assert lab.query("master", "select v from after_failover") == [(7,)]
    assert lab.query("master", ROWS) == rows
    assert lab.query("master", "select to_regclass('only_on_the_old_timeline')") == [(None,)]

    code, doc, stderr = lab.status(hosts=["standby", "master"])
    assert code == 0, (doc, stderr)
    assert [(h["host"], h["role"]) for h in doc["hosts"]] == [("standby", "primary"),
                                                              ("master", "standby")]
    assert doc["hosts"][1]["wal"] == "streaming"
    # The new primary serves a certificate of its own, which the old one now pins.
    assert lab.replication_tls("standby", "master") == (True, "TLSv1.3", "verify-full")
    home = lab.home("master")
    assert lab.exec("master", f"cat {home}/.pg-hotstandby.primary.crt") == \
        lab.exec("standby", f"cat {home}/.pg-hotstandby.server.crt")


def test_a_former_primary_that_wrote_on_comes_back_by_full_with_pg_rewind(lab):
    """The other way round: standby (the primary since the test above) dies,
    master is promoted, standby comes back as a primary and takes a write the
    new primary never gets.  full with its defaults brings it back with
    pg_rewind (it left the primary's history): a copy of it kept first, no
    data directory copied, every row of the new primary there."""
    lab.kill("standby")
    promoted = lab.fab("promote", hosts=["standby", "master"])
    assert promoted.returncode == 0, promoted.stdout + promoted.stderr
    lab.query("master", "create table after_second_failover (v int); "
                        "insert into after_second_failover values (9)")
    lab.start("standby")
    assert lab.query("standby", "select pg_is_in_recovery()") == [(False,)]
    lab.query("standby", "create table only_on_the_old_timeline_2 (v int)")
    # Stopped, marked as a standby: still not one to start.
    lab.sh("standby", "pg_ctlcluster 15 main stop && "
                      "sudo -u postgres touch /var/lib/postgresql/15/main/standby.signal")

    refused = lab.fab("start-standby-then-master", hosts=["master", "standby"])
    assert refused.returncode == 1
    assert "goes past where the primary's history left its timeline 2" in refused.stderr
    planned = lab.fab("plan", hosts=["master", "standby"])
    assert "standby: pg_rewind, primary running: it left the primary's history (timeline 2, " \
           "the primary's 3): pg_rewind takes back" in planned.stdout, planned.stdout
    done = lab.fab("full", hosts=["master", "standby"])
    out = done.stdout
    assert done.returncode == 0, out + done.stderr
    assert "standby: rewound to master's timeline with pg_rewind" in out
    assert "copied" not in out and "smoke test passed" in out
    kept = out.split("(timeline 2) in ")[1].split()[0]
    assert lab.sh("standby", f"test -f {kept}/PG_VERSION && echo kept").strip() == "kept"
    assert lab.query("standby", "select pg_is_in_recovery()") == [(True,)]
    wait_for(lambda: lab.query("standby", "select to_regclass('after_second_failover') "
                                          "is not null") == [(True,)])
    assert lab.query("standby", "select v from after_second_failover") == [(9,)]
    assert lab.query("standby", "select to_regclass('only_on_the_old_timeline_2')") == [(None,)]
    assert lab.query("standby", ROWS) == lab.query("master", ROWS)


def test_rejoin_without_wal_log_hints_needs_resync(lab_factory):
    lab = lab_factory(pg=15)
    assert lab.fab("full").returncode == 0
    # A pair set up without wal_log_hints (by hand, or an older release): pg_rewind refuses.
    lab.sh("master", "sed -i '/wal_log_hints/d' /etc/postgresql/15/main/conf.d/pg-hotstandby.conf "
                     "&& pg_ctlcluster 15 main restart -m fast")
    lab.sh("master", "pg_ctlcluster 15 main stop -m fast")
    assert lab.fab("promote").returncode == 0
    lab.query("standby", "create table after_failover (v int); insert into after_failover "
                         "values (8)")
    lab.sh("master", "pg_ctlcluster 15 main start")

    refused = lab.fab("rejoin", hosts=["standby", "master"])
    assert refused.returncode == 1
    error = refused.stderr.strip().splitlines()
    assert len(error) == 1 and "master: pg_rewind failed (" in error[0]
    assert "wal_log_hints" in error[0] and "run rejoin again with --resync" in error[0]
    assert lab.query("standby", "select pg_is_in_recovery()") == [(False,)]

    started = lab.query("standby", "select pg_postmaster_start_time()")
    resynced = lab.fab("rejoin", "--resync", hosts=["standby", "master"])
    assert resynced.returncode == 0, resynced.stdout + resynced.stderr
    assert "master: copied standby:" in resynced.stdout and "smoke test passed" in resynced.stdout
    # The online delta copy: the new primary never stopped.
    assert "(online: what changed, --checksum)" in resynced.stdout
    assert lab.query("standby", "select pg_postmaster_start_time()") == started
    wait_for(lambda: lab.query("master", "select to_regclass('after_failover') is not null")
             == [(True,)])
    assert lab.query("master", "select v from after_failover") == [(8,)]
    assert lab.query("standby", "select pg_is_in_recovery()") == [(False,)]
