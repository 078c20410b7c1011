"""pg-hotstandby: a streaming hot standby for a PostgreSQL server, over SSH.

    fab -H master,standby full

The first host is the primary, every further host a standby.  Each step of the
guide is also a task of its own, for troubleshooting.  Options fall back to
`hotstandby.*` in fabfile/defaults.yaml, fabric.yaml or a `fab -f FILE`.
"""
import json as jsonlib
import logging
import sys
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from pathlib import Path

import yaml
from invoke import Collection, Exit, task

from .steps import checks, clone, failover, health, lifecycle, primary, server, smoke, standby
from .knowledge import diagnose
from .hosts.cluster import ClusterError, connect, roles
from .knowledge.settings import SettingsError, as_number, validate
from .hosts.remote import RemoteError
from .report import Report

DEFAULTS = Path(__file__).resolve().parent / "defaults.yaml"
# paramiko logs a closed tunnel socket as an error on stderr; failures that
# matter reach us as exceptions, so keep its log out of the user's output.
logging.getLogger("paramiko").addHandler(logging.NullHandler())
QUIET = {"quiet": "print only errors (for scripts)"}
FORCE = {**QUIET, "force": "replace a standby's data directory even when it holds another "
                           "cluster's databases (it is moved aside, not deleted)"}
COPY = {**FORCE, "method": "how to copy a running primary: basebackup (the default: "
                           "pg_basebackup, the primary keeps running), rsync (the bulk while "
                           "it runs, what changed once stopped) or rsync-cold (the guide's: "
                           "both stopped for the whole copy)"}


@contextmanager
def session(c, quiet, dry=False):
    """Connect to the run's hosts; turn known failures into one line and exit 1.
    dry: a plan; the hosts read but do not change (see remote.Host)."""
    report = Report(quiet=quiet, plan=dry)
    cluster = None
    try:
        cluster = connect(c.config, c.config.hotstandby.get("cli_hosts"))
        for host in cluster.hosts:
            host.dry = dry
        yield cluster, report
    except (ClusterError, RemoteError) as exc:
        raise Exit(f"error: {exc}", code=1) from None
    finally:
        if cluster:
            cluster.close()


def one_step(c, quiet, name, step, **options):
    """A task that is one step: connect, run it under its header, close."""
    with session(c, quiet) as (cluster, report), report.step(name):
        step(cluster, report, **options)


def _force(c, flag):
    return bool(flag or c.config.hotstandby.force)


def _method(c, method):
    """--method, else hotstandby.method; checked with the rest of the config."""
    if method:
        c.config.hotstandby.method = method
    return c.config.hotstandby.method


@task(help=FORCE)
def preflight(c, quiet=False, force=False):
    """Check every host before changing anything: what full would refuse, and why."""
    one_step(c, quiet, "preflight", checks.run, force=_force(c, force),
             method=_method(c, None))


@task(help=QUIET)
def configure_master(c, quiet=False):
    """Configure the primary: settings, replication role, pg_hba, slots."""
    one_step(c, quiet, "configure-master", primary.configure)


@task(help=QUIET)
def configure_standby(c, quiet=False):
    """Configure the standbys: hot_standby, primary_conninfo, passfile, limits."""
    one_step(c, quiet, "configure-standby", standby.configure)


@task(help=QUIET)
def stop_all(c, quiet=False):
    """Stop PostgreSQL on the standbys, then on the primary (fast, clean)."""
    one_step(c, quiet, "stop-all", lifecycle.stop_all)


@task(help=COPY)
def sync(c, quiet=False, force=False, method=None):
    """Copy the primary's data directory to each standby, all at once.

    After stop-all (the guide's order) the copy is cold, whatever the method.
    With the primary running: basebackup copies it as it runs; rsync makes
    the first (bulk) pass, and sync after stop-all the second.
    """
    def step(cluster, report, **options):
        clone.all_copied(clone.sync(cluster, report, **options))
    one_step(c, quiet, "sync", step, force=_force(c, force), method=_method(c, method))


@task(help=QUIET)
def start_standby_then_master(c, quiet=False):
    """Start the standbys, then the primary, and wait until they accept connections."""
    one_step(c, quiet, "start-standby-then-master", lifecycle.start_standbys_then_primary)


