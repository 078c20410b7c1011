"""The lab itself: every image starts hosts that answer over SSH (Fabric) and
SQL (psycopg2), resolve each other by name, and have their own clusters."""
import pytest

SPECS = [dict(pg=13), dict(pg=15), dict(pg=17), dict(pg=18), dict(pg=15, layout="generic")]


@pytest.fixture(scope="module", params=SPECS, ids=lambda s: f"pg{s['pg']}-{s.get('layout', 'debian')}")
def lab(request, lab_factory):
    return lab_factory(**request.param)


def test_hosts_answer_ssh_and_sql(lab):
    for host in lab.hosts:
        with lab.connection(host) as conn:
            out = conn.sudo("psql -Atc 'show server_version_num'", user="postgres",
                            hide=True, in_stream=False).stdout
        assert out.strip().startswith(str(lab.pg))
        version = lab.query(host, "select version()")[0][0]
        assert version.startswith(f"PostgreSQL {lab.pg}.")


def test_hosts_resolve_each_other(lab):
    assert lab.sh("master", "getent hosts standby").split()[1] == "standby"
    assert lab.sh("standby", "getent hosts master").split()[1] == "master"


def test_each_host_has_its_own_cluster(lab):
    ids = {lab.query(h, "select system_identifier from pg_control_system()")[0][0]
           for h in lab.hosts}
    assert len(ids) == len(lab.hosts)


def test_layout_is_as_asked(lab):
    conf = lab.query("master", "show config_file")[0][0]
    if lab.layout == "generic":
        assert conf == "/var/lib/pgsql/data/postgresql.conf"
    else:
        assert conf == f"/etc/postgresql/{lab.pg}/main/postgresql.conf"
    hba = lab.sh("master", f"cat {conf.rsplit('/', 1)[0]}/pg_hba.conf")
    assert "trust" not in [line.split()[-1] for line in hba.splitlines()
                           if line.strip() and not line.startswith("#")]


def test_shared_system_identifier_option(lab_factory):
    lab = lab_factory(pg=15, shared_sysid=True)
    ids = {lab.query(h, "select system_identifier from pg_control_system()")[0][0]
           for h in lab.hosts}
    assert len(ids) == 1
