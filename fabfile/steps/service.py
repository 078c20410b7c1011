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
from ..hosts.shell import sh


def control(host, action, warn=False, direct=False):
    """Start, stop or restart the server (nothing on a dry host: a change)."""
    command, user = host.layout.control(action, direct=direct)
    return host.change(command, user=user, warn=warn, timeout=600)


def accepting(host):
    lay = host.layout
    return host.query(sh("{isready} -q -h {socket} -p {port}", isready=lay.pg("pg_isready"),
                         socket=lay.socket_dir, port=lay.port),
                      user="postgres", warn=True).exited == 0


def settled(host):
    """The service manager, where one runs the server, says it started: a
    unit still 'activating' (Debian's pg_ctlcluster takes seconds after the
    server accepts connections) fails if it is stopped meanwhile."""
    unit = host.layout.service
    return not unit or host.query(sh("systemctl is-active --quiet {unit}", unit=unit),
                                  warn=True).exited == 0


def wait_ready(host, timeout):
    """Poll until the server accepts connections and its unit, if any, is
    active; False on timeout."""
    deadline = time.monotonic() + timeout
    while not (accepting(host) and settled(host)):
        if time.monotonic() > deadline:
            return False
        time.sleep(0.5)
    return True


def stop(host):
    """Stop fast and clean; True if it was running."""
    state = server.read_state(host)
    if not state.running:
        return False
    if host.dry:
        return True   # a plan: it would be stopped
    control(host, "stop", direct=state.outside(host.layout.service))
    if server.read_state(host).running:
        raise RemoteError(f"{host.name}: PostgreSQL still running after a fast stop")
    return True


def start(host):
    """Start without waiting (see wait_ready); False if it was already running."""
    if server.read_state(host).running:
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
