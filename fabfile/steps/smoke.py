"""The guide's last step, as checks: rows written on the primary appear on
every standby, a standby refuses writes, and both ends report streaming.

Runs from the control machine with psycopg2 through SSH tunnels, as a client
of the servers would, under a short-lived role that is dropped afterwards.
"""
import socket
import time
from contextlib import ExitStack, contextmanager

import psycopg2
from invoke.exceptions import ThreadException
from paramiko.ssh_exception import SSHException
from psycopg2 import errors

from . import server
from ..knowledge import passwords, render, topology, versions
from ..knowledge.lsn import Lsn
from ..hosts.cluster import ClusterError

ROLE = "hotstandby_smoke"
ROWS = 100


def free_port():
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@contextmanager
def forwarded(conn, remote_port):
    """A local port forwarded to 127.0.0.1:remote_port on the host.

    A client that drops its socket (psycopg2 on close) makes a tunnel thread
    see a reset or EOF; that is the end of a session, not an error, and it
    never hides an error raised by the body.
    """
    port = free_port()
    tunnel = conn.forward_local(port, remote_port=remote_port, remote_host="127.0.0.1")
    tunnel.__enter__()
    body_failed = False
    try:
        yield port
    except BaseException:
        body_failed = True
        raise
    finally:
        try:
            tunnel.__exit__(None, None, None)
        except ThreadException as exc:
            # Sockets and channels torn down as the session ends (paramiko's
            # "SSH session not active" for a connection accepted meanwhile).
            benign = (OSError, EOFError, SSHException)
            if not body_failed and not all(isinstance(e.value, benign)
                                           for e in exc.exceptions):
                raise


def connect(port, password, timeout):
    """Connect through a tunnel, retrying while the tunnel starts listening
    and while a standby has not yet replayed the role's creation."""
    deadline = time.monotonic() + timeout
    while True:
        try:
            conn = psycopg2.connect(host="127.0.0.1", port=port, user=ROLE, password=password,
                                    dbname="postgres", connect_timeout=10)
            conn.autocommit = True
            return conn
        except psycopg2.OperationalError as exc:
            if time.monotonic() > deadline:
                raise
            # Refused: Fabric's tunnel thread is not listening yet (a local
            # matter: soon).  Else each failed login is a log line on the server.
            time.sleep(0.05 if "Connection refused" in str(exc) else 1)


def first_line(exc):
    return str(exc).strip().splitlines()[0]


def setup_sql(verifier, stats_role):
    """The smoke role, its password given as a verifier (passwords.verifier)."""
    grant = f"GRANT {stats_role} TO {ROLE};\n" if stats_role else ""
    return (render.QUIET_SESSION + "SET client_min_messages = warning;\n"
            f"DROP SCHEMA IF EXISTS {ROLE} CASCADE;\nDROP ROLE IF EXISTS {ROLE};\n"
            f"CREATE ROLE {ROLE} LOGIN PASSWORD {render.sql_literal(verifier)};\n"
            f"CREATE SCHEMA {ROLE} AUTHORIZATION {ROLE};\n{grant}")


def run_checks(run, report, standbys):
    """Returns [(host, check, ok, detail)] for the primary and these standbys;
    the tables and role are removed after."""
    p = run.primary
    password = passwords.new()
    major = p.layout.major
    p.psql_secret(setup_sql(passwords.verifier(versions.fact("password_verifier", major),
                                               ROLE, password),
                            versions.fact("read_all_stats_role", major)))
    results = []

    def check(host, name, ok, detail=""):
        results.append((host.name, name, ok, detail))
        report.say(f"  {'PASS' if ok else 'FAIL'}  {host.name}: {name}"
                   + (f" ({detail})" if detail else ""))

    try:
        with ExitStack() as stack:
            timeout = run.settings.timeouts.stream
            try:
                conn = connect(stack.enter_context(forwarded(p.conn, p.layout.port)),
                               password, timeout)
            except psycopg2.OperationalError as exc:
                raise ClusterError("smoke test cannot reach PostgreSQL through SSH: "
                                   f"{first_line(exc)}; check pg_hba.conf allows "
                                   "password logins from 127.0.0.1") from None
            stack.callback(conn.close)
            probe = primary_checks(run, standbys, conn, check)
            for s in standbys:
                if run.topology.delay_ms(s.name):
                    delayed_checks(run, s, probe, check)
                    continue
                try:
                    conn = connect(stack.enter_context(forwarded(s.conn, s.layout.port)),
                                   password, timeout)
                except psycopg2.OperationalError as exc:
                    # The smoke role comes by replication: no login, no replay.
                    check(s, "replays the primary's changes (smoke role can log in)", False,
                          first_line(exc))
                    continue
                stack.callback(conn.close)
                standby_checks(run, s, conn, check)
    finally:
        p.psql(f"DROP SCHEMA IF EXISTS {ROLE} CASCADE; DROP ROLE IF EXISTS {ROLE}", warn=True)
    return results


