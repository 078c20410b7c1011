"""The one thin layer that talks to hosts.

A `Host` wraps a Fabric Connection built from the run's config, so that
ssh_config (-S), ProxyJump, the login user and --prompt-for-sudo-password all
behave as users expect.  Everything that needs root goes through sudo, or
runs directly when the login user is root (runuser for the postgres user);
files travel by SFTP, never on a command line, so secrets do not show in `ps`.

Reading and changing are separate doors: `query`, `psql` and `read` only
look; `change`, `install`, `psql_change`, `psql_secret` and `session` (a
command kept running while a step feeds it: psql_session) change the host.  A
dry host (`plan`) reads as usual and runs no change at all: the change doors
skip (returning None), and an upload is refused outright.  A step therefore
cannot write during a plan by forgetting to check.
"""
import io
import os
import queue
import re
import secrets
import sys
import threading
import time
from contextlib import contextmanager
from pathlib import Path

from fabric import Connection
from invoke.exceptions import AuthFailure, Failure, ThreadException
from paramiko.ssh_exception import SSHException

from ..knowledge.diagnose import failure_line
from ..knowledge.layout import choose_layout, discovery_script, parse_facts
from ..knowledge import places, shell
from ..knowledge.shell import as_user
from .hostkeys import guard


class RemoteError(Exception):
    """A command on a host failed; the message names the host."""


# PG_HOTSTANDBY_TRACE=1: each round trip to a host, timed, on stderr (where a
# run's time goes).  Commands carry no secret by design (files go by SFTP);
# one flagged secret is shown by its first word only.
TRACE = os.environ.get("PG_HOTSTANDBY_TRACE", "") not in ("", "0")
TRACE_START = time.monotonic()


@contextmanager
def traced(host, what, secret=False):
    if not TRACE:
        yield
        return
    started = time.monotonic()
    try:
        yield
    finally:
        words = " ".join(str(what).split())
        shown = words.split(" ", 1)[0] + " ..." if secret else words[:200]
        print(f"trace: +{started - TRACE_START:7.3f} {host} {time.monotonic() - started:6.3f} s"
              f"  {shown}",
              file=sys.stderr, flush=True)


