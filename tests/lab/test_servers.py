"""Servers as users run them: a copy failing on every standby is reported as
such (no smoke test "passed" over nothing); a copy cut short, at its start or
before its last file, leaves nothing that a reboot starts; a data directory
on a volume of its own is replaced, its old cluster kept on that volume, and
a copy into it cut short is taken up there; a root login on hosts without
sudo does the whole job.  (Tablespaces: test_tablespaces.py.)"""
import pytest

# The standby's receiving rsync, broken: at once, or only for the copy's last
# file (global/pg_control, copied alone after the rest).  A wrapper ahead of
# the real one on sshd's PATH, so mending it is removing it.
WRAPPER = "/usr/local/bin/rsync"
BROKEN_RSYNC = (f"printf '#!/bin/sh\\n%s\\nexec /usr/bin/rsync \"$@\"\\n' '{{cut}}' > {WRAPPER} "
                f"&& chmod 755 {WRAPPER}")
CUT_AT_ONCE = "echo cut at the start >&2; exit 12"
CUT_BEFORE_CONTROL = 'case "$*" in *global/pg_control*) echo cut before pg_control >&2; exit 12;; esac'
MENDED = f"rm -f {WRAPPER}"


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
    lab.exec("standby", BROKEN_RSYNC.format(cut=cut))
    lab.exec("standby", f"systemctl stop postgresql@{lab.pg}-main")   # so that it is copied
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


def own_volume(lab, host):
    """The host's data directory becomes a volume of its own (a tmpfs here)
    holding a fresh cluster of its own: a server built with a data disk."""
    data = f"/var/lib/postgresql/{lab.pg}/main"
    lab.exec(host, f"systemctl stop postgresql@{lab.pg}-main; umount {data} 2>/dev/null; "
                   f"rm -rf {data} && mkdir {data} && "
                   f"mount -t tmpfs -o size=300m,mode=0700 tmpfs {data} && "
                   f"chown postgres:postgres {data} && runuser -u postgres -- "
                   f"/usr/lib/postgresql/{lab.pg}/bin/initdb -D {data} >/dev/null 2>&1 && "
                   f"systemctl start postgresql@{lab.pg}-main && mountpoint -q {data}")
    return data


@pytest.mark.parametrize("method", ["basebackup", "rsync-cold"])
def test_a_data_directory_on_its_own_volume_is_replaced_its_cluster_kept_on_it(lab, method):
    data = own_volume(lab, "standby")
    lab.query("master", "create table if not exists on_volume (id int); "
                        "insert into on_volume values (1)")
    result = lab.fab("full", "--method", method)
    assert result.returncode == 0, result.stdout + result.stderr
    kept = f"{data}/.pg-hotstandby-kept-"
    assert f"aside to {kept}" in result.stdout
    assert lab.exec("standby", f"ls {kept}*/PG_VERSION").strip()   # the old cluster, on the volume
    assert lab.query("standby", "select count(*) from on_volume")[0][0] >= 1
    lab.exec("standby", f"systemctl stop postgresql@{lab.pg}-main")   # and a copy over this one
    again = lab.fab("full", "--method", method)
    assert again.returncode == 0, again.stdout + again.stderr
    assert "aside to" not in again.stdout
    assert len(lab.exec("standby", f"ls -d {kept}*").split()) == 1   # kept, not copied over


def test_a_cut_copy_on_its_own_volume_is_taken_up_there(lab):
    """full's pg_basebackup into a data directory that is a volume of its own,
    cut: what arrived waits inside the volume, and the next full takes it up
    there, the cluster found on the volume kept on it."""
    data = own_volume(lab, "standby")
    incoming = f"{data}/.pg-hotstandby-incoming-*"
    lab.cut_basebackup(incoming, 28, "2M")   # 12 MB besides the first WAL segment
    assert lab.exec("standby", f"ls -d {incoming}").strip()
    again = lab.fab("full")
    out = again.stdout
    assert again.returncode == 0, out + again.stderr
    assert "standby: online delta copy, primary running: a copy by pg_basebackup was cut " \
           "short" in out, out
    assert f"took up what a cut pg_basebackup copied ({data}/.pg-hotstandby-incoming-" in out
    assert f"aside to {data}/.pg-hotstandby-kept-" in out
    assert lab.exec("standby", f"ls {data}/.pg-hotstandby-kept-*/PG_VERSION; "
                               f"mountpoint -q {data} && echo mounted").split()[-1] == "mounted"
    assert lab.exec("standby", f"ls -d {incoming} 2>/dev/null; true").strip() == ""
    rows = "select md5(string_agg(aid || ':' || abalance, ',' order by aid)) from pgbench_accounts"
    assert lab.query("standby", rows) == lab.query("master", rows)


def test_root_login_on_hosts_without_sudo(lab, tmp_path):
    for host in lab.hosts:
        lab.exec(host, "SUDO_FORCE_REMOVE=yes apt-get remove -y -qq sudo >/dev/null 2>&1; "
                       "! command -v sudo")
    config = tmp_path / "ssh_config"
    config.write_text(lab.ssh_config.read_text().replace("User admin", "User root"))
    lab.exec("standby", f"systemctl stop postgresql@{lab.pg}-main")
    result = lab.fab("full", "--method", "rsync", ssh_config=config)   # key, rsync as postgres
    assert result.returncode == 0, result.stdout + result.stderr
    assert "base backup held open on master" in result.stdout   # the session, as root
    assert "smoke test passed" in result.stdout
    assert lab.exec("standby", f"systemctl is-active postgresql@{lab.pg}-main").strip() == "active"
