"""Three standbys at once: copied in parallel (rsync) or fanned out from one
copy of the primary (basebackup), each with its own slot and pg_hba entry;
a fan-out copy whose source fails is made from the primary; one whose copy fails does not stop the others and the summary
names it; a standby left out of the host list loses its slot and entry, and
one that still streams is refused before anything changes."""
import time

import pytest

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
    assert "sync (second pass)" in out
    for name in ("standby", "standby2"):
        assert f"{name}: copied master:" in out
        assert f"PASS  {name}: WAL receiver is streaming" in out
    assert streaming(lab) == {"standby", "standby2"}
    assert lab.query("master", "select not pg_is_in_recovery()") == [(True,)]


def test_rerun_copies_only_the_failed_one_and_all_three_stream(lab):
    lab.sh("standby3", "mv /usr/bin/rsync.real /usr/bin/rsync")
    result = lab.fab("full")   # the default method: basebackup
    out = result.stdout
    assert result.returncode == 0, out + result.stderr
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