@task(help=QUIET)
def smoke_test(c, quiet=False):
    """Check rows replicate, standbys refuse writes and stream; exit 1 on a failure."""
    one_step(c, quiet, "smoke-test", check_smoke)


def check_smoke(cluster, report):
    results = smoke.run_checks(cluster, report)
    failed = [r for r in results if not r[2]]
    if not results:
        raise ClusterError("smoke test ran no check")
    if failed:
        causes = [diagnose.explain(s.name, server.log_tail(s), ignore=(smoke.ROLE,))
                  for s in cluster.standbys
                  if any(r[0] == s.name for r in failed)]
        raise ClusterError(f"smoke test: {len(failed)} check(s) failed: "
                           + "; ".join(f"{h}: {name}" for h, name, _, _ in failed)
                           + ("; " + "; ".join(causes) if causes else ""))
    report.say("  smoke test passed")


def check_replication_login(cluster, report):
    """Before stopping anything: each standby can log in for replication."""
    for s in cluster.standbys:
        system_id, error = checks.replication_login(cluster, s)
        if error:
            raise ClusterError("replication login from a standby fails: "
                               + diagnose.explain(s.name, error))
        report.note(s.name, f"replication login to the primary works (system {system_id})")


@task(help=COPY)
def full(c, quiet=False, force=False, method=None):
    """Every step in order: a streaming hot standby on each standby host."""
    method = _method(c, method)
    with session(c, quiet) as (cluster, report):
        every_step(cluster, report, _force(c, force), method)


@task(help=COPY)
def plan(c, quiet=False, force=False, method=None):
    """What full would change on each host, changing nothing: file diffs, role,
    slots, restarts, servers stopped and data copied (with its size)."""
    method = _method(c, method)
    with session(c, quiet, dry=True) as (cluster, report):
        every_step(cluster, report, _force(c, force), method)


def every_step(cluster, report, force, method):
    """full's steps in order; on dry hosts, what they would do.  With the
    basebackup method the primary is not stopped for the copy."""
    dry = cluster.primary.dry
    with report.step("preflight"):
        checks.run(cluster, report, force, method)
    with report.step("configure-master"):
        if primary.configure(cluster, report):
            # Now, so that the standbys' login is proven (listen_addresses)
            # before anything is stopped.
            with lifecycle.primary_kept_up(cluster, report):
                lifecycle.restart_primary(cluster, report)
    with report.step("configure-standby"):
        reconfigured = standby.configure(cluster, report)
        if not dry:   # needs what configure-master would write
            check_replication_login(cluster, report)
    streaming = server.streaming_standbys(cluster)
    targets = [s for s in cluster.standbys if s.name not in streaming]
    if targets:
        copy_standbys(cluster, report, targets, force, method)
    else:
        report.say("== stop-all, sync, start-standby-then-master ==")
        report.note(cluster.primary.name, "every standby already streams from it: "
                                          "nothing to stop or copy")
    for s in cluster.standbys:
        if s.name in reconfigured and s not in targets:
            lifecycle.apply_standby_settings(s, reconfigured[s.name], report)
    if not dry:
        with report.step("smoke-test"):
            check_smoke(cluster.without(report.failed), report)
    report.summary(cluster)
    clone.all_copied(report.failed)


def copy_standbys(cluster, report, targets, force, method):
    """stop-all, sync and start-standby-then-master for the standbys that do not
    stream, the primary down no longer than the method needs: not at all with
    basebackup, the second pass with rsync, the whole copy with rsync-cold.
    A standby whose copy fails is left out of the later steps."""
    def left(failed):
        return [s for s in targets if s.name not in failed]
    if method == "basebackup":
        with report.step("sync"):
            targets = left(clone.basebackup(cluster, report, targets, force))
        with report.step("start-standby-then-master"):
            lifecycle.start_standbys_then_primary(cluster, report, targets)
        return
    with lifecycle.primary_kept_up(cluster, report):
        if method == "rsync":
            with report.step("sync (first pass)"):
                targets = left(clone.first_pass(cluster, report, targets, force))
            if not targets:
                return
        with report.step("stop-all"):
            lifecycle.stop_all(cluster, report, targets)
        with report.step("sync (second pass)" if method == "rsync" else "sync"):
            targets = left(clone.cold(cluster, report, targets, force,
                                      second_pass=method == "rsync"))
        with report.step("start-standby-then-master"):
            lifecycle.start_standbys_then_primary(cluster, report, targets)


