"""The primary's watchdog: while a run has the primary stopped, a process on
its host starts it again unless the run keeps saying it is alive (it touches
a file in a root-only directory).  A control machine that dies, or a `kill
-9` of fab, then leaves the primary down for `limit` seconds, not for good.
The run removes the directory once the primary runs again: the watchdog
exits.  Pure: the shell text (steps/lifecycle.py runs it).
"""
from .shell import sh

# The root-only directory that holds the file the run touches (mktemp -d).
DIRECTORY = "/run/pg-hotstandby-watchdog.XXXXXXXX"
FED = "alive"
POLL_SECONDS = 2


def feed_every(limit):
    """How often the run touches the file: several times per limit, so that
    a slow round trip or two does not set the watchdog off."""
    return max(1.0, limit / 6)


def script(directory, limit, start):
    """Shell: wait while the directory exists and its file was touched within
    `limit` seconds; else remove it and run `start` (a Command)."""
    # A file removed between the two tests reads as just touched: the loop
    # then ends on the next test, not by starting the server.
    return sh('f={fed}; while [ -e "$f" ]; do '
              'age=$(( $(date +%s) - $(stat -c %Y "$f" 2>/dev/null || date +%s) )); '
              'if [ "$age" -ge {limit} ]; then rm -rf {directory}; {start}; exit 0; fi; '
              'sleep {poll}; done',
              fed=f"{directory}/{FED}", limit=int(limit), directory=directory, start=start,
              poll=POLL_SECONDS)


def launch(script, unit=None):
    """Shell that starts the watchdog apart from this SSH session: as a
    transient systemd unit where systemd runs (unit: its name), else in a
    session of its own."""
    # The script is one word here, quoted (a Command would go in as shell text).
    if unit:
        return sh("systemd-run --quiet --collect --unit {unit} sh -c {script}",
                  unit=unit, script=str(script))
    return sh("setsid -f sh -c {script} >/dev/null 2>&1 </dev/null", script=str(script))


def make_directory():
    """Shell: a new root-only directory holding a freshly touched file; its path."""
    return sh('d=$(mktemp -d {pattern}) && touch "$d"/{fed} && echo "$d"',
              pattern=DIRECTORY, fed=FED)


def feed(directory):
    return sh("touch {fed}", fed=f"{directory}/{FED}")


def cancel(directory):
    return sh("rm -rf {directory}", directory=directory)
