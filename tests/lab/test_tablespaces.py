"""Tablespaces outside the data directory (one at a nested path) reach the
standby with every method, on the first copy and on copies over an earlier
one after more writes; a plan lists them; a mapped location is honoured.  On
a RHEL-style server (configs in the data directory, postgresql-V.service)."""
import time

import pytest

TABLES = {"t1": "ts1", "t2": "ts2"}
SETUP = """
install -d -o postgres -m 700 /srv/ts1 /srv/ts/deep/ts2
cd / && runuser -u postgres -- psql -q -h /run/postgresql <<'SQL'
create tablespace ts1 location '/srv/ts1';
create tablespace ts2 location '/srv/ts/deep/ts2';
create table t1 (id int, v text) tablespace ts1;
create table t2 (id int, v text) tablespace ts2;
create index on t2 (id) tablespace ts1;
SQL
"""


@pytest.fixture(scope="module")
def lab(lab_factory):
    lab = lab_factory(pg=17, layout="generic")
    lab.exec("master", SETUP)
    return lab


def write(lab, rows):
    for table in TABLES:
        lab.query("master", f"insert into {table} select g, md5(g::text || random()::text) "
                            f"from generate_series(1, {rows}) g")


def contents(lab, host):
    return [lab.query(host, f"select count(*), md5(string_agg(v, ',' order by id, v)) "
                            f"from {table}")[0] for table in TABLES]


def force_copy(lab):
    """Stop the standby: full then copies it again (over its earlier copy)."""
    lab.exec("standby", f"systemctl stop postgresql-{lab.pg}")


def stock_standby(lab):
    """The standby holds a fresh cluster of its own again (a first copy next)."""
    data, pg = f"/var/lib/pgsql/{lab.pg}/data", lab.pg
    lab.exec("standby", f"systemctl stop postgresql-{pg}; rm -rf {data} && "
                        f"install -d -o postgres -g postgres -m 700 {data} && "
                        f"runuser -u postgres -- /usr/lib/postgresql/{pg}/bin/initdb -D {data} "
                        f">/dev/null 2>&1 && systemctl start postgresql-{pg}")


def full_and_compare(lab, method):
    result = lab.fab("full", "--method", method)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "tablespace ts1 (/srv/ts1), tablespace ts2 (/srv/ts/deep/ts2)" in result.stdout
    write(lab, 10)   # and it streams into them afterwards
    wanted = contents(lab, "master")
    for _ in range(100):
        if contents(lab, "standby") == wanted:
            break
        time.sleep(0.2)
    assert contents(lab, "standby") == wanted
    link = lab.exec("standby", f"readlink /var/lib/pgsql/{lab.pg}/data/pg_tblspc/*").split()
    assert sorted(link) == ["/srv/ts/deep/ts2", "/srv/ts1"]
    return result


def test_a_plan_lists_the_tablespaces(lab):
    write(lab, 20000)
    result = lab.fab("plan")
    assert result.returncode == 0, result.stdout + result.stderr
    assert f"copy tablespace ts1 (/srv/ts1) to standby:/srv/ts1/PG_{lab.pg}_" in result.stdout
    assert "copy tablespace ts2 (/srv/ts/deep/ts2) to standby:/srv/ts/deep/ts2/PG_" \
        in result.stdout


@pytest.mark.parametrize("method", ["basebackup", "rsync-cold", "rsync"])
def test_every_row_of_every_tablespace_reaches_the_standby_first_and_again(lab, method):
    stock_standby(lab)
    full_and_compare(lab, method)     # a first copy, over a cluster of the standby's own
    lab.restartpoint()   # its WAL since its restartpoint: what is written while it is away
    force_copy(lab)
    write(lab, 3000)
    started = lab.query("master", "select pg_postmaster_start_time()")
    again = full_and_compare(lab, method)   # over the earlier copy, after more writes
    assert "kept what was in" not in again.stdout   # an earlier copy is replaced, not kept
    if method == "rsync":   # the online delta copy, the primary running
        assert "(online: what changed, --checksum)" in again.stdout
        # 17: only the relation files the WAL summaries name are read, in the
        # tablespaces too (the rows compared say none was left behind)
        assert "standby: the primary's WAL summaries since its last restartpoint" \
            in again.stdout, again.stdout
        assert "standby: copied the changed pages of" in again.stdout, again.stdout
        assert lab.query("master", "select pg_postmaster_start_time()") == started


def test_a_mapped_location_and_what_was_there_kept_aside(lab, tmp_path):
    config = tmp_path / "map.yaml"
    config.write_text("hotstandby:\n  tablespace_mapping:\n    /srv/ts1: /data/ts1\n")
    version_dir = lab.exec("master", "ls /srv/ts1").strip()
    lab.exec("standby", f"install -d -o postgres -m 700 /data/ts1 /data/ts1/{version_dir} && "
                        f"echo mine > /data/ts1/{version_dir}/theirs")
    force_copy(lab)
    result = lab.fab("full", "--method", "rsync-cold", config=config)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "(/srv/ts1 -> /data/ts1)" in result.stdout
    assert f"kept what was in /data/ts1/{version_dir} (not a copy of this primary) in " \
        f"/data/ts1/{version_dir}.pg-hotstandby-" in result.stdout
    assert contents(lab, "standby") == contents(lab, "master")
    assert lab.exec("standby", f"cat /data/ts1/{version_dir}.pg-hotstandby-*/theirs") == "mine\n"
    assert "/data/ts1" in lab.exec("standby", f"readlink /var/lib/pgsql/{lab.pg}/data/pg_tblspc/*")
