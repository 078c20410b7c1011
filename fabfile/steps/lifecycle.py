"""Stopping and starting the pair in the guide's order, and the guarantee
that the primary is never left stopped: on any failure or interrupt after it
was stopped, it is started again and checked; and should the run itself die
(a `kill -9`, a control machine gone), a watchdog on its host starts it."""
import re
import secrets
import signal
import threading
import time
from contextlib import contextmanager

from . import checks, server, service, slots
from ..knowledge import diagnose, versions, watchdog as watchdog_rules
from ..hosts.cluster import ClusterError, at_once
from ..hosts.remote import RemoteError
from ..knowledge.shell import as_user


def stop_all(run, report, standbys=None, watchdog=None):
    """Stop the standbys (at once), then the primary: fast, clean shutdowns.
    The primary last, so that its downtime does not include theirs.
    watchdog: armed before the primary stops (a run that starts it again)."""
    standbys = run.standbys if standbys is None else standbys

    def stop(host):
        if host is run.primary and server.read_state(host).running:
            if watchdog:
                watchdog.arm()
            run.state.primary_stopped()
        if service.stop(host):
            report.change(host.name, "stopped PostgreSQL")
        else:
            report.note(host.name, "PostgreSQL already stopped")
    for error in at_once(standbys, stop).values():
        raise error
    stop(run.primary)


def start_standbys_then_primary(run, report, standbys=None, settle=True, watchdog=None):
    """Start standbys first, then the primary; judge by polling, not exit codes.
    settle: wait until each standby's unit, too, says it started; else the
    caller does (settle_standbys) once it has used the time.  watchdog: the
    primary's, cancelled once it accepts connections."""
    standbys = run.standbys if standbys is None else standbys
    timeout = run.settings.timeouts.start
    p = run.primary
    if run.options.dry:   # the checks below need what the earlier steps would write
        for host in [*standbys, p]:
            report.change(host.name, f"start PostgreSQL ({'primary' if host is p else 'standby'})")
        return
    pstate = server.primary_state(p)
    primary_lsn = server.current_lsn(p) if pstate.running else None
    states = {}
    for s in standbys:
        state = states[s.name] = server.read_state(s)
        if state.running:
            if server.in_recovery(s) is False:
                raise ClusterError(f"{s.name} runs as a second primary (it was started without "
                                   "its standby marker): stop it and run sync")
            continue
        if not state.standby_marker:
            raise ClusterError(f"{s.name} has no standby marker: started now it would be a "
                               "second primary; run configure-standby (or sync) first")
        problem = checks.attach_problem(s.name, pstate, state, primary_lsn)
        if problem:
            raise ClusterError(problem)

    def start(s):   # all at once: with a stopped primary, this is downtime
        if service.start(s, states[s.name]):
            report.change(s.name, "started PostgreSQL (standby)")
    for error in at_once(standbys, start).values():
        raise error
    if service.start(p, pstate):
        report.change(p.name, "started PostgreSQL (primary)")
    if not service.wait_ready(p, timeout):
        raise ClusterError(f"the primary does not accept connections after {timeout} s: "
                           + diagnose.explain(p.name, server.log_tail(p)))
    run.state.primary_started()
    if watchdog:
        watchdog.cancel()
    slots.ensure(run, report)
    for s in standbys:
        if not service.wait_ready(s, timeout, settled=settle):
            raise ClusterError(f"a standby does not accept connections after {timeout} s: "
                               + diagnose.explain(s.name, server.log_tail(s)))
        if server.in_recovery(s) is False:
            raise ClusterError(f"{s.name} runs as a second primary: stop it and run sync")
        report.note(s.name, "accepts read-only connections")
    # An upstream holds the slots of those it feeds once it runs as a standby.
    slots.ensure(run, report, [u for u in run.feeders() if u in standbys])


def settle_standbys(run, standbys):
    """Wait until each standby's unit says it started (see service.ready_script):
    the end of start_standbys_then_primary(settle=False)."""
    timeout = run.settings.timeouts.start
    for s in standbys:
        if not service.wait_ready(s, timeout):
            raise ClusterError(f"{s.name}: its unit {s.layout.service} has not finished "
                               f"starting after {timeout} s: see systemctl status "
                               f"{s.layout.service}")


def apply_standby_settings(standby, settings, report):
    """A running standby takes its new settings: a reload, and a restart only
    for those that need one (and always before 12: recovery.conf is read at
    start only)."""
    server.reload(standby)
    pending = server.pending_restart(standby, settings)
    if pending or versions.fact("standby_signal", standby.layout.major) == "recovery.conf":
        service.restart(standby)
        report.change(standby.name, "restarted PostgreSQL for "
                                    + (", ".join(pending) or "its recovery.conf"))
    else:
        report.change(standby.name, "reloaded its settings (none needs a restart)")


# A walreceiver that failed to connect tries again after
# wal_retrieve_retry_interval (5 s by default): three tries.
RECONNECT_SECONDS = 15


