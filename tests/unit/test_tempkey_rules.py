"""The temporary key's line, its forced command (run here with sh, as sshd
runs it) and the shell that adds and removes the line (run on a scratch
home directory)."""
import os
import subprocess

import pytest

from fabfile.knowledge import tempkey

KEY = "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIGx5b3VyLWtleS1oZXJlLWZvci10ZXN0cw pg-hotstandby-0123456789ab"
DATA = "/var/lib/postgresql/15/main"
TARGETS = [DATA, f"{DATA}/global/pg_control", "/srv/space/PG_15_202209061", f"{DATA}/pg_wal"]


def run_wrapper(tmp_path, command):
    script = tmp_path / "rsync-only"
    script.write_text(tempkey.wrapper(TARGETS))
    env = {"SSH_ORIGINAL_COMMAND": command} if command is not None else {}
    return subprocess.run(["sh", str(script)], env=env, stdin=subprocess.DEVNULL,
                          capture_output=True, text=True, timeout=30)


@pytest.mark.parametrize("command", [
    f"rsync --server -logDtpre.LsfxCIvu --timeout=60 --delete --stats . {DATA}/",
    f"rsync --server -logDtpre.LsfxCIvu --timeout=60 --delete --inplace --stats . {DATA}/",
    f"rsync --server -logDtprce.LsfxCIvu --timeout=60 --delete --stats . {DATA}/",
    f"rsync --server -logDtprce.iLsfxCIvu --timeout=60 . {DATA}/global/pg_control",
    f"rsync --server -logDtpre.iLsfxCIvu --timeout=60 --inplace . {DATA}/pg_wal/",
    "rsync --server -logDtprce.LsfxCIvu --timeout=60 --delete . /srv/space/PG_15_202209061/",
    # compressed and capped (transfer.rsync_options, as rsync 3.2.3 to 3.5.0 send them)
    f"rsync --server -logDtpre.LsfxCIvu --compress-level=1 --timeout=60 --bwlimit=51200 "
    f"--compress-choice=zstd --delete --stats . {DATA}/",
    f"rsync --server -logDtpre.LsfxCIvu --bwlimit=100 --compress-choice=lz4 . {DATA}/",
])
def test_wrapper_lets_this_copys_rsync_through(tmp_path, command):
    done = run_wrapper(tmp_path, command)
    # rsync itself runs (and, with no client on stdin, fails in its own way)
    assert "pg-hotstandby: refused" not in done.stderr
    assert done.returncode != 1 or "rsync" in done.stderr


@pytest.mark.parametrize("command", [
    None, "", "id", "touch /tmp/marker", "sh -c id",
    f"rsync --server -logDtpre.LsfxCIvu . {DATA}/; touch /tmp/marker",
    f"rsync --server -logDtpre.LsfxCIvu . {DATA}/ && id",
    f"rsync --server -logDtpre.LsfxCIvu . {DATA}/`id`",
    f"rsync --server -logDtpre.LsfxCIvu . $(id){DATA}/",
    f"rsync --server -logDtpre.LsfxCIvu . {DATA}/\nid",
    "rsync --server -logDtpre.LsfxCIvu . /etc/",
    f"rsync --server -logDtpre.LsfxCIvu . {DATA}/../../../../etc/",
    f"rsync --server -logDtpre.LsfxCIvu . {DATA}/base",
    f"rsync --server --sender -logDtpre.LsfxCIvu . {DATA}/",      # reading, not writing
    f"rsync --server -logDtpre.LsfxCIvu --log-file=/tmp/x . {DATA}/",
    f"rsync --server -logDtpre.LsfxCIvu --compress-choice=zlib . {DATA}/",
    f"rsync --server -logDtpre.LsfxCIvu --bwlimit=1;id . {DATA}/",
    f"rsync --server -logDtpre.LsfxCIvu --rsync-path=id . {DATA}/",
    f"rsync --server -logDtpre.LsfxCIvu -T /tmp . {DATA}/",
    f"rsync --server -logDtpre.LsfxCIvu --partial-dir /tmp . {DATA}/",   # writes elsewhere
    f"rsync --server -logDtpre.LsfxCIvu --partial-dir=/tmp . {DATA}/",
    f"rsync --server -logDtpre.LsfxCIvu --inplace=x . {DATA}/",
    f"rsync --server -logDtpre.LsfxCIvu --backup-dir=/tmp . {DATA}/",
    f"rsync --server -logDtpsre.LsfxCIvu . {DATA}/",             # -s: arguments hidden
    f"rsync --server -logDtpre.LsfxCIvu . {DATA}/ /etc/",
    f"rsync --server -logDtpre.LsfxCIvu {DATA}/",
    f"rsync --server . {DATA}/ -logDtpre.LsfxCIvu",
    f"/tmp/rsync --server -logDtpre.LsfxCIvu . {DATA}/",
])
def test_wrapper_refuses_anything_else(tmp_path, command):
    done = run_wrapper(tmp_path, command)
    assert done.returncode == 1, done.stderr
    assert done.stderr.startswith("pg-hotstandby: refused")


