"""Fixtures for the lab tests: real hosts in Docker (through pytest-docker),
the real `fab` command line, SQL on each host, and the means to break things.

Without a Docker engine the lab tests skip with the reason, except under CI
(CI=true), where that is a failure.
"""
import json
import os
import re
import shlex
import signal
import subprocess
import sys
import threading
import time
from contextlib import contextmanager
from pathlib import Path

import jsonschema
import psycopg2
import pytest
from fabric import Config, Connection
from pytest_docker.plugin import get_docker_services

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO / "docker"))
import lab as labkit  # noqa: E402
from fabfile.steps.smoke import forwarded  # noqa: E402

# One Compose project at a time; LAB_PROJECT names another, so that two
# checkouts on one machine can each run their lab tests.
TEST_PROJECT = os.environ.get("LAB_PROJECT", "pg-hotstandby-test")
STATUS_SCHEMA = json.loads((REPO / "tests" / "lab" / "status.schema.json").read_text())


def docker_available():
    try:
        return subprocess.run(["docker", "info"], capture_output=True,
                              timeout=30).returncode == 0
    except (OSError, subprocess.TimeoutExpired):
        return False


@pytest.fixture(scope="session")
def docker_engine():
    if not docker_available():
        reason = "no Docker engine reachable (`docker info` fails): the lab tests need one"
        if os.environ.get("CI") == "true":
            pytest.fail(reason)
        pytest.skip(reason)


@contextmanager
def environ(values):
    saved = dict(os.environ)
    os.environ.update(values)
    try:
        yield
    finally:
        os.environ.clear()
        os.environ.update(saved)


class RunningLab(labkit.Lab):
    """A lab plus what tests need: fab, SSH and SQL on each host."""

    def fab(self, *args, hosts=None, config=None, timeout=600, ssh_config=None,
            program=None, cwd=REPO):
        """program: the command line to run instead of ["fab"]."""
        hosts = self.hosts if hosts is None else hosts
        cmd = [*(program or ["fab"]), "-S", str(ssh_config or self.ssh_config)]
        if config:
            cmd += ["-f", str(config)]
        if hosts:
            cmd += ["-H", ",".join(hosts)]
        return subprocess.run(cmd + list(args), cwd=cwd, capture_output=True, text=True,
                              timeout=timeout)

    def fab_with_fault(self, marker, fault, *args, task="full", config=None, hosts=None):
        """Run `fab ... task`, call fault() once `marker` is printed; (code, output).
        fab takes SIGINT as a terminal's Ctrl-C delivers it, even where the
        tests were started with it ignored (`cmd &` in a script: then fab
        would inherit that and run on)."""
        cmd = ["fab", "-S", str(self.ssh_config), *(["-f", str(config)] if config else []),
               "-H", ",".join(hosts or self.hosts), task, *args]
        proc = subprocess.Popen(cmd, cwd=REPO, stdout=subprocess.PIPE,
                                stderr=subprocess.STDOUT, text=True,
                                preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL))
        out = []
        for line in proc.stdout:
            out.append(line)
            if marker in line:
                fault(proc)
                break
        out.extend(proc.stdout)
        return proc.wait(timeout=600), "".join(out)

    def cut_when(self, condition, host, program):
        """In a thread: kill `program` on `host` once the shell `condition`
        holds on the standby (checked every 0.1 s, for up to two minutes).
        Watched on the host, not from fab's output, which arrives in blocks."""
        def watch():
            self.sh("standby", f"for i in $(seq 1200); do {condition} && break; sleep 0.1; done")
            self.sh(host, f"pkill -x {program}; true")
        thread = threading.Thread(target=watch)
        thread.start()
        return thread

    # Sizes as written: the lab's file system counts blocks late.
    APPARENT_MB = "du -sm --apparent-size"

    def cut_basebackup(self, incoming, megabytes, max_rate):
        """`full` whose pg_basebackup (a new server's copy, into `incoming`,
        a glob) is killed once more than `megabytes` arrived: the cut run's
        result, checked to have failed its copy."""
        watcher = self.cut_when(f'[ "$({self.APPARENT_MB} -c {incoming} 2>/dev/null | tail -1 '
                                f'| cut -f1)" -gt {megabytes} ]', "standby", "pg_basebackup")
        cut = self.fab("full", "--compress", "none", "--max-rate", max_rate)
        watcher.join()
        assert cut.returncode == 1 and "COPY FAILED" in cut.stdout, cut.stdout + cut.stderr
        return cut

    def status(self, *args, hosts=None, config=None):
        """`fab ... status --json`: (exit code, its document checked against
        the schema, stderr)."""
        result = self.fab("status", "--json", *args, hosts=hosts, config=config)
        document = json.loads(result.stdout)
        jsonschema.validate(document, STATUS_SCHEMA)
        assert document["code"] == result.returncode
        return result.returncode, document, result.stderr

    def connection(self, host):
        return Connection(host, config=Config(runtime_ssh_path=str(self.ssh_config)))

    def sh(self, host, command):
        """Run a command as root on a host over SSH; returns stdout."""
        return self.ssh(host, f"sudo sh -c {shlex.quote(command)}").stdout

    def on_each(self, command):
        """{host: output} of a root command on every host, through Docker: it
        works whatever sshd and the host keys say (a snapshot before and after)."""
        return {h: self.exec(h, command) for h in self.hosts}

    def home(self, host):
        """The postgres user's home (passfile, certificates)."""
        return self.exec(host, "getent passwd postgres | cut -d: -f6").strip()

    def replication_tls(self, primary="master", standby="standby"):
        """(TLS in use, protocol) of the standby's replication connection, from
        the primary's pg_stat_ssl, and the standby's sslmode, from its
        primary_conninfo (None: not set, libpq's prefer)."""
        rows = self.query(primary, "select s.ssl, s.version from pg_stat_replication r "
                                   "join pg_stat_ssl s using (pid) "
                                   f"where r.application_name = '{standby}'")
        conninfo = self.query(standby, "show primary_conninfo")[0][0]
        mode = re.search(r"\bsslmode=(\S+)", conninfo)
        return (*(rows[0] if rows else (None, None)), mode.group(1) if mode else None)

    def restartpoint(self, primary="master", standby="standby"):
        """A checkpoint on the primary that the standby replays and makes its
        last restartpoint: stopped next, the standby's WAL since it is all
        written after (what the page copy of the delta copy is for)."""
        self.query(primary, "checkpoint")
        at = self.query(primary, "select pg_current_wal_lsn()::text")[0][0]
        wait_for(lambda: self.query(standby, f"select pg_last_wal_replay_lsn() >= '{at}'")
                 == [(True,)])
        self.query(standby, "checkpoint")

    def reinit(self, host):
        """Replace the host's Debian cluster with a fresh one from initdb: a stock
        server again, whose data is not a copy of the primary."""
        data, pg = f"/var/lib/postgresql/{self.pg}/main", self.pg
        self.sh(host, f"pg_ctlcluster {pg} main stop; rm -rf {data} && sudo -u postgres "
                      f"/usr/lib/postgresql/{pg}/bin/initdb --no-sync -D {data} >/dev/null")

    @contextmanager
    def sql(self, host, dbname="postgres"):
        """psycopg2 connection to the host's PostgreSQL through an SSH tunnel."""
        conn = self.connection(host)
        with forwarded(conn, 5432) as port:
            db = connect_retrying(port, dbname)
            try:
                yield db
            finally:
                db.close()
        conn.close()

    def query(self, host, sql, dbname="postgres"):
        with self.sql(host, dbname) as db, db.cursor() as cur:
            cur.execute(sql)
            return cur.fetchall() if cur.description else None


