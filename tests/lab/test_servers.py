"""Servers as users run them: a copy failing on every standby is reported as
such (no smoke test "passed" over nothing); a copy cut short, at its start or
before its last file, leaves nothing that a reboot starts; what is not
supported yet (tablespaces, a data directory that is a mount point) is refused
before anything changes; a root login on hosts without sudo does the whole job."""
import pytest

# The standby's receiving rsync, broken: at once, or only for the copy's last
# file (global/pg_control, copied alone after the rest).
RSYNC = "/usr/bin/rsync"
BROKEN_RSYNC = (f"mv {RSYNC} {RSYNC}.real && printf '#!/bin/sh\\n%s\\nexec {RSYNC}.real \"$@\"\\n' "
                f"'{{cut}}' > {RSYNC} && chmod 755 {RSYNC}")
CUT_AT_ONCE = "echo cut at the start >&2; exit 12"
CUT_BEFORE_CONTROL = 'case "$*" in *global/pg_control*) echo cut before pg_control >&2; exit 12;; esac'
MENDED = f"mv {RSYNC}.real {RSYNC}"


@pytest.fixture(scope="module")
def lab(lab_factory):
    lab = lab_factory(pg=17)
    lab.sh("master", "sudo -u postgres pgbench -q -i -s 2 -h /run/postgresql postgres")
    return lab


def primary_writes(lab):
    return lab.query("master", "select not pg_is_in_recovery()") == [(True,)]


def test_a_copy_failing_on_every_standby_passes_no_smoke_test(lab):
    lab.exec("standby", BROKEN_RSYNC.format(cut=CUT_AT_ONCE))
    result = lab.fab("full", "--method", "rsync-cold")
    assert result.returncode == 1, result.stdout + result.stderr
    assert "smoke test passed" not in result.stdout
    assert "no standby to check (every copy failed)" in result.stdout
    errors = [line for line in result.stderr.splitlines() if line.startswith("error:")]
    assert len(errors) == 1 and "rsync error" in errors[0] and "whole output:" in errors[0], \
        result.stderr
    assert primary_writes(lab)


@pytest.mark.parametrize("cut", [CUT_AT_ONCE, CUT_BEFORE_CONTROL], ids=["start", "before-control"])
def test_a_copy_cut_short_is_not_started_by_a_reboot(lab, cut):
    lab.exec("standby", f"[ -x {RSYNC}.real ] && {MENDED}; true")
    lab.exec("standby", BROKEN_RSYNC.format(cut=cut))
    result = lab.fab("full", "--method", "rsync-cold")
    assert result.returncode == 1, result.stdout + result.stderr
    assert primary_writes(lab)
    lab.reboot("standby", postgres=False)   # systemd tries to start the cluster at boot
    data = f"/var/lib/postgresql/{lab.pg}/main"
    state = lab.exec("standby", f"sleep 3; ls {data}/global/pg_control 2>&1; "
                                "pg_isready -h /run/postgresql; true")
    assert "No such file" in state and "no response" in state, state
    lab.exec("standby", MENDED)
    again = lab.fab("full", "--method", "rsync-cold")
    assert again.returncode == 0, again.stdout + again.stderr
    assert "smoke test passed" in again.stdout


def snapshot(lab):
    """What a refused run must leave as it was: files, servers, slots."""
    files = (f"md5sum $(find /etc/postgresql -type f) /var/lib/postgresql/.pg* 2>/dev/null; "
             f"ls -A /var/lib/postgresql/{lab.pg} /var/lib/postgresql/{lab.pg}/main; "
             "pg_lsclusters -h; true")
    return {h: lab.exec(h, files) for h in lab.hosts}


def test_tablespaces_are_refused_before_anything_changes(lab):
    lab.exec("master", "install -d -o postgres -m 700 /srv/ts1")
    lab.query("master", "create tablespace ts1 location '/srv/ts1'")
    try:
        before = snapshot(lab)
        result = lab.fab("full")
        assert result.returncode == 1
        errors = [line for line in result.stderr.splitlines() if line.startswith("error:")]
        assert len(errors) == 1 and "tablespaces outside its data directory: ts1 (/srv/ts1)" \
            in errors[0] and "not supported yet" in errors[0], result.stderr
        assert snapshot(lab) == before
    finally:
        lab.query("master", "drop tablespace ts1")


def test_a_data_directory_on_its_own_volume_is_refused_before_anything_changes(lab):
    data = f"/var/lib/postgresql/{lab.pg}/main"
    lab.exec("standby", f"systemctl stop postgresql@{lab.pg}-main && rm -rf {data} && "
                        f"mkdir {data} && mount -t tmpfs -o size=200m,mode=0700 tmpfs {data} && "
                        f"chown postgres:postgres {data} && runuser -u postgres -- "
                        f"/usr/lib/postgresql/{lab.pg}/bin/initdb -D {data} >/dev/null && "
                        f"systemctl start postgresql@{lab.pg}-main")
    before = snapshot(lab)
    result = lab.fab("full")   # basebackup: its copy would be renamed into place
    assert result.returncode == 1
    assert f"its data directory {data} is a mount point" in result.stderr, result.stderr
    assert snapshot(lab) == before
    lab.exec("standby", f"systemctl stop postgresql@{lab.pg}-main && umount {data} && "
                        f"install -d -o postgres -g postgres -m 700 {data}")


def test_root_login_on_hosts_without_sudo(lab, tmp_path):
    for host in lab.hosts:
        lab.exec(host, "SUDO_FORCE_REMOVE=yes apt-get remove -y -qq sudo >/dev/null 2>&1; "
                       "! command -v sudo")
    config = tmp_path / "ssh_config"
    config.write_text(lab.ssh_config.read_text().replace("User admin", "User root"))
    # The standby's data directory is empty (the previous test): a fresh copy.
    result = lab.fab("full", "--method", "rsync", ssh_config=config)   # key, rsync as postgres
    assert result.returncode == 0, result.stdout + result.stderr
    assert "sync (second pass)" in result.stdout and "smoke test passed" in result.stdout
    assert lab.exec("standby", f"systemctl is-active postgresql@{lab.pg}-main").strip() == "active"
