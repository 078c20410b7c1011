"""A host that lies: what the postgres account on one host writes is data,
never code, and never a path root follows.  A forged PG_VERSION injecting a
discovery line, and a pg_hba.conf replaced by a link to /etc/shadow, are each
refused before any host changes; with them gone, `full` runs and every file
it wrote belongs to postgres."""
import pytest

MARKER = "/tmp/pg-hotstandby-injected"
CONFIGS = ("md5sum /etc/postgresql/15/main/*.conf /etc/postgresql/15/main/conf.d/* "
           "/var/lib/postgresql/.pg-hotstandby.pgpass 2>/dev/null; "
           "ls /var/backups/pg-hotstandby 2>/dev/null; true")


@pytest.fixture(scope="module")
def lab(lab_factory):
    return lab_factory(pg=15)


def injected(lab):
    return [h for h in lab.hosts if lab.sh(h, f"test -e {MARKER} && echo yes; true").strip()]


def test_a_forged_pg_version_is_refused_and_runs_nothing(lab):
    # A data directory candidate that postgres controls, whose PG_VERSION
    # carries a second line: the address= fact that once reached a root shell.
    lab.sh("standby", "install -d -o postgres -g postgres /var/lib/pgsql/data && "
                      "sudo -u postgres sh -c \"printf '15\\naddress=\\$(touch "
                      f"{MARKER})\\n' > /var/lib/pgsql/data/PG_VERSION\"")
    before = lab.on_each(CONFIGS)
    result = lab.fab("full")
    assert result.returncode == 1, result.stdout + result.stderr
    errors = [line for line in result.stderr.splitlines() if line.startswith("error:")]
    assert len(errors) == 1 and "standby" in errors[0] and "PG_VERSION" in errors[0], \
        result.stderr
    assert injected(lab) == []
    assert lab.on_each(CONFIGS) == before
    lab.sh("standby", "rm -rf /var/lib/pgsql")


def test_a_config_file_linked_to_a_root_file_is_refused_and_not_read(lab):
    hba = "/etc/postgresql/15/main/pg_hba.conf"
    # /etc/postgresql/15/main belongs to postgres on Debian: it can do this.
    lab.sh("master", f"sudo -u postgres sh -c 'mv {hba} {hba}.real && ln -s /etc/shadow {hba}'")
    shadow_line = lab.sh("master", "grep '^root:' /etc/shadow").strip()
    before = lab.on_each(CONFIGS)
    for task in ("plan", "full"):
        result = lab.fab(task)
        output = result.stdout + result.stderr
        assert result.returncode == 1, output
        assert f"{hba} is a symbolic link: refused" in result.stderr
        assert shadow_line not in output and "root:" not in output
    assert lab.on_each(CONFIGS) == before
    assert lab.query("master", "select not pg_is_in_recovery()") == [(True,)]
    lab.sh("master", f"sudo -u postgres sh -c 'rm {hba} && mv {hba}.real {hba}'")


def test_with_the_plants_gone_full_runs_and_writes_files_as_postgres(lab):
    result = lab.fab("full")
    assert result.returncode == 0, result.stdout + result.stderr
    owners = lab.sh("master", "stat -c '%U %a %n' /etc/postgresql/15/main/pg_hba.conf "
                              "/etc/postgresql/15/main/conf.d/pg-hotstandby.conf")
    assert owners.split("\n")[:2] == [
        "postgres 640 /etc/postgresql/15/main/pg_hba.conf",
        "postgres 644 /etc/postgresql/15/main/conf.d/pg-hotstandby.conf"], owners
    assert lab.sh("standby", "stat -c '%U %a' /var/lib/postgresql/.pg-hotstandby.pgpass"
                  ).strip() == "postgres 600"
    # No staged file (the role SQL, the passfile) is left on any host.
    for host in lab.hosts:
        assert lab.sh(host, "find /tmp /var/tmp -name f -path '*tmp.*' 2>/dev/null") == ""
    assert injected(lab) == []