def connect_retrying(port, dbname, attempts=50):
    for attempt in range(attempts):
        try:
            db = psycopg2.connect(host="127.0.0.1", port=port, user="lab", password="lab",
                                  dbname=dbname, connect_timeout=10)
            db.autocommit = True
            return db
        except psycopg2.OperationalError:
            if attempt == attempts - 1:
                raise
            time.sleep(0.2)


def wait_for(condition, seconds=30):
    """Poll condition() until it is true; fail the test after `seconds`."""
    deadline = time.monotonic() + seconds
    while not condition():
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.3)


@contextmanager
def running_lab(**spec):
    """spec: the Lab's fields (pg, layout, standbys, shared_sysid, standby_pg, small_disk)."""
    lab = RunningLab(**spec, project=TEST_PROJECT, lab_dir=REPO / ".lab" / TEST_PROJECT)
    lab.build(log=lambda _: None)
    compose = " ".join(labkit.compose_command())
    with environ(lab.env()), get_docker_services(
            compose, [str(f) for f in lab.compose_files], lab.project,
            ["down -v -t 1", f"up -d {' '.join(lab.hosts)}"], ["down -v -t 1"]) as services:
        lab.ports = {h: services.port_for(h, 22) for h in lab.hosts}
        lab.write_ssh_config()
        services.wait_until_responsive(lambda: all(lab.ready(h) for h in lab.hosts),
                                       timeout=120, pause=0.5)
        yield lab


@pytest.fixture(scope="module")
def lab_factory(docker_engine):
    """Start a lab with the given spec for a module; one at a time."""
    stack = []

    def start(**spec):
        for ctx in stack:
            ctx.__exit__(None, None, None)
        stack.clear()
        ctx = running_lab(**spec)
        lab = ctx.__enter__()
        stack.append(ctx)
        return lab

    yield start
    for ctx in stack:
        ctx.__exit__(None, None, None)
