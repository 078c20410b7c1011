"""The tasks: each step of the guide, `full` (every step), `plan`, and day-two
tasks.  Thin: each makes the run (its settings and options: context.py; its
hosts: hosts/cluster.py; steps/run.py), calls the steps, and turns known
failures into one line.

    fab -H master,standby full

The first host is the primary, every further host a standby.  Options fall
back to `hotstandby.*` in fabric.yaml or a `fab -f FILE`, else to the settings'
defaults (settings.py, docs/settings.md).
"""
import json as jsonlib
import logging
import sys
from contextlib import contextmanager

from invoke import Collection, Exit, task

from . import settings as table
from .context import Options, Settings, SettingsError, as_number
from .hosts.cluster import ClusterError, connect, each, roles
from .hosts.remote import RemoteError
from .knowledge import topology
from .knowledge.values import printable
from .report import Report
from .steps import (checks, failover, health, lifecycle, primary, retire, standby,
                    switchover as switchover_step, workflow)
from .steps.run import Run

# paramiko logs a closed tunnel socket as an error on stderr; failures that
# matter reach us as exceptions, so keep its log out of the user's output.
logging.getLogger("paramiko").addHandler(logging.NullHandler())
QUIET = {"quiet": "print only errors (for scripts)"}
# A flag that falls back to a setting says what the setting's help says.
FORCE = {**QUIET, "force": table.help_of("force")}
COPY = {**FORCE, **{name: table.help_of(name)
                    for name in ("method", "compress", "max_rate", "fan_out")}}
STATUS = {"json": "print one JSON document instead of the table (scripts, monitoring)",
          "warn_lag_bytes": table.help_of("status.warn_lag_bytes"),
          "warn_lag_seconds": table.help_of("status.warn_lag_seconds"),
          "quiet": "print only the problems (the exit code tells the rest)"}
STATUS_BAD_INPUT = 3   # status's exit code for bad input, a bad config included


def failure(exc, code):
    """A known failure: one line on stderr, `error: ...` (a host's text in it
    made printable), and exit `code`."""
    return Exit(f"error: {printable(exc)}", code=code)


def settings_of(c, code=1, **overrides):
    """The run's validated settings; bad config is one line and exit `code`."""
    try:
        return Settings.from_config(c.config.hotstandby, **overrides)
    except SettingsError as exc:
        raise failure(exc, code) from None


@contextmanager
def session(c, quiet=False, dry=False, force=False, method=None, compress=None,
            max_rate=None, fan_out=None):
    """Make the run's context, connect to its hosts; turn known failures into
    one line and exit 1.  dry: a plan; the hosts read but do not change."""
    settings = settings_of(c)
    report = Report(quiet=quiet, plan=dry)
    cluster = None
    try:
        options = Options.resolve(settings, method=method, force=force, dry=dry, quiet=quiet,
                                  compress=compress, max_rate=max_rate, fan_out=fan_out)
        cluster = connect(c.config, settings, dry)
        run = Run(cluster, settings, options)
        with lifecycle.cleaned_up(run, report):
            yield run, report
    except (SettingsError, ClusterError, RemoteError) as exc:
        raise failure(exc, 1) from None
    finally:
        if cluster:
            cluster.close()


def one_step(c, quiet, name, step, **options):
    """A task that is one step: connect, run it under its header, close."""
    with session(c, quiet, **options) as (run, report), report.step(name):
        step(run, report)


@task(help=FORCE)
def preflight(c, quiet=False, force=False):
    """Check every host before changing anything: what full would refuse, and why."""
    one_step(c, quiet, "preflight", checks.preflight, force=force)


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
def sync(c, quiet=False, force=False, method=None, compress=None, max_rate=None,
         fan_out=None):
    """Copy the primary's data directory to each standby, all at once.

    After stop-all (the guide's order) the copy is cold, whatever the method.
    With the primary running: basebackup copies it as it runs; rsync makes
    the first (bulk) pass, and sync after stop-all the second.
    """
    one_step(c, quiet, "sync", workflow.sync, force=force, method=method, compress=compress,
             max_rate=max_rate, fan_out=fan_out)


@task(help=QUIET)
def start_standby_then_master(c, quiet=False):
    """Start the standbys, then the primary, and wait until they accept connections."""
    one_step(c, quiet, "start-standby-then-master", lifecycle.start_standbys_then_primary)


@task(help=QUIET)
def smoke_test(c, quiet=False):
    """Check rows replicate, standbys refuse writes and stream; exit 1 on a failure."""
    one_step(c, quiet, "smoke-test", workflow.check_smoke)


@task(help=COPY)
def full(c, quiet=False, force=False, method=None, compress=None, max_rate=None,
         fan_out=None):
    """Every step in order: a streaming hot standby on each standby host."""
    with session(c, quiet, force=force, method=method, compress=compress,
                 max_rate=max_rate, fan_out=fan_out) as (run, report):
        workflow.full(run, report)


@task(help=COPY)
def plan(c, quiet=False, force=False, method=None, compress=None, max_rate=None,
         fan_out=None):
    """What full would change on each host, changing nothing: file diffs, role,
    slots, restarts, servers stopped and data copied (with its size, compression
    and rate cap).  `plan switchover` and `plan remove-standby` plan those."""
    with session(c, quiet, dry=True, force=force, method=method, compress=compress,
                 max_rate=max_rate, fan_out=fan_out) as (run, report):
        workflow.full(run, report)


