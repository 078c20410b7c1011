"""The lab itself: every image starts hosts that answer over SSH (Fabric) and
SQL (psycopg2), resolve each other by name, have their own clusters, and are
built like servers: systemd as PID 1 running PostgreSQL from its unit (or no
service manager at all, for the plain variant)."""
import pytest

SPECS = [dict(pg=13), dict(pg=15), dict(pg=17), dict(pg=18, init="plain"),
         dict(pg=15, layout="generic"), dict(pg=17, layout="generic"), dict(pg=15, init="plain")]


def spec_id(spec):
    return f"pg{spec['pg']}-{spec.get('layout', 'debian')}-{spec.get('init', 'systemd')}"


@pytest.fixture(scope="module", params=SPECS, ids=spec_id)
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
    if lab.layout == "generic":   # as the PGDG packages lay out a RHEL server
        assert conf == f"/var/lib/pgsql/{lab.pg}/data/postgresql.conf"
    else:
        assert conf == f"/etc/postgresql/{lab.pg}/main/postgresql.conf"
    hba = lab.sh("master", f"cat {conf.rsplit('/', 1)[0]}/pg_hba.conf")
    assert "trust" not in [line.split()[-1] for line in hba.splitlines()
                           if line.strip() and not line.startswith("#")]


def test_pid_1_and_the_unit_that_runs_postgresql(lab):
    pid1 = lab.exec("master", "cat /proc/1/comm").strip()
    if lab.init == "plain":
        assert pid1 == "tini"
        return
    assert pid1 == "systemd"
    unit = f"postgresql@{lab.pg}-main" if lab.layout == "debian" else f"postgresql-{lab.pg}"
    for host in lab.hosts:
        assert lab.exec(host, "systemctl is-system-running || true").strip() == "running", host
        assert lab.exec(host, f"systemctl is-active {unit}").strip() == "active", host
        assert lab.exec(host, f"systemctl is-enabled {unit} || true").strip() in (
            "enabled", "enabled-runtime"), host


def test_shared_system_identifier_option(lab_factory):
    lab = lab_factory(pg=15, shared_sysid=True)
    ids = {lab.query(h, "select system_identifier from pg_control_system()")[0][0]
           for h in lab.hosts}
    assert len(ids) == 1