def primary_checks(run, standbys, conn, check):
    p = run.primary
    with conn.cursor() as cur:
        cur.execute(f"create table {ROLE}.rows (id int primary key, note text)")
        cur.execute(f"insert into {ROLE}.rows select g, 'row ' || g "
                    f"from generate_series(1, {ROWS}) g")
        cur.execute("select pg_is_in_recovery(), "
                    f"{versions.fact('current_lsn_function', p.layout.major)}()::text")
        in_recovery, probe = cur.fetchone()
        check(p, "accepts writes (not in recovery)", in_recovery is False)
    wanted = {s.name for s in standbys}
    deadline = time.monotonic() + run.settings.timeouts.stream
    while True:   # each on its feeder: the primary, or its upstream
        streaming = server.streaming_standbys(run)
        if wanted <= streaming or time.monotonic() > deadline:
            break
        time.sleep(0.2)
    for s in standbys:
        check(run.feeder(s), f"lists {s.name} in pg_stat_replication as streaming",
              s.name in streaming)
    return Lsn.parse(probe)


def delayed_checks(run, s, probe, check):
    """A delayed standby replays the rows only after its delay: it must
    receive them (WAL past the probe's position) and be a streaming standby.
    Read as postgres on the host: the smoke role is not replayed there yet."""
    major = s.layout.major
    deadline = time.monotonic() + run.settings.timeouts.stream
    while True:
        rows = s.psql(f"select {versions.fact('receive_lsn_function', major)}()::text, "
                      "pg_is_in_recovery()", warn=True)
        received = Lsn.parse_or_none(rows[0][0]) if rows else None
        if received is not None and received >= probe or time.monotonic() > deadline:
            break
        time.sleep(0.2)
    check(s, f"receives the WAL of the {ROWS} rows written on the primary (delayed: replays "
             f"them after {topology.pg_duration(run.topology.delay_ms(s.name))})",
          received is not None and received >= probe,
          f"received up to {received}, rows at {probe}" if received is None or received < probe
          else "")
    check(s, "is in recovery", bool(rows) and rows[0][1] == "t")


def standby_checks(run, s, conn, check):
    deadline = time.monotonic() + run.settings.timeouts.stream
    count = None
    with conn.cursor() as cur:
        while time.monotonic() < deadline:
            try:
                cur.execute(f"select count(*) from {ROLE}.rows")
                count = cur.fetchone()[0]
                if count == ROWS:
                    break
            except errors.UndefinedTable:
                pass
            time.sleep(0.2)
        check(s, f"sees the {ROWS} rows written on the primary", count == ROWS,
              "" if count == ROWS else f"saw {count}")
        cur.execute("select pg_is_in_recovery()")
        check(s, "is in recovery", cur.fetchone()[0] is True)
        receiver = versions.fact("wal_receiver_view", s.layout.major)
        if receiver:   # before 9.6 the primary's pg_stat_replication alone tells
            cur.execute(f"select status from {receiver}")
            row = cur.fetchone()
            check(s, "WAL receiver is streaming", bool(row) and row[0] == "streaming",
                  "" if row else "no WAL receiver")
        try:
            cur.execute(f"insert into {ROLE}.rows values (0, 'must fail')")
            refused, detail = False, "the write succeeded"
        except psycopg2.Error as exc:
            refused, detail = exc.pgcode == "25006", f"SQLSTATE {exc.pgcode}"
        check(s, "refuses writes", refused, detail)
