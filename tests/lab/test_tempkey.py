"""The rsync copy's temporary key: during the copy it runs nothing but rsync
into the copy's directories, and only from the primary; the standby's own
keys stay byte for byte (one of them without a final newline); it is gone
after the copy, and after a SIGTERM or Ctrl-C to fab during the copy, with
the primary running again first."""
import shlex
import signal
import time

import pytest

KEYS = "/var/lib/postgresql/.ssh/authorized_keys"
# A key of the postgres user's own (a backup tool's, say), its line without a
# final newline.
OWN = "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIBackupToolKeyOfThePostgresUserXXXXXXXXXX backup@tool"
# The standby's receiving rsync of the data directory waits a while, so that
# the key can be tried, and fab interrupted, during the copy.
SLOW_RSYNC = ("printf '#!/bin/sh\\ncase \"$*\" in *--server*--delete*) sleep 12;; esac\\n"
              "exec /usr/bin/rsync \"$@\"\\n' > /usr/local/bin/rsync && "
              "chmod 755 /usr/local/bin/rsync")
MARKER = "/tmp/pg-hotstandby-test-marker"


@pytest.fixture(scope="module")
def lab(lab_factory):
    lab = lab_factory(pg=15)
    lab.exec("standby", SLOW_RSYNC)
    lab.exec("standby", f"install -d -o postgres -g postgres -m 700 {KEYS.rsplit('/', 1)[0]} && "
                        f"printf %s {shlex.quote(OWN)} > {KEYS} && chown postgres: {KEYS} && "
                        f"chmod 600 {KEYS}")
    return lab


def as_root(lab, host, command):
    """(exit code, stdout + stderr) of a command run as root on a host."""
    done = lab.ssh(host, f"sudo sh -c {shlex.quote(command)}", check=False)
    return done.returncode, done.stdout + done.stderr


def temp_key_line(lab, timeout=90):
    """The temporary key's line, once the copy has authorized it."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        found = lab.exec("standby", f"grep pg-hotstandby- {KEYS} || true").strip()
        if found:
            return found
        time.sleep(0.3)
    raise AssertionError("the copy never authorized its key")


def left_behind(lab):
    """The standby's authorized_keys, and the temporary directories of both hosts."""
    return (lab.exec("standby", f"cat {KEYS}"),
            lab.exec("master", "ls -d /tmp/tmp.*/known_hosts 2>/dev/null || true").split(),
            lab.exec("standby", "ls -d /tmp/pg-hotstandby.* 2>/dev/null || true").split())


def test_the_key_copies_only_and_goes_when_the_copy_ends(lab):
    tried = {}

    def try_the_key(proc):
        tried["line"] = temp_key_line(lab)
        key = lab.exec("master", "ls /tmp/tmp.*/key").strip()
        address = lab.exec("master", "getent hosts standby").split()[0]
        ssh = (f"ssh -i {key} -o IdentitiesOnly=yes -o BatchMode=yes "
               "-o StrictHostKeyChecking=no -o UserKnownHostsFile=/dev/null")
        as_postgres = f"runuser -u postgres -- {ssh} postgres@{address} "
        tried["command"] = as_root(lab, "master", as_postgres + f"touch {MARKER}")
        tried["shell"] = as_root(lab, "master", as_postgres + shlex.quote(f"id; touch {MARKER}"))
        tried["read"] = as_root(lab, "master", as_postgres + shlex.quote(
            "rsync --server --sender -logDtpre.LsfxCIvu . /etc/"))
        tried["elsewhere"] = as_root(lab, "master", as_postgres + shlex.quote(
            "rsync --server -logDtpre.LsfxCIvu . /var/lib/postgresql/"))
        # the same key from another host (the standby itself): refused by from=
        lab.exec("standby", f"printf '%s\\n' {shlex.quote(lab.exec('master', f'cat {key}'))} "
                            "> /root/stolen && chmod 600 /root/stolen")
        tried["stolen"] = as_root(lab, "standby", f"{ssh.replace(key, '/root/stolen')} "
                                                  f"postgres@{address} true")

    code, out = lab.fab_with_fault("== sync ==", try_the_key, "--method", "rsync-cold")
    assert code == 0, out
    line = tried["line"]
    master = lab.exec("standby", "getent hosts master").split()[0]
    assert line.startswith(f'restrict,from="{master}",command="/bin/sh /tmp/pg-hotstandby.'), line
    for attempt in ("command", "shell", "read", "elsewhere"):
        rc, text = tried[attempt]
        assert rc == 1 and "pg-hotstandby: refused" in text, (attempt, text)
    rc, text = tried["stolen"]
    assert rc == 255 and "Permission denied" in text, text
    assert lab.exec("standby", f"ls {MARKER} 2>/dev/null || true").strip() == ""

    keys, primary_dirs, wrapper_dirs = left_behind(lab)
    assert keys == OWN + "\n"                 # its own line byte for byte, now ended
    assert primary_dirs == [] and wrapper_dirs == []
    assert "standby: temporary key removed from ~postgres/.ssh/authorized_keys" in out
    assert "smoke test passed" in out


@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGINT])
def test_an_interrupted_copy_leaves_no_key_and_the_primary_running(lab, sig):
    lab.exec("standby", "systemctl stop postgresql@15-main")   # so that full copies again

    def interrupt(proc):
        temp_key_line(lab)
        proc.send_signal(sig)

    code, out = lab.fab_with_fault("== sync ==", interrupt, "--method", "rsync-cold")
    assert code != 0, out
    assert lab.query("master", "select not pg_is_in_recovery()") == [(True,)], out
    keys, primary_dirs, wrapper_dirs = left_behind(lab)
    assert keys == OWN + "\n", out
    assert primary_dirs == [] and wrapper_dirs == [], out
    # the primary first, then the key
    assert out.index("master: started PostgreSQL again") \
        < out.index("standby: temporary key removed"), out
