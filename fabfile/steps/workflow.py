"""The guide as one workflow: `full` (and `plan`, on dry hosts) runs every
step in order, and the checks that sit between steps.  Every method but
rsync-cold copies without stopping the primary; a standby that already
streams is left alone (the default method picks the cheapest way for the
others: clone.pick); a standby whose copy fails does not stop the others."""
from contextlib import suppress

from . import checks, clone, lifecycle, methods, primary, server, smoke, standby
from ..hosts.cluster import ClusterError
from ..hosts.remote import RemoteError
from ..knowledge import diagnose


def full(run, report):
    """full's steps in order; on dry hosts, what they would do.  Only
    rsync-cold stops the primary for the copy."""
    dry = run.options.dry
    with report.step("preflight"):
        checks.preflight(run, report)
    with report.step("configure-master"):
        if primary.configure(run, report):
            # Now, so that the standbys' login is proven (listen_addresses)
            # before anything is stopped.
            with lifecycle.primary_kept_up(run, report):
                lifecycle.restart_primary(run, report)
    with report.step("configure-standby"):
        reconfigured = standby.configure(run, report)
        if not dry:   # needs what configure-master would write
            check_replication_login(run, report)
    streaming = server.streaming_standbys(run)
    applied = set()
    if not dry:
        back, applied = lifecycle.reconnect(run, report, reconfigured, streaming)
        streaming |= back
    targets = [s for s in run.standbys if s.name not in streaming]
    if targets:
        methods.copy_standbys(run, report, targets, settle=False)
    else:
        report.say("== stop-all, sync, start-standby-then-master ==")
        report.note(run.primary.name, "every standby already streams from it: "
                                      "nothing to stop or copy")
    for s in run.standbys:
        if s.name in reconfigured and s not in targets and s.name not in applied:
            lifecycle.apply_standby_settings(s, reconfigured[s.name], report)
    if not dry:
        # The units of the standbys just started finish starting during the
        # smoke test (Debian's probes for 2 s after the server accepts
        # connections): the run ends with each one active.
        started = [s for s in targets if s.name not in run.state.failed]
        with report.step("smoke-test"):
            try:
                check_smoke(run, report, [s for s in run.standbys
                                          if s.name not in run.state.failed])
            except Exception:
                with suppress(ClusterError, RemoteError):   # the smoke test's error is the one
                    lifecycle.settle_standbys(run, started)
                raise
            lifecycle.settle_standbys(run, started)
    report.summary(run)
    clone.all_copied(run.state.failed)


def sync(run, report):
    """The sync task: every standby copied as the method and the primary's
    state say (methods.sync); the run fails when any copy did."""
    clone.all_copied(methods.sync(run, report))


def check_smoke(run, report, standbys=None):
    """The smoke test of the primary and its standbys (standbys: those whose
    copy did not fail); a ClusterError naming each failed check and its cause."""
    standbys = run.standbys if standbys is None else standbys
    if not standbys:   # every copy failed: nothing was checked, nothing passed
        report.say("  smoke test: no standby to check (every copy failed)")
        return
    results = smoke.run_checks(run, report, standbys)
    failed = [r for r in results if not r[2]]
    if not results:
        raise ClusterError("smoke test ran no check")
    if failed:
        causes = [diagnose.explain(s.name, server.log_tail(s), ignore=(smoke.ROLE,))
                  for s in standbys
                  if any(r[0] == s.name for r in failed)]
        raise ClusterError(f"smoke test: {len(failed)} check(s) failed: "
                           + "; ".join(f"{h}: {name}" for h, name, _, _ in failed)
                           + ("; " + "; ".join(causes) if causes else ""))
    report.say("  smoke test passed")


def check_replication_login(run, report):
    """Before stopping anything: each standby can log in for replication."""
    for s in run.standbys:
        feeder = run.feeder(s)
        if feeder is not run.primary and not server.in_recovery(feeder):
            report.note(s.name, f"its replication login to {feeder.name} is proven by the "
                                f"smoke test: {feeder.name} does not run as a standby yet")
            continue
        system_id, error = checks.replication_login(run, s)
        if error:
            raise ClusterError("replication login from a standby fails: "
                               + diagnose.explain(s.name, error))
        report.note(s.name, f"replication login to {feeder.name} works (system {system_id})")
