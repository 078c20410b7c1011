"""What a run prints: a header per step, what changed, progress of long
copies, and a closing summary.  A plan's report marks each change as planned,
and counts instead of timing.  Copies to several standbys run in threads:
printing holds a lock.  The printer keeps no state that control flow reads:
failed copies and downtime are the run's state (steps/run.py RunState)."""
import sys
import threading
import time
from contextlib import contextmanager

from .knowledge import progress as progress_text
from .knowledge.values import printable
from .knowledge.topology import pg_duration

# Progress lines: on a terminal one line redrawn in place (every standby's
# copy side by side); elsewhere (logs, CI) a line per standby this often.
REDRAW_SECONDS = 0.5
LOG_SECONDS = 5.0


class Report:
    def __init__(self, quiet=False, out=sys.stdout, plan=False):
        self.quiet = quiet
        self.plan = plan
        self.out = out
        self.steps = []          # (name, seconds, changes)
        self.changes = []
        self.started = time.monotonic()
        self.lock = threading.RLock()
        self.copies = {}         # host -> [started, last printed, text] of a copy in progress
        self.redrawn = False     # a progress line is on the terminal's last line

    def say(self, text):
        """Print a line (or several): every change, note and summary comes
        here, and hosts' text in them is made printable."""
        if self.quiet:
            return
        with self.lock:
            self._clear_progress()
            print(printable(text), file=self.out, flush=True)

    def progress(self, host, done, total, note=""):
        """A copy to `host` has moved `done` of `total` bytes (total may be None);
        note follows the figures (e.g. " (capped at 52.4 MB/s)")."""
        if self.quiet:
            return
        now = time.monotonic()
        with self.lock:
            # The first line once a copy has run for a while: short ones print none.
            copy = self.copies.setdefault(host, [now, now, ""])
            copy[2] = f"{host}: {progress_text.describe(done, total, now - copy[0])}{note}"
            tty = self.out.isatty()
            if now - copy[1] < (REDRAW_SECONDS if tty else LOG_SECONDS):
                return
            copy[1] = now
            if tty:
                self.out.write("\r\033[K  " + " | ".join(c[2] for c in self.copies.values()))
                self.out.flush()
                self.redrawn = True
            else:
                print(f"  {copy[2]}", file=self.out, flush=True)

    def copy_done(self, host):
        with self.lock:
            self.copies.pop(host, None)

    def _clear_progress(self):
        if self.redrawn:
            self.out.write("\r\033[K")
            self.redrawn = False

    def change(self, host, text):
        """Something changed on a host."""
        self.changes.append((host, text))
        first, *rest = text.splitlines()
        self.say("\n".join([f"  {host}: {'(plan) ' if self.plan else ''}{first}",
                            *(f"      {line}" for line in rest)]))

    def note(self, host, text):
        """Something looked at or left as it was."""
        self.say(f"  {host}: {text}")

    @contextmanager
    def step(self, name):
        self.say(f"== {name} ==")
        before = len(self.changes)
        started = time.monotonic()
        try:
            yield
        finally:
            changed = len(self.changes) - before
            self.steps.append((name, time.monotonic() - started, changed))

    def summary(self, run):
        state = run.state
        lines = ["== summary =="]
        p = run.primary
        lines.append(f"  primary  {p.name} ({run.primary_address()}) PostgreSQL "
                     f"{p.layout.version}, {p.layout.kind} layout{run_by(p)}")
        topology = run.topology
        for s in run.standbys:
            lines.append(f"  standby  {s.name} ({run.addresses[s.name]}) PostgreSQL "
                         f"{s.layout.version}, {s.layout.kind} layout{run_by(s)}"
                         + (f", streams from its upstream {topology.feeder(s.name)}"
                            if topology.cascaded(s.name) else "")
                         + (f", replays {pg_duration(topology.delay_ms(s.name))} late"
                            if topology.delay_ms(s.name) else "")
                         + (f": COPY FAILED: {state.failed[s.name]}" if s.name in state.failed
                            else ""))
        if run.tls_decided():
            lines.append(f"  replication: {run.tls_decided().describe()}")
        for name, plan in run.upstream_tls.items():
            lines.append(f"  from {name}: {plan.describe()}")
        for name, seconds, changed in self.steps:
            lines.append(f"  {name:<26} " + ("" if self.plan else f"{seconds:6.1f} s  ")
                         + f"{changed} change{'s' if changed != 1 else ''}")
        if self.plan:
            lines.append("  plan: " + (f"{len(self.changes)} changes; run full to make them"
                                       if self.changes else "no changes"))
            self.say("\n".join(lines))
            return
        # Timed from here, from before the stop command until the server is
        # seen accepting connections: the outage clients see lies inside it.
        downtime = f"at most {state.downtime:.1f} s" if state.downtime is not None else "none"
        lines.append(f"  primary downtime: {downtime}; total "
                     f"{time.monotonic() - self.started:.1f} s; "
                     + ("nothing changed" if not self.changes else f"{len(self.changes)} changes"))
        self.say("\n".join(lines))


def run_by(host):
    return f", run by {host.layout.service}" if host.layout.service else ""
