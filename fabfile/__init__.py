"""pg-hotstandby: a streaming hot standby for a PostgreSQL server, over SSH.

    fab -H master,standby full

The first host is the primary, every further host a standby.  Each step of the
guide is also a task of its own, for troubleshooting.  Options fall back to
`hotstandby.*` in config/defaults.yaml, fabric.yaml or a `fab -f FILE`.
"""
from contextlib import contextmanager
from pathlib import Path

import yaml
from invoke import Collection, Exit, task

from . import lifecycle, primary, server, smoke, standby, sync as sync_step
from .cluster import ClusterError, connect
from .remote import RemoteError
from .report import Report

DEFAULTS = Path(__file__).resolve().parent.parent / "config" / "defaults.yaml"
QUIET = {"quiet": "print only errors (for scripts)"}


@contextmanager
def session(c, quiet):
    """Connect to the run's hosts; turn known failures into one line and exit 1."""
    report = Report(quiet=quiet)
    cluster = None
    try:
        cluster = connect(c.config, c.config.hotstandby.get("cli_hosts"))
        yield cluster, report
    except (ClusterError, RemoteError) as exc:
        raise Exit(f"error: {exc}", code=1) from None
    finally:
        if cluster:
            cluster.close()


@task(help=QUIET)
def configure_master(c, quiet=False):
    """Configure the primary: settings, replication role, pg_hba, slots."""
    with session(c, quiet) as (cluster, report), report.step("configure-master"):
        primary.configure(cluster, report)


@task(help=QUIET)
def configure_standby(c, quiet=False):
    """Configure the standbys: hot_standby, primary_conninfo, passfile, limits."""
    with session(c, quiet) as (cluster, report), report.step("configure-standby"):
        standby.configure(cluster, report)


@task(help=QUIET)
def stop_all(c, quiet=False):
    """Stop PostgreSQL on the primary, then on the standbys (fast, clean)."""
    with session(c, quiet) as (cluster, report), report.step("stop-all"):
        lifecycle.stop_all(cluster, report)


@task(help=QUIET)
def sync(c, quiet=False):
    """Copy the stopped primary's data directory to each stopped standby (rsync)."""
    with session(c, quiet) as (cluster, report), report.step("sync"):
        sync_step.sync(cluster, report)


@task(help=QUIET)
def start_standby_then_master(c, quiet=False):
    """Start the standbys, then the primary, and wait until they accept connections."""
    with session(c, quiet) as (cluster, report), report.step("start-standby-then-master"):
        lifecycle.start_standbys_then_primary(cluster, report)


@task(help=QUIET)
def smoke_test(c, quiet=False):
    """Check rows replicate, standbys refuse writes and stream; exit 1 on a failure."""
    with session(c, quiet) as (cluster, report), report.step("smoke-test"):
        check_smoke(cluster, report)


def check_smoke(cluster, report):
    failed = [r for r in smoke.run_checks(cluster, report) if not r[2]]
    if failed:
        raise ClusterError(f"smoke test: {len(failed)} check(s) failed: "
                           + "; ".join(f"{h}: {name}" for h, name, _, _ in failed))
    report.say("  smoke test passed")


@task(help=QUIET)
def full(c, quiet=False):
    """Every step in order: a streaming hot standby on each standby host."""
    with session(c, quiet) as (cluster, report):
        with report.step("configure-master"):
            pending = primary.configure(cluster, report)
        with report.step("configure-standby"):
            reconfigured = standby.configure(cluster, report)
        streaming = server.streaming_standbys(cluster)
        targets = [s for s in cluster.standbys if s.name not in streaming]
        if targets or pending:
            with lifecycle.primary_kept_up(cluster, report):
                with report.step("stop-all"):
                    lifecycle.stop_all(cluster, report, targets)
                with report.step("sync"):
                    sync_step.sync(cluster, report, targets)
                with report.step("start-standby-then-master"):
                    lifecycle.start_standbys_then_primary(cluster, report, targets)
        else:
            report.say("== stop-all, sync, start-standby-then-master ==")
            report.note(cluster.primary.name, "every standby already streams from it: "
                                              "nothing to stop or copy")
        for s in cluster.standbys:
            if s.name in reconfigured and s not in targets:
                server.control(s, "restart")
                report.change(s.name, "restarted PostgreSQL for its new settings")
        with report.step("smoke-test"):
            check_smoke(cluster, report)
        report.summary(cluster)


ns = Collection(configure_master, configure_standby, stop_all, sync,
                start_standby_then_master, smoke_test, full)
ns.configure(yaml.safe_load(DEFAULTS.read_text()))