def reconnect(run, report, reconfigured, streaming):
    """Standbys that run as copies of the primary but do not stream, whose
    settings this run changed (a certificate pinned anew, a new password):
    they take the settings and reconnect by themselves, so no copy is needed
    for those that stream again.  Returns (names streaming now, names whose
    settings were applied)."""
    pstate = None   # read when a standby needs it
    waiting = set()
    for s in run.standbys:
        if s.name in streaming or s.name not in reconfigured:
            continue
        state = server.read_state(s)
        if not state.running:
            continue
        pstate = pstate or server.read_state(run.primary)
        if state.system_id == pstate.system_id and server.in_recovery(s):
            apply_standby_settings(s, reconfigured[s.name], report)
            waiting.add(s.name)
    deadline = time.monotonic() + RECONNECT_SECONDS
    back = set()
    while waiting - back and time.monotonic() < deadline:
        time.sleep(0.5)
        back = server.streaming_standbys(run) & waiting
    for name in sorted(back):
        report.note(name, "streams again with its new settings: no copy needed")
    return back, waiting


def restart_primary(run, report):
    """Restart the primary for settings that wait for it; slots follow."""
    p = run.primary
    run.state.primary_stopped()
    service.restart(p)
    if not service.wait_ready(p, run.settings.timeouts.start):
        raise ClusterError("the primary does not accept connections after its restart: "
                           + diagnose.explain(p.name, server.log_tail(p)))
    run.state.primary_started()
    report.change(p.name, "restarted PostgreSQL for its new settings")
    slots.ensure(run, report)


class Interrupted(BaseException):
    """SIGTERM, turned into an exception so that cleanup runs."""


def _raise_interrupted(signum, frame):
    raise Interrupted(f"signal {signum}")


@contextmanager
def cleaned_up(run, report):
    """A task's whole run: SIGTERM interrupts it as Ctrl-C does, and whatever
    ends it, what the copies set up (their temporary keys) is removed here, in
    the main thread, before the process exits: the copies' threads are daemons
    and die with it.  The primary's restart (primary_kept_up, inside) comes first."""
    previous = signal.signal(signal.SIGTERM, _raise_interrupted)
    try:
        yield
    finally:
        for cleanup in run.state.end():
            cleanup.undo(report)
        signal.signal(signal.SIGTERM, previous)


@contextmanager
def primary_kept_up(run, report):
    """Whatever happens inside, the primary is running when this exits.
    Yields its Watchdog, for the steps inside that stop and start it."""
    watchdog = Watchdog(run, report)
    try:
        yield watchdog
    except BaseException as exc:
        report.say(f"!! {exc.__class__.__name__}: starting the primary again")
        restore_primary(run, report, watchdog)
        raise


def restore_primary(run, report, watchdog):
    p = run.primary
    try:
        if service.start(p):
            report.change(p.name, "started PostgreSQL again after the failure")
        ready = service.wait_ready(p, run.settings.timeouts.start)
        run.state.primary_started()
        report.say(f"  {p.name}: primary {'accepts connections' if ready else 'DID NOT START'}")
        if ready:
            watchdog.cancel()
    except Exception as exc:  # report, and let the original error propagate
        report.say(f"  {p.name}: could not start the primary again: {exc}")


# What mktemp makes of knowledge.watchdog.DIRECTORY: read strictly.
WATCHDOG_DIRECTORY = re.compile(r"/run/pg-hotstandby-watchdog\.[A-Za-z0-9]{8}")


class Watchdog:
    """The primary's watchdog (knowledge/watchdog.py) for one stop: armed
    before the primary stops, fed from a thread while it is down, cancelled
    once it runs again.  A run that ends with the primary still down leaves
    it armed and unfed: it starts the primary.  Nothing on a dry host."""

    def __init__(self, run, report):
        self.run, self.report = run, report
        self.directory = None
        self.fed = threading.Event()   # set: stop feeding

    def arm(self):
        p, limit = self.run.primary, self.run.settings.timeouts.watchdog
        if p.dry or self.directory:
            return
        made = p.change(watchdog_rules.make_directory()).stdout.strip()
        if not WATCHDOG_DIRECTORY.fullmatch(made):
            raise RemoteError(f"{p.name}: mktemp answered {made!r} for the watchdog's directory")
        command, user = p.layout.control("start")
        start = command if user == "root" else as_user(user, command)
        unit = f"pg-hotstandby-watchdog-{secrets.token_hex(4)}" if p.layout.service else None
        self.run.state.register(self)
        self.directory = made
        p.change(watchdog_rules.launch(watchdog_rules.script(made, limit, start), unit))
        self.fed.clear()
        threading.Thread(target=self._feed, args=(made, watchdog_rules.feed_every(limit)),
                         name=f"watchdog-{p.name}", daemon=True).start()
        self.report.note(p.name, f"watchdog armed: should this run die while PostgreSQL is "
                                 f"stopped, it is started again after {limit:.0f} s")

    def _feed(self, directory, every):
        while not self.fed.wait(every):
            try:
                self.run.primary.change(watchdog_rules.feed(directory), timeout=every)
            except RemoteError:
                pass   # missed once: the limit allows for several

    def cancel(self):
        """The primary runs again: the watchdog exits."""
        if not self.directory:
            return
        self.fed.set()
        self.run.primary.change(watchdog_rules.cancel(self.directory))
        self.directory = None
        self.run.state.unregister(self)

    def undo(self, report):
        """The run ends (its cleanups): cancel it if the primary runs, else
        leave it to start the primary."""
        if not self.directory:
            return
        self.fed.set()
        try:
            running = server.read_state(self.run.primary).running
        except RemoteError:
            running = False
        if running:
            self.cancel()
            return
        report.say(f"!! {self.run.primary.name}: PostgreSQL is stopped; its watchdog starts "
                   f"it within {self.run.settings.timeouts.watchdog:.0f} s")