class Host:
    def __init__(self, name, config, dry=False):
        self.name = name
        # A config of its own: Fabric's Connection writes into the config it
        # is given (inline_ssh_env), which merges it anew; shared by hosts
        # opened at once, another thread read it half merged ("No attribute or
        # config key found for 'user'", seen in CI).
        self.conn = Connection(name, config=config.clone())
        # -S sets only Fabric's private path; named in the fix of a refusal.
        guard(self.conn, name, config.ssh_config_path or getattr(config, "_runtime_ssh_path", None))
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

    @contextmanager
    def session(self, command, user="root"):
        """A command that changes the host, kept running while the block
        runs: yields a Session to feed its standard input and read its
        output.  At the block's end its input ends (EOF) and the command is
        waited for (a psql then ends its session)."""
        if self.dry:
            raise RuntimeError(f"{self.name}: a plan opens no session")
        session = Session(self.name)
        worker = threading.Thread(target=session.run, daemon=True, args=(
            lambda: self._run(command, user, True, None, session, in_stream=session.feed),))
        worker.start()
        try:
            yield session
        finally:
            session.feed.close()
            worker.join(timeout=60)

    def _run(self, command, user, warn, timeout, output, secret=False, in_stream=False):
        """Run a shell command as `user`: through sudo, or, logged in as root,
        directly (a server installed with a root password has no sudo), with
        runuser for another user.  Output hidden, or passed as it arrives to
        `output` (a file-like: progress.Stream)."""
        if not isinstance(command, shell.Command):
            raise TypeError(f"{self.name}: commands are built with shell.sh, which quotes "
                            f"their values: {command[:80]!r}")
        wrapped = shell.sh("sh -c {command}", command=str(command))
        shown = {"hide": False, "out_stream": output, "err_stream": output} if output \
            else {"hide": True}
        with traced(self.name, command, secret):
            try:
                if self.conn.user == "root":
                    if user != "root":
                        wrapped = as_user(user, wrapped)
                    result = self.conn.run(wrapped, warn=True, timeout=timeout,
                                           in_stream=in_stream, **shown)
                else:
                    result = self.conn.sudo(wrapped, user=user, warn=True, timeout=timeout,
                                            in_stream=in_stream, **shown)
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

    def _psql(self, db, *args):
        lay = self.layout
        return shell.sh("{psql} -X -q -v ON_ERROR_STOP=1 -h {socket} -p {port} -d {db} {args}",
                        psql=lay.pg("psql"), socket=lay.socket_dir, port=lay.port, db=db,
                        args=list(args))

    def psql(self, sql, db="postgres", warn=False):
        """Rows of a query run locally as the postgres superuser (no secrets!)."""
        result = self.query(self._psql(db, "-A", "-t", "-F", "\t", "-c", sql),
                            user="postgres", warn=warn)
        if result.exited != 0:
            return None
        return [line.split("\t") for line in result.stdout.splitlines() if line]

    def psql_change(self, sql, db="postgres"):
        """Run SQL that changes the server (not on a dry host)."""
        self.change(self._psql(db, "-c", sql), user="postgres")

    def psql_secret(self, sql, db="postgres"):
        """Run SQL that holds a secret: it travels by SFTP to a private file
        and reaches psql on its standard input, never on a command line."""
        if self.dry:
            return
        with self.staged(sql) as path:
            self.change(shell.sh("{psql} < {path}",
                                 psql=as_user("postgres", self._psql(db, "-f", "-")),
                                 path=path), secret=True)

    def psql_session(self, db="postgres"):
        """A psql session as the postgres superuser, kept open (Host.session):
        statements go to its input, rows come back unaligned."""
        return self.session(self._psql(db, "-A", "-t"), user="postgres")

    # -- files ---------------------------------------------------------
    def read(self, path, user="postgres", links=False):
        """A file's text, or None when it does not exist.  Read as its owner
        (the files the tool reads are postgres's), and never through a
        symbolic link: root never follows a path postgres controls.
        links: follow one (a file only read, never written, by a user who
        reads its target anyway: a server's certificate)."""
        refuse = "" if links else "[ ! -L {path} ] || exit 4; "
        result = self.query(shell.sh(refuse + "[ -e {path} ] || exit 3; cat {path}",
                                     path=path), user=user, warn=True)
        if result.exited == 3:
            return None
        if result.exited == 4:
            raise RemoteError(f"{self.name}: {path} is a symbolic link: refused (the tool "
                              "reads and writes only regular files); replace it by the file")
        if result.exited != 0:
            raise RemoteError(f"{self.name}: cannot read {path} as {user}: "
                              f"{self.failure(result)}")
        return result.stdout

    @contextmanager
    def staged(self, text):
        """Upload text by SFTP into a fresh directory only the login user can
        read; yields the file's path and removes the directory afterwards,
        whatever happens (it may hold a secret).  All over the SFTP session,
        no command: mkdir makes the directory or fails (never one that was
        there, nor a link), with 0700 at most."""
        if self.dry:
            raise RuntimeError(f"{self.name}: a plan uploads nothing (a step did not check "
                               "host.dry before an upload)")
        tmpdir = f"/tmp/pg-hotstandby-upload.{secrets.token_hex(8)}"
        with self.sftp_lock, traced(self.name, "sftp mkdir, put"):
            sftp = self.conn.sftp()
            sftp.mkdir(tmpdir, 0o700)
            try:
                self.conn.put(io.BytesIO(text.encode()), f"{tmpdir}/f")
            except BaseException:
                self._unstage(sftp, tmpdir)
                raise
        try:
            yield f"{tmpdir}/f"
        finally:
            with self.sftp_lock, traced(self.name, "sftp remove"):
                self._unstage(self.conn.sftp(), tmpdir)

    @staticmethod
    def _unstage(sftp, tmpdir):
        try:
            sftp.remove(f"{tmpdir}/f")
        except FileNotFoundError:
            pass
        sftp.rmdir(tmpdir)

    def install(self, path, text, owner, mode, backup_dir=None):
        """Write text to path (owner, mode); back up an existing file first.

        The file is written by its owner, into a temp file beside it that then
        replaces it, so root follows no link in a directory its owner controls.
        Returns the backup's path ('' when the file is new or the host is dry).
        """
        if self.dry:
            return ""
        backup = ""
        steps = [shell.sh("set -e; [ ! -L {path} ] || {{ echo link; exit 4; }}", path=path)]
        if backup_dir:
            backup = f"{backup_dir}/{path.strip('/').replace('/', '_')}." \
                     f"{time.strftime('%Y%m%d-%H%M%S')}"
            steps.append(shell.sh(
                "if {exists}; then install -d -m 700 {dir}; {cat} > {backup}; "
                "echo backed-up; fi", exists=as_user(owner, shell.sh("test -f {path}",
                                                                      path=path)),
                dir=backup_dir, cat=as_user(owner, shell.sh("cat {path}", path=path)),
                backup=backup))
        write = shell.sh('umask 077; mkdir -p "$(dirname "$1")"; '
                         't=$(mktemp "$(dirname "$1")/.pg-hotstandby.XXXXXX"); '
                         'cat > "$t" && chmod "$2" "$t" && mv -f "$t" "$1"')
        with self.staged(text) as staged:
            steps.append(shell.sh("runuser -u {owner} -- sh -c {write} sh {path} {mode} "
                                  "< {staged}", owner=owner, write=str(write), path=path,
                                  mode=mode, staged=staged))
            done = self.change(shell.join(steps), warn=True)
        if done.exited == 4:
            raise RemoteError(f"{self.name}: {path} is a symbolic link: refused (the tool "
                              "reads and writes only regular files); replace it by the file")
        if done.exited != 0:
            raise RemoteError(f"{self.name}: cannot write {path}: {self.failure(done)}")
        return backup if "backed-up" in done.stdout else ""

    def prove(self, wanted):
        """{path: knowledge.places.Place} for the directories a step will act
        on (knowledge.places.Wanted), all in one round trip; the first that
        fails is a RemoteError naming the host, the path, why and the fix.
        Root acts on no path postgres may have changed (knowledge/places.py)."""
        command, every = places.script([w.path for w in wanted])
        try:
            return places.verdicts(wanted, every, self.query(command).stdout)
        except places.PlaceError as exc:
            raise RemoteError(f"{self.name}: {exc}") from None

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


