"""A host that lies: what the postgres account on one host writes is data,
never code, and never a path root follows.  A forged PG_VERSION injecting a
discovery line, and a pg_hba.conf replaced by a link to /etc/shadow, are each
refused before any host changes; with them gone, `full` runs and every file
it wrote belongs to postgres.  What a primary's superuser plants runs
nowhere: commands in its postgresql.auto.conf stay off the standbys, a
verifier with a huge iteration count does not hang a run, and escape
sequences in a host's text do not reach the terminal."""
import base64
import os
import time

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


DROPIN = "/etc/postgresql/15/main/conf.d/pg-hotstandby.conf"
ESCAPES = "\\033]0;pwned\\007\\033[2J"   # sets the terminal's title, clears the screen


def test_escape_sequences_from_a_host_do_not_reach_the_terminal(lab):
    # A comment the standby's postgres user adds to the tool's file: plan diffs it.
    lab.sh("standby", f"printf '# {ESCAPES}\\n' >> {DROPIN}")
    try:
        result = lab.fab("plan")
        output = result.stdout + result.stderr
        assert result.returncode == 0, output
        assert "]0;pwned" in output     # the line is shown, without its control characters
        assert "\x1b" not in output and "\x07" not in output, repr(output[-2000:])
    finally:
        lab.sh("standby", f"sed -i '/pwned/d' {DROPIN}")


AUTO_CONF = "/var/lib/postgresql/15/main/postgresql.auto.conf"
PLANTED = {"archive_mode": "always", "archive_command": "touch /tmp/pwned-archive-%f",
           "archive_cleanup_command": "touch /tmp/pwned-cleanup-%r"}


def test_commands_in_the_primarys_auto_conf_do_not_run_on_a_standby(lab):
    for name, value in PLANTED.items():
        lab.query("master", f"alter system set {name} = '{value}'")
    lab.query("master", "select pg_reload_conf()")
    lab.reinit("standby")   # a standby that needs a copy of the primary
    try:
        result = lab.fab("plan")
        assert result.returncode == 0, result.stdout + result.stderr
        assert all(name in result.stdout for name in PLANTED), result.stdout
        result = lab.fab("full")
        output = result.stdout + result.stderr
        assert result.returncode == 0, output
        auto = lab.sh("standby", f"cat {AUTO_CONF}")
        assert not [name for name in PLANTED if name in auto], auto
        assert all(name in result.stdout for name in PLANTED), result.stdout
        # A finished segment and a restartpoint: what would run each command.
        lab.query("master", "select pg_switch_wal()")
        lab.query("master", "checkpoint")
        time.sleep(2)
        lab.query("standby", "checkpoint")
        time.sleep(2)
        assert lab.sh("standby", "ls /tmp | grep pwned; true") == ""
    finally:
        for name in PLANTED:
            lab.query("master", f"alter system reset {name}")
        lab.query("master", "select pg_reload_conf()")
        for host in lab.hosts:
            lab.sh(host, "rm -f /tmp/pwned-*")


def b64(size):
    return base64.b64encode(os.urandom(size)).decode()


def test_a_verifier_with_a_huge_iteration_count_is_replaced_not_computed(lab):
    # Well formed, as the server reads it: a 2,000,000,000-iteration PBKDF2
    # takes the better part of an hour.  Planted in the catalog, as a
    # superuser may: ALTER ROLE would itself spend that hour (the server
    # checks a new verifier against the empty password).
    lab.query("master", "update pg_authid set rolpassword = "
                        f"'SCRAM-SHA-256$2000000000:{b64(16)}${b64(32)}:{b64(32)}' "
                        "where rolname = 'replicator'")
    # full on a streaming pair takes well under a minute here.
    result = lab.fab("full", timeout=300)
    output = result.stdout + result.stderr
    assert result.returncode == 0, output
    assert "2000000000 iterations" in result.stdout, result.stdout
    assert "updated replication role replicator" in result.stdout
    verifier = lab.query("master", "select rolpassword from pg_authid "
                                   "where rolname = 'replicator'")[0][0]
    assert verifier.startswith("SCRAM-SHA-256$4096:")


