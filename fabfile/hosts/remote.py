"""The one thin layer that talks to hosts.

A `Host` wraps a Fabric Connection built from the run's config, so that
ssh_config (-S), ProxyJump, the login user and --prompt-for-sudo-password all
behave as users expect.  Everything that needs root goes through sudo, or
runs directly when the login user is root (runuser for the postgres user);
files travel by SFTP, never on a command line, so secrets do not show in `ps`.

Reading and changing are separate doors: `query`, `psql` and `read` only
look; `change`, `install`, `psql_change` and `psql_secret` change the host.  A
dry host (`plan`) reads as usual and runs no change at all: the change doors
skip (returning None), and an upload is refused outright.  A step therefore
cannot write during a plan by forgetting to check.
"""
import io
import os
import shlex
import threading
import time
from pathlib import Path

from fabric import Connection
from invoke.exceptions import AuthFailure, Failure, ThreadException
from paramiko.ssh_exception import SSHException

from ..knowledge.diagnose import failure_line
from ..knowledge.layout import choose_layout, discovery_script, parse_facts


class RemoteError(Exception):
    """A command on a host failed; the message names the host."""


class Host:
    def __init__(self, name, config, dry=False):
        self.name = name
        self.conn = Connection(name, config=config)
        self.layout = None
        self.facts = {}
        self.dry = dry
        # One SFTP session per connection, and paramiko's is not safe to share
        # between threads (copies to several standbys upload to the primary).
        self.sftp_lock = threading.Lock()

    def __repr__(self):
        return f"Host({self.name})"

    # -- commands ------------------------------------------------------
    def query(self, command, user="root", warn=False, timeout=None, output=None):
        """Run a shell command that only looks at the host (runs in a plan too)."""
        return self._run(command, user, warn, timeout, output)

    def change(self, command, user="root", warn=False, timeout=None, output=None,
               secret=False):
        """Run a shell command that changes the host; on a dry host nothing
        runs and the result is None.  secret: its output may hold one (SQL
        errors quote the statement), so a failure does not show or keep it."""
        if self.dry:
            return None
        return self._run(command, user, warn, timeout, output, secret)

    def _run(self, command, user, warn, timeout, output, secret=False):
        """Run a shell command as `user`: through sudo, or, logged in as root,
        directly (a server installed with a root password has no sudo), with
        runuser for another user.  Output hidden, or passed as it arrives to
        `output` (a file-like: progress.Stream)."""
        wrapped = f"sh -c {shlex.quote(command)}"
        shown = {"hide": False, "out_stream": output, "err_stream": output} if output \
            else {"hide": True}
        try:
            if self.conn.user == "root":
                if user != "root":   # as sudo -H does: the user's own home
                    wrapped = (f"HOME=$(getent passwd {shlex.quote(user)} | cut -d: -f6) "
                               f"runuser -u {shlex.quote(user)} -- {wrapped}")
                result = self.conn.run(wrapped, warn=True, timeout=timeout, in_stream=False,
                                       **shown)
            else:
                result = self.conn.sudo(wrapped, user=user, warn=True, timeout=timeout,
                                        in_stream=False, **shown)
        except AuthFailure:
            raise RemoteError(f"{self.name}: sudo rejected the password: give the login "
                              "user's password to --prompt-for-sudo-password") from None
        except (Failure, ThreadException, SSHException, OSError, EOFError) as exc:
            raise RemoteError(f"{self.name}: {exc.__class__.__name__}: {exc}") from exc
        if result.exited != 0 and not warn:
            why = "its output is not shown: it may quote a secret" if secret \
                else self.failure(result)
            raise RemoteError(f"{self.name}: `{command.strip()[:120]}` failed "
                              f"(exit {result.exited}): {why}")
        return result

    def failure(self, result):
        """One line saying why a command failed; its whole output is kept in a
        local log file (named in the line) when it has more to say."""
        output = result.stderr.strip() or result.stdout.strip()
        line = failure_line(output)
        if output.count("\n") + output.count("\r") == 0:
            return line
        logs = Path(os.environ.get("XDG_STATE_HOME") or Path.home() / ".local" / "state") \
            / "pg-hotstandby"
        logs.mkdir(mode=0o700, parents=True, exist_ok=True)
        path = logs / f"{self.name}-{time.strftime('%Y%m%d-%H%M%S')}-{os.getpid()}.log"
        with os.fdopen(os.open(path, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o600), "a") as f:
            f.write(output + "\n")
        return f"{line} (whole output: {path})"

    def psql(self, sql, db="postgres", warn=False):
        """Rows of a query run locally as the postgres superuser (no secrets!)."""
        lay = self.layout
        cmd = (f"{lay.pg('psql')} -X -q -A -t -F '\t' -v ON_ERROR_STOP=1 "
               f"-h {lay.socket_dir} -p {lay.port} -d {db} -c {shlex.quote(sql)}")
        result = self.query(cmd, user="postgres", warn=warn)
        if result.exited != 0:
            return None
        return [line.split("\t") for line in result.stdout.splitlines() if line]

    def psql_change(self, sql, db="postgres"):
        """Run SQL that changes the server (not on a dry host)."""
        lay = self.layout
        self.change(f"{lay.pg('psql')} -X -q -v ON_ERROR_STOP=1 -h {lay.socket_dir} "
                    f"-p {lay.port} -d {db} -c {shlex.quote(sql)}", user="postgres")

    def psql_secret(self, sql, db="postgres"):
        """Run SQL that holds a secret: uploaded to a 0600 file, never on a command line."""
        if self.dry:
            return
        path = self.upload_temp(sql, owner="postgres", mode="600")
        lay = self.layout
        self.change(f"{lay.pg('psql')} -X -q -v ON_ERROR_STOP=1 -h {lay.socket_dir} "
                    f"-p {lay.port} -d {db} -f {path}; rc=$?; rm -f {path}; exit $rc",
                    user="postgres", secret=True)

    # -- files ---------------------------------------------------------
    def read(self, path):
        """A file's text, or None when it does not exist."""
        result = self.query(f"cat {shlex.quote(path)} 2>/dev/null || exit 3", warn=True)
        if result.exited == 3:
            return None
        if result.exited != 0:
            raise RemoteError(f"{self.name}: cannot read {path}")
        return result.stdout

    def upload_temp(self, text, owner, mode):
        """Upload text to a fresh private temp file owned by `owner`; returns its path."""
        if self.dry:
            raise RuntimeError(f"{self.name}: a plan uploads nothing (a step did not check "
                               "host.dry before an upload)")
        tmpdir = self.conn.run("umask 077 && mktemp -d", hide=True).stdout.strip()
        staged = f"{tmpdir}/f"
        with self.sftp_lock:
            self.conn.put(io.BytesIO(text.encode()), staged)
        final = f"{tmpdir}.{owner}"
        self.change(f"install -o {owner} -g $(id -gn {owner}) -m {mode} {staged} {final} "
                    f"&& rm -rf {tmpdir}")
        return final

    def install(self, path, text, owner, mode, backup_dir=None):
        """Write text to path (owner, mode); back up an existing file first.

        Returns the backup's path ('' when the file is new or the host is dry).
        """
        if self.dry:
            return ""
        staged = self.upload_temp(text, owner=owner, mode=mode)
        stamp = time.strftime("%Y%m%d-%H%M%S")
        backup = ""
        q = shlex.quote(path)
        script = f"set -e; mkdir -p $(dirname {q}); "
        if backup_dir:
            backup = f"{backup_dir}/{path.strip('/').replace('/', '_')}.{stamp}"
            script += (f"if [ -e {q} ]; then install -d -m 700 {backup_dir}; "
                       f"cp -p {q} {backup}; echo backed-up; fi; ")
        script += f"mv -f {staged} {q}"
        done = self.change(script)
        return backup if "backed-up" in done.stdout else ""

    # -- facts ---------------------------------------------------------
    def discover(self, settings):
        """Find PostgreSQL on the host: sets self.facts and self.layout."""
        datas = [settings.data_directory] if settings.data_directory \
            else settings.data_directory_candidates
        script = discovery_script(datas, settings.bin_directory_candidates)
        self.facts = parse_facts(self.query(script).stdout)
        self.layout = choose_layout(self.facts, settings)
        return self.layout

    def close(self):
        self.conn.close()
