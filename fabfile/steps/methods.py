"""How a standby gets its copy of the primary: the copy methods, registered in
`METHODS` (the one list the command line, config validation, preflight and
the benchmark read), and the one workflow that stops, copies and starts for
`full`, `sync` and `rejoin --resync`.

A method says what it needs on the hosts, when the primary stops
(copyplan.PrimaryStop), and how it copies a running primary (a clone.Way, or
None).  A stopped primary is always copied the same way, cold
(clone.stopped): after stop-all in the guide's order, and for rsync's second
pass.
"""
from . import clone, lifecycle, server
from ..knowledge.copyplan import PrimaryStop
from ..knowledge.transfer import Program


class CopyMethod:
    name = ""
    help = ""
    needs = ()                          # Programs on every host (preflight checks them)
    primary_stops = PrimaryStop.NEVER
    running = None                      # the clone.Way that copies a running primary
                                        # (None and the primary never stopped: picked
                                        # per standby, clone.pick)
    fans_out = False                    # its copies from the primary are base backups


class Auto(CopyMethod):
    name = "auto"
    help = ("the default: the cheapest way for each standby, the primary kept running: "
            "start it (its WAL still on the primary), the online delta copy (it holds an "
            "earlier copy), else pg_basebackup; plan says which and why")
    fans_out = True                     # its fresh copies are pg_basebackup's


class Basebackup(CopyMethod):
    name = "basebackup"
    help = "pg_basebackup on each standby, the primary keeps running"
    running = clone.PG_BASEBACKUP
    fans_out = True


class Rsync(CopyMethod):
    name = "rsync"
    help = ("online delta copy: the primary keeps running, only what differs from the "
            "standby's earlier copy is sent")
    needs = (Program.RSYNC,)
    running = clone.RSYNC_ONLINE


class RsyncCold(CopyMethod):
    name = "rsync-cold"
    help = "the guide's: both stopped for the whole copy"
    needs = (Program.RSYNC,)
    primary_stops = PrimaryStop.WHOLE_COPY


COLD = RsyncCold()
ONLINE = Rsync()   # rejoin --resync: a diverged former primary holds most of the data
METHODS = {m.name: m for m in (COLD, ONLINE, Basebackup(), Auto())}


def copy_running(method, run, report, targets):
    """Each standby stopped and copied from the running primary, at once (or
    fanned out).  {name: why} for failures."""
    return clone.running(run, report, targets, method.running, method.fans_out)


def sync(run, report, targets=None):
    """The sync task, run alone: the method says how to copy a running primary;
    a stopped one (after stop-all, the guide's order) is copied cold.
    {name: why} for failures."""
    method = run.options.method
    targets = run.standbys if targets is None else targets
    if method.primary_stops is PrimaryStop.NEVER and server.read_state(run.primary).running:
        return copy_running(method, run, report, targets)
    return clone.stopped(run, report, targets)


def copy_standbys(run, report, targets, method=None, settle=True):
    """stop-all, sync and start-standby-then-master for `targets`, the primary
    down no longer than the method needs.  A standby whose copy fails is left
    out of the later steps (run.state.failed says why).  settle: see
    lifecycle.start_standbys_then_primary."""
    method = method or run.options.method

    def left(failed):
        return [s for s in targets if s.name not in failed]
    if method.primary_stops is PrimaryStop.NEVER:
        with report.step("sync"):
            targets = left(copy_running(method, run, report, targets))
        with report.step("start-standby-then-master"):
            lifecycle.start_standbys_then_primary(run, report, targets, settle)
        return
    with lifecycle.primary_kept_up(run, report) as watchdog:
        with report.step("stop-all"):
            lifecycle.stop_all(run, report, targets, watchdog)
        with report.step("sync"):
            targets = left(clone.stopped(run, report, targets))
        with report.step("start-standby-then-master"):
            lifecycle.start_standbys_then_primary(run, report, targets, settle, watchdog)