@task(help={"json": "print one JSON document instead of the table (scripts, monitoring)",
            "warn_lag_bytes": "a standby further behind than this many bytes is a warning",
            "warn_lag_seconds": "a standby replaying later than this many seconds is a warning",
            "quiet": "print only the problems (the exit code tells the rest)"})
def status(c, json=False, warn_lag_bytes=None, warn_lag_seconds=None, quiet=False):
    """A row per host: role, WAL positions, lag, slot.  Changes nothing.

    Exit 0 when every standby streams, 1 (warning) when one lags beyond the
    thresholds, 2 (critical) when one is down or not streaming, 3 on bad input.
    """
    settings = c.config.hotstandby
    for name, value in (("warn_lag_bytes", warn_lag_bytes),
                        ("warn_lag_seconds", warn_lag_seconds)):
        if value is not None:
            settings.status[name] = as_number(value)
    try:
        validate(settings)
        primary_name, standby_names = roles(settings.get("cli_hosts"), settings)
    except (SettingsError, ClusterError) as exc:
        raise Exit(f"error: {exc}", code=3) from None
    names = [primary_name, *standby_names]
    expected = ["primary"] + ["standby"] * len(standby_names)
    with ThreadPoolExecutor(len(names)) as pool:
        views = list(pool.map(health.look, names, expected, [c.config] * len(names)))
    rows, problems = health.assess(views, settings.status.warn_lag_bytes,
                                   settings.status.warn_lag_seconds)
    code = health.level(problems)
    if json:
        print(jsonlib.dumps(health.document(rows, problems), indent=2))
    elif not quiet:
        print(health.table(rows, colour=health.use_colour(sys.stdout)))
        print(f"status: {health.LEVELS[code]}")
    for lvl, text in problems:
        print(f"{health.LEVELS[lvl].lower()}: {text}", file=sys.stderr)
    if code:
        raise Exit(code=code)


@task(help={**QUIET, "standby": "the standby to promote, when several are given",
            "force": "promote even though the old primary still accepts writes (split brain)"})
def promote(c, standby=None, force=False, quiet=False):
    """Make a standby the primary: `fab -H <old primary>,<standby> promote`.

    Refuses while the old primary accepts writes (stop it first) unless --force;
    the old primary may be down or unreachable.  Waits until the new primary
    accepts writes, then says how to bring the others along.
    """
    report = Report(quiet=quiet)
    settings = c.config.hotstandby
    try:
        validate(settings)
        old, standbys = roles(settings.get("cli_hosts"), settings)
        new = failover.candidate_name(standbys, standby)
        with report.step("promote"):
            failover.promote(c.config, old, new, _force(c, force), report)
    except (SettingsError, ClusterError, RemoteError) as exc:
        raise Exit(f"error: {exc}", code=1) from None
    others = ",".join(s for s in standbys if s != new)
    report.say(f"  next: fab -H {new},{old} rejoin   # {old} back as a standby of {new}")
    if others:
        report.say(f"  then: fab -H {new},{old},{others} full   # the other standbys follow "
                   f"{new} (list every standby: those left out lose their slot)")


@task(help={**QUIET, "resync": "where pg_rewind cannot run, copy the primary's data instead "
                                "(the primary is stopped for the copy)"})
def rejoin(c, resync=False, quiet=False):
    """Bring a former primary back as a standby: `fab -H <new primary>,<old> rejoin`.

    Configures the new primary for it, keeps a copy of its data directory (the
    old timeline), rewinds it with pg_rewind, starts it as a standby and runs
    the smoke test.
    """
    with session(c, quiet) as (cluster, report):
        with report.step("rejoin"):
            failover.rejoin(cluster, report, resync)
        with report.step("smoke-test"):
            check_smoke(cluster, report)
        report.summary(cluster)


ns = Collection(preflight, configure_master, configure_standby, stop_all, sync,
                start_standby_then_master, smoke_test, full, plan, status, promote, rejoin)
ns.configure(yaml.safe_load(DEFAULTS.read_text()))
# An unreachable host fails in seconds rather than hanging (fab --connect-timeout wins).
ns.configure({"timeouts": {"connect": 15}})