class Feed:
    """A command's standard input fed from this process (Invoke's in_stream):
    read() gives all that was sent, None while nothing is (Invoke then
    looks again), '' once closed (EOF)."""

    def __init__(self):
        self.pending = queue.Queue()

    def send(self, text):
        self.pending.put(text)

    def close(self):
        self.pending.put("")

    def read(self, _size=None):
        try:
            text = self.pending.get(timeout=0.05)
        except queue.Empty:
            return None
        while text and not self.pending.empty():
            more = self.pending.get()
            if not more:   # the end, after what came before it
                self.pending.put(more)
                break
            text += more
        return text


class Session:
    """What Host.session yields: send() to its input, expect() in its
    output (stdout and stderr, as they arrive)."""

    def __init__(self, host):
        self.host = host
        self.feed = Feed()
        self.text = ""
        self.changed = threading.Condition()
        self.result = None
        self.error = None

    def run(self, command):
        try:
            self.result = command()
        except RemoteError as exc:
            self.error = exc
        with self.changed:
            self.changed.notify_all()

    def write(self, text):
        """Its output as it arrives (Invoke's out_stream and err_stream)."""
        with self.changed:
            self.text += text
            self.changed.notify_all()

    def flush(self):
        pass

    def send(self, text):
        self.feed.send(text)

    def expect(self, pattern, timeout, what):
        """The first match of pattern (a regex) in the output so far, waiting
        up to timeout seconds; RemoteError if the command ends or the time
        runs out first (what: what was waited for, in the error)."""
        deadline = time.monotonic() + timeout
        with self.changed:
            while True:
                found = re.search(pattern, self.text, re.M)
                if found:
                    return found
                ended = self.result is not None or self.error is not None
                left = deadline - time.monotonic()
                if ended or left <= 0:
                    why = self.error or (failure_line(self.text.strip()) if ended
                                         else f"nothing after {timeout} s")
                    raise RemoteError(f"{self.host}: {what} failed: {why}")
                self.changed.wait(min(left, 1))