@pytest.mark.parametrize("path", ["/data dir", "/data;id", "/data/$(id)", "relative",
                                  "/data/../etc", "/", "/data\n/etc"])
def test_wrapper_refuses_targets_it_cannot_name_exactly(path):
    with pytest.raises(tempkey.TempKeyError):
        tempkey.wrapper([path])


def test_line_is_restricted_to_the_primary_and_the_wrapper():
    line = tempkey.authorized_line(KEY + "\n", "10.0.0.5", "/tmp/pg-hotstandby.Ab12/rsync-only")
    assert line == ('restrict,from="10.0.0.5",command="/bin/sh /tmp/pg-hotstandby.Ab12/rsync-only" '
                    + KEY)
    assert tempkey.authorized_line(KEY, "fd00::5", "/w").startswith('restrict,from="fd00::5",')


@pytest.mark.parametrize("key,source", [
    (KEY.replace("pg-hotstandby-", "x-"), "10.0.0.5"),
    (KEY + '" command="id', "10.0.0.5"),
    ("ssh-rsa AAAA pg-hotstandby-0123456789ab", "10.0.0.5"),
    (KEY, "10.0.0.5,*"), (KEY, 'x" command="id'), (KEY, "primary"),
])
def test_line_refuses_what_is_not_a_key_or_an_address(key, source):
    with pytest.raises(tempkey.TempKeyError):
        tempkey.authorized_line(key, source, "/w")


def sh(home, script):
    return subprocess.run(["sh", "-c", script], env={**os.environ, "HOME": str(home)},
                          capture_output=True, text=True, timeout=30)


LINE = tempkey.authorized_line(KEY, "10.0.0.5", "/w")


def test_append_after_a_last_line_without_newline_then_remove_by_exact_line(tmp_path):
    keys = tmp_path / ".ssh" / "authorized_keys"
    keys.parent.mkdir(mode=0o700)
    other = b"ssh-ed25519 AAAAbackuptool backup@host pg-hotstandby-0123456789ab"
    keys.write_bytes(b"# first\n" + other)          # no final newline
    keys.chmod(0o640)
    assert sh(tmp_path, tempkey.append_script(LINE)).returncode == 0
    assert keys.read_bytes() == b"# first\n" + other + b"\n" + LINE.encode() + b"\n"
    assert sh(tmp_path, tempkey.append_script(LINE)).returncode == 0   # twice: both go
    done = sh(tmp_path, tempkey.remove_script(LINE))
    assert done.returncode == 0, done.stderr
    # the other lines byte for byte (the last one now ends in a newline), mode kept
    assert keys.read_bytes() == b"# first\n" + other + b"\n"
    assert keys.stat().st_mode & 0o777 == 0o640
    assert sorted(p.name for p in keys.parent.iterdir()) == ["authorized_keys"]
    before = keys.read_bytes()
    assert sh(tmp_path, tempkey.remove_script(LINE)).returncode == 0   # nothing to remove
    assert keys.read_bytes() == before


def test_append_creates_a_private_file_and_removal_can_empty_it(tmp_path):
    assert sh(tmp_path, tempkey.append_script(LINE)).returncode == 0
    keys = tmp_path / ".ssh" / "authorized_keys"
    assert keys.read_text() == LINE + "\n"
    assert keys.stat().st_mode & 0o777 == 0o600
    assert (tmp_path / ".ssh").stat().st_mode & 0o777 == 0o700
    assert sh(tmp_path, tempkey.remove_script(LINE)).returncode == 0
    assert keys.read_bytes() == b""


def test_removal_without_a_file_does_nothing(tmp_path):
    assert sh(tmp_path, tempkey.remove_script(LINE)).returncode == 0
    assert not (tmp_path / ".ssh").exists()