# Paths root acts on that postgres can change (issue #21): whatever postgres
# plants, no system directory or root file changes owner, mode or contents,
# and the run refuses with one line, the primary running.
SYSTEM = ("stat -c '%n %u:%g %a %i' / /etc /etc/passwd /etc/shadow /etc/systemd/system /usr "
          "/usr/local /usr/local/bin /usr/local/sbin /var/lib 2>&1; "
          "md5sum /etc/passwd /etc/shadow; ls -lan /usr/local /usr/local/bin /usr/local/sbin "
          "/etc/systemd/system 2>&1; true")
DATA = "/var/lib/postgresql/15/main"


def refused(lab, result, *words):
    """One error line naming `words`, exit 1, and the primary running."""
    output = result.stdout + result.stderr
    errors = [line for line in result.stderr.splitlines() if line.startswith("error:")]
    assert result.returncode == 1, output
    assert len(errors) == 1 and all(w in errors[0] for w in words), output
    assert lab.query("master", "select not pg_is_in_recovery()") == [(True,)]


def unchanged(lab, before):
    """No system directory or root file changed (the lines that differ)."""
    after = lab.on_each(SYSTEM)
    changed = {h: [f"- {line}" for line in before[h].splitlines()
                   if line not in after[h].splitlines()]
               + [f"+ {line}" for line in after[h].splitlines()
                  if line not in before[h].splitlines()]
               for h in before if after[h] != before[h]}
    assert not changed, changed


def stopped_standby(lab):
    """A standby that streams is left alone by full: stopped, it is copied."""
    lab.sh("standby", "pg_ctlcluster 15 main stop")


def test_a_data_directory_at_a_system_directory_is_refused(lab):
    conf = "/etc/postgresql/15/main/postgresql.conf"
    stopped_standby(lab)
    # pg_lsclusters reads data_directory from a file postgres owns.
    lab.sh("standby", f"sudo -u postgres sed -i.real \"s|^data_directory = .*|data_directory = "
                      f"'/usr/local/sbin'|\" {conf}")
    before = lab.on_each(SYSTEM)
    try:
        for task in ("full", "plan"):
            result = lab.fab(task)
            unchanged(lab, before)
            refused(lab, result, "standby", "/usr/local/sbin", "system")
    finally:
        lab.sh("standby", f"mv {conf}.real {conf} && pg_ctlcluster 15 main start")


def test_a_link_planted_at_the_data_directory_is_refused(lab):
    stopped_standby(lab)
    lab.sh("standby", f"sudo -u postgres sh -c 'mv {DATA} {DATA}.real && "
                      f"ln -s /usr/local/bin {DATA}'")
    before = lab.on_each(SYSTEM)
    try:
        result = lab.fab("full", "--method", "rsync-cold")
        unchanged(lab, before)
        refused(lab, result, "standby", DATA, "symbolic link")
        # sync has no preflight: the check right before the copy refuses.
        result = lab.fab("sync", "--method", "rsync")
        unchanged(lab, before)
        refused(lab, result, "standby", DATA, "symbolic link")
    finally:
        lab.sh("standby", f"rm -f {DATA} && mv {DATA}.real {DATA} && "
                          "pg_ctlcluster 15 main start")


def test_a_tablespace_at_a_system_directory_is_refused(lab):
    place = "/etc/systemd/system/ssh.service.d"
    stopped_standby(lab)
    # What a database superuser can do: COPY ... TO PROGRAM runs as postgres.
    lab.sh("master", f"sudo -u postgres ln -s {place} {DATA}/pg_tblspc/99999")
    before = lab.on_each(SYSTEM)
    try:
        for task in ("full", "plan"):
            result = lab.fab(task)
            assert lab.sh("standby", f"test -e {place} && echo made; true").strip() == ""
            unchanged(lab, before)
            refused(lab, result, "standby", place, "system")
    finally:
        lab.sh("master", f"rm -f {DATA}/pg_tblspc/99999")
        lab.sh("standby", f"rm -rf {place}; pg_ctlcluster 15 main start")


def test_a_pg_version_linked_to_a_root_file_is_not_read(lab):
    # A generic-layout candidate postgres can make: root read it through the link.
    lab.sh("standby", "install -d -o postgres -g postgres /var/lib/pgsql/data && "
                      "sudo -u postgres ln -s /etc/shadow /var/lib/pgsql/data/PG_VERSION")
    try:
        result = lab.fab("plan")
        output = result.stdout + result.stderr
        assert "root:" not in output and "$y$" not in output, output
    finally:
        lab.sh("standby", "rm -rf /var/lib/pgsql")