@task(help=STATUS)
def status(c, json=False, warn_lag_bytes=None, warn_lag_seconds=None, quiet=False):
    """A row per host: role, WAL positions, lag, slot.  Changes nothing.

    Exit 0 when every standby streams, 1 (warning) when one lags beyond the
    thresholds, 2 (critical) when one is down or not streaming, 3 on bad input.
    """
    settings = settings_of(c, code=STATUS_BAD_INPUT, **{
        f"status.{name}": None if value is None else as_number(value)
        for name, value in (("warn_lag_bytes", warn_lag_bytes),
                            ("warn_lag_seconds", warn_lag_seconds))})
    try:
        primary_name, standby_names = roles(settings)
    except ClusterError as exc:
        raise failure(exc, STATUS_BAD_INPUT) from None
    names = [primary_name, *standby_names]
    expected = ["primary"] + ["standby"] * len(standby_names)
    looked = each(list(zip(names, expected)),
                  lambda pair: health.look(*pair, c.config, settings))
    for outcome in looked:   # look reports a broken host in its view: this is a bug
        if outcome.error is not None:
            raise outcome.error
    views = [outcome.value for outcome in looked]
    rows, problems = health.assess(views, settings.status.warn_lag_bytes,
                                   settings.status.warn_lag_seconds, settings.tls.mode,
                                   topology.make(primary_name, standby_names, settings.hosts))
    code = health.level(problems)
    if json:
        print(jsonlib.dumps(health.document(rows, problems), indent=2))
    elif not quiet:
        print(health.table(rows, colour=health.use_colour(sys.stdout)))
        print(f"status: {health.LEVELS[code]}")
    for lvl, text in problems:
        print(f"{health.LEVELS[lvl].lower()}: {printable(text)}", file=sys.stderr)
    if code:
        raise Exit(code=code)


status.bad_input_exit = STATUS_BAD_INPUT   # a config refused before it runs (executor.py)


@task(help={**QUIET, "standby": "the standby to promote, when several are given",
            "force": "promote even though the old primary still accepts writes (split brain)"})
def promote(c, standby=None, force=False, quiet=False):
    """Make a standby the primary: `fab -H <old primary>,<standby> promote`.

    Refuses while the old primary accepts writes (stop it first) unless --force;
    the old primary may be down or unreachable.  Waits until the new primary
    accepts writes, then says how to bring the others along.
    """
    report = Report(quiet=quiet)
    settings = settings_of(c)
    try:
        old, standbys = roles(settings)
        new = failover.candidate_name(standbys, standby)
        with report.step("promote"):
            failover.promote(c.config, settings, old, new, bool(force or settings.force),
                             report)
    except (ClusterError, RemoteError) as exc:
        raise failure(exc, 1) from None
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
    with session(c, quiet) as (run, report):
        with report.step("rejoin"):
            failover.rejoin(run, report, resync)
        with report.step("smoke-test"):
            workflow.check_smoke(run, report)
        report.summary(run)


@task(help={**QUIET, "standby": "the standby to promote, when several are given (the others "
                                 "follow it)",
            "plan": "show the steps and every file change, changing nothing"})
def switchover(c, standby=None, plan=False, quiet=False):
    """Swap a healthy primary and one of its standbys: `fab -H <primary>,<standby> switchover`.

    Checks first (changing nothing), prepares the standby to be the primary,
    stops the primary cleanly, proves the standby received its shutdown
    checkpoint, promotes it; the old primary becomes its standby and the other
    standbys follow it, with no copy and no pg_rewind.  Rolled back (the old
    primary starts again) if the proof fails or the promotion does not finish.
    """
    with session(c, quiet, dry=plan) as (run, report):
        switchover_step.switchover(run, report, standby)


@task(help={**QUIET, "plan": "show what would be removed and stopped, changing nothing"})
def remove_standby(c, plan=False, quiet=False):
    """Retire standbys: `fab -H <primary>,<standby>[,...] remove-standby`.

    What feeds each one (the primary, or its upstream) drops its pg_hba lines
    and its replication slot (no WAL is kept for it); on each retired host
    PostgreSQL is stopped, kept from starting at boot and its passfile
    removed; its data directory is kept.  A retired host that cannot be
    reached is still forgotten by what fed it.
    """
    raw = c.config.hotstandby
    given = [h.strip() for h in raw.get("cli_hosts") or () if h.strip()]
    if len(given) < 2:   # never every standby of a config file by default
        raise Exit("error: name the hosts: -H PRIMARY,STANDBY[,...] (the standbys to retire)",
                   code=1)
    primary_name, names = given[0], given[1:]
    # Checked as a run of the primary, these and the upstreams that feed them.
    settings = settings_of(c, cli_hosts=[primary_name, *topology.with_upstreams(
        primary_name, names, dict(raw.get("hosts") or {}))])
    report = Report(quiet=quiet, plan=plan)
    try:
        roles(settings)   # the names themselves: each once, slots apart
        with report.step("remove-standby"):
            retire.remove_standbys(c.config, settings, report, plan, primary_name, names)
    except (ClusterError, RemoteError) as exc:
        raise failure(exc, 1) from None
    if plan:
        report.say(f"  plan: {len(report.changes)} changes; run remove-standby without --plan "
                   "to make them")


ns = Collection(preflight, configure_master, configure_standby, stop_all, sync,
                start_standby_then_master, smoke_test, full, plan, status, promote, rejoin,
                switchover, remove_standby)
# Every setting with its default: a FABRIC_HOTSTANDBY_* variable is read only
# into a key that exists (Invoke), as the type of the value it replaces.
ns.configure({"hotstandby": table.defaults()})
# An unreachable host fails in seconds rather than hanging (fab --connect-timeout wins).
ns.configure({"timeouts": {"connect": 15}})
