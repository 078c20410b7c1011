"""How a standby gets its copy of the primary: the copy methods, registered in
`METHODS` (the one list the command line, config validation, preflight and the
benchmark read), and the one workflow that stops, copies and starts for
`full`, `sync` and `rejoin --resync`.

A method says what it needs on the hosts, whether the primary stops (and for
what), what a plan says of it, and how it copies one standby while the primary
runs.  A stopped primary is always copied the same way, cold (clone.cold):
after stop-all in the guide's order, and for rsync's second pass.
"""
from . import clone, lifecycle, server


class CopyMethod:
    name = ""
    help = ""
    needs = ()                   # programs on every host (preflight checks them)
    running_copy = ""            # how a running primary is copied (plan text), or ""
    program = "rsync"            # what copies a running primary (compression depends on it)
    primary_stops = ""           # what the primary is stopped for, or "" (never)
    swaps_in = False             # the copy is made beside the data directory, then renamed

    def copy_one(self, run, standby, primary_state, report):
        """Copy the running primary to one standby (stopped for it)."""
        raise NotImplementedError


class Basebackup(CopyMethod):
    name = "basebackup"
    help = "the default: pg_basebackup on each standby, the primary keeps running"
    running_copy = "pg_basebackup"
    program = "pg_basebackup"
    swaps_in = True

    def copy_one(self, run, standby, primary_state, report):
        clone.backup_to(run, standby, primary_state, report)


class Rsync(CopyMethod):
    name = "rsync"
    help = "the bulk while the primary runs, what changed once it is stopped"
    needs = ("rsync",)
    running_copy = "first pass, primary running"
    primary_stops = "the second pass"

    def copy_one(self, run, standby, primary_state, report):
        clone.copy_to(run, standby, primary_state, report, first_pass=True)


class RsyncCold(CopyMethod):
    name = "rsync-cold"
    help = "the guide's: both stopped for the whole copy"
    needs = ("rsync",)
    primary_stops = "the whole copy"


METHODS = {m.name: m for m in (RsyncCold(), Rsync(), Basebackup())}


def copy_running(method, run, report, targets):
    """Each standby stopped and copied from the running primary, at once."""
    return clone.from_running_primary(run, report, targets, method.running_copy,
                                      method.program, lambda s, pstate: method.copy_one(run, s, pstate,
                                                                        report))


def sync(run, report, targets=None):
    """The sync task, run alone: the method says how to copy a running primary;
    a stopped one (after stop-all, the guide's order) is copied cold.  So with
    rsync the primary's state says which pass is due.  {name: why} for failures."""
    method = run.options.method
    targets = run.standbys if targets is None else targets
    if method.running_copy and server.read_state(run.primary).running:
        return copy_running(method, run, report, targets)
    return clone.cold(run, report, targets)


def copy_standbys(run, report, targets, method=None, settle=True):
    """stop-all, sync and start-standby-then-master for `targets`, the primary
    down no longer than the method needs.  A standby whose copy fails is left
    out of the later steps (run.state.failed says why).  settle: see
    lifecycle.start_standbys_then_primary."""
    method = method or run.options.method

    def left(failed):
        return [s for s in targets if s.name not in failed]
    if not method.primary_stops:
        with report.step("sync"):
            targets = left(copy_running(method, run, report, targets))
        with report.step("start-standby-then-master"):
            lifecycle.start_standbys_then_primary(run, report, targets, settle)
        return
    with lifecycle.primary_kept_up(run, report):
        if method.running_copy:
            with report.step("sync (first pass)"):
                targets = left(copy_running(method, run, report, targets))
            if not targets:
                return
        with report.step("stop-all"):
            lifecycle.stop_all(run, report, targets)
        with report.step("sync (second pass)" if method.running_copy else "sync"):
            targets = left(clone.cold(run, report, targets,
                                      second_pass=bool(method.running_copy)))
        with report.step("start-standby-then-master"):
            lifecycle.start_standbys_then_primary(run, report, targets, settle)
