"""Starting, stopping and restarting a server, as its layout says
(layout.Layout.control), and waiting until it accepts connections.

Where systemd runs the server, everything goes through its unit, so that it
stays there (a server started around systemd is one that `systemctl restart`
fails on, and that a reboot does not manage).  A server found running outside
its unit is stopped directly, then started by its unit.  Starting never
trusts the start command's exit code (a standby waiting for WAL looks like a
failed start): `wait_ready` polls the server instead.
"""
import time

from . import server
from ..hosts.remote import RemoteError
from ..knowledge.shell import as_user, sh


def control(host, action, warn=False, direct=False):
    """Start, stop or restart the server (nothing on a dry host: a change)."""
    command, user = host.layout.control(action, direct=direct)
    return host.change(command, user=user, warn=warn, timeout=600)


# wait_ready polls on the host, every 0.1 s, at most this many times per round
# trip: a round trip costs more than a poll, and Ctrl-C is heard between two.
POLLS = 20


def ready_script(host, polls, settled=True):
    """Exit 0 once the server accepts connections and (settled) the service
    manager, where one runs it, says it started (a unit still 'activating':
    Debian's pg_ctlcluster probes for 2 s after the server accepts
    connections, and fails if it is stopped meanwhile); exit 1 after `polls`
    tries."""
    lay, unit = host.layout, host.layout.service if settled else ""
    isready = as_user("postgres", sh("{isready} -q -h {socket} -p {port}",
                                     isready=lay.pg("pg_isready"), socket=lay.socket_dir,
                                     port=lay.port))
    settled = sh("systemctl is-active --quiet {unit}", unit=unit) if unit else sh("true")
    return sh("i=0; while :; do {isready} && {settled} && exit 0; i=$((i+1)); "
              "[ $i -ge {polls} ] && exit 1; sleep 0.1; done",
              isready=isready, settled=settled, polls=polls)


def wait_ready(host, timeout, settled=True):
    """Poll until the server accepts connections and (settled) its unit, if
    any, is active; False on timeout."""
    deadline = time.monotonic() + timeout
    while True:
        polls = max(1, min(POLLS, int((deadline - time.monotonic()) * 10)))
        if host.query(ready_script(host, polls, settled), warn=True).exited == 0:
            return True
        if time.monotonic() > deadline:
            return False


def stop(host, state=None):
    """Stop fast and clean; True if it was running.  state: the server's, if
    just read (whether it stopped is read anew)."""
    state = state or server.read_state(host)
    if not state.running:
        return False
    if host.dry:
        return True   # a plan: it would be stopped
    control(host, "stop", direct=state.outside(host.layout.service))
    if server.read_state(host).running:
        raise RemoteError(f"{host.name}: PostgreSQL still running after a fast stop")
    return True


def start(host, state=None):
    """Start without waiting (see wait_ready); False if it was already running.
    state: the server's, if just read."""
    if (state or server.read_state(host)).running:
        return False
    control(host, "start", warn=True)
    return True


def restart(host):
    """Restart; a server outside its unit comes back inside it (callers wait)."""
    if server.read_state(host).outside(host.layout.service):
        stop(host)
        start(host)
    else:
        control(host, "restart")


def outside_unit(host, state=None):
    """Why the server is not where its service manager expects it, with the
    fix, or None."""
    state = state or server.read_state(host)
    unit = host.layout.service
    if not state.outside(unit):
        return None
    stop_cmd, _ = host.layout.control("stop", direct=True)
    return (f"{host.name}: PostgreSQL runs outside its unit {unit} (in "
            f"{state.unit or 'no unit'}: started around systemd, e.g. by hand): systemctl "
            f"cannot restart it and a reboot would not manage it; any stop and start by "
            f"this tool moves it back, or run: {stop_cmd} && systemctl start {unit}")
