"""The host layer's two doors: a dry host (a plan) runs no change at all,
whatever the step asks; reads go through as usual."""
import pytest
from fabric import Config

from fabfile.hosts.remote import Host
from fabfile.knowledge.shell import sh
from fabfile.knowledge.layout import Layout
from fabfile.steps import config as config_step


class Result:
    def __init__(self, stdout="", exited=0):
        self.stdout, self.stderr, self.exited = stdout, "", exited


class RecordingConnection:
    """Stands in for the SSH connection: records what would reach the host."""
    def __init__(self, files=None):
        self.calls = []
        self.files = files or {}

    user = "admin"

    def sudo(self, command, **kwargs):
        self.calls.append(("sudo", command))
        for path, text in self.files.items():
            if path in command and "cat " in command:
                return Result(text)
        return Result()

    def run(self, command, **kwargs):
        self.calls.append(("run", command))
        return Result("/tmp/x\n")

    def put(self, *args, **kwargs):
        self.calls.append(("put", args[1]))

    def sftp(self):
        return RecordingSftp(self.calls)

    def close(self):
        pass


class RecordingSftp:
    def __init__(self, calls):
        self.calls = calls

    def mkdir(self, path, mode):
        self.calls.append(("mkdir", path, oct(mode)))

    def remove(self, path):
        self.calls.append(("remove", path))

    def rmdir(self, path):
        self.calls.append(("rmdir", path))


def host(dry, files=None):
    h = Host("db1", Config(), dry=dry)
    h.conn = RecordingConnection(files)
    h.layout = Layout("debian", 150000, "/var/lib/postgresql/15/main",
                      "/etc/postgresql/15/main", "/usr/lib/postgresql/15/bin", 5432, "main")
    return h


def test_a_dry_host_runs_no_change_and_reads_as_usual():
    h = host(dry=True)
    assert h.change(sh("rm -rf /var/lib/postgresql/15/main")) is None
    assert h.install("/etc/x.conf", "a = 1\n", owner="postgres", mode="600") == ""
    h.psql_change("select pg_create_physical_replication_slot('s')")
    h.psql_secret("ALTER ROLE r PASSWORD 'secret'")
    assert h.conn.calls == []
    h.query(sh("du -sb {path}", path="/var/lib/postgresql"))
    assert h.conn.calls == [("sudo", "sh -c 'du -sb /var/lib/postgresql'")]


def test_a_command_not_built_by_sh_is_refused_before_it_reaches_the_host():
    h = host(dry=False)
    with pytest.raises(TypeError, match="shell.sh"):
        h.query("cat /etc/" + "passwd")
    assert h.conn.calls == []


def test_a_dry_host_refuses_an_upload():
    with pytest.raises(RuntimeError, match="a plan uploads nothing"):
        with host(dry=True).staged("secret"):
            pass


def test_the_same_change_runs_on_a_host_that_is_not_dry():
    h = host(dry=False)
    h.change(sh("touch /x"))
    h.psql_change("select 1")
    assert [kind for kind, _ in h.conn.calls] == ["sudo", "sudo"]


def test_a_config_step_in_a_plan_shows_the_diff_and_writes_nothing():
    h = host(dry=True, files={"/etc/x.conf": "a = 1\n"})
    change = config_step.ensure_text(h, "/etc/x.conf", "a = 2\n", "postgres", "600", "/b")
    assert change.startswith("would change /etc/x.conf:") and "+a = 2" in change
    assert all("cat " in command for _, command in h.conn.calls)


def test_a_root_login_needs_no_sudo():
    h = host(dry=False)
    h.conn.user = "root"
    h.query(sh("id"))
    h.query(sh("whoami"), user="postgres")
    assert h.conn.calls == [
        ("run", "sh -c id"),
        ("run", "HOME=$(getent passwd postgres | cut -d: -f6) runuser -u postgres -- "
                "sh -c 'sh -c whoami'")]


def test_trace_times_each_round_trip_on_stderr_and_shows_no_secret(monkeypatch, capsys):
    from fabfile.hosts import remote
    h = host(dry=False)
    h.query(sh("du -sb {path}", path="/var/lib/postgresql"))
    assert capsys.readouterr().err == ""   # off unless PG_HOTSTANDBY_TRACE asks
    monkeypatch.setattr(remote, "TRACE", True)
    h.query(sh("du -sb {path}", path="/var/lib/postgresql"))
    h.psql_secret("ALTER ROLE r PASSWORD 'secret'")
    lines = capsys.readouterr().err.splitlines()
    assert lines[0].startswith("trace: +") and " db1 " in lines[0]
    assert lines[0].endswith(" s  du -sb /var/lib/postgresql")
    assert [line.split(" s  ", 1)[1] for line in lines[1:]] == [
        "sftp mkdir, put", "HOME=$(getent ...", "sftp remove"]
    assert "secret" not in "\n".join(lines)


def test_a_staged_file_lives_in_a_fresh_private_directory_removed_whatever_happens():
    h = host(dry=False)
    with pytest.raises(KeyError), h.staged("secret") as path:
        raise KeyError("the step failed")
    tmpdir = path.rsplit("/", 1)[0]
    assert tmpdir.startswith("/tmp/pg-hotstandby-upload.") and path == f"{tmpdir}/f"
    assert h.conn.calls == [("mkdir", tmpdir, "0o700"), ("put", path), ("remove", path),
                            ("rmdir", tmpdir)]
    with h.staged("again") as other:
        assert other != path   # a new name each time: mkdir fails on one that exists
