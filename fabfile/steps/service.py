"""Starting, stopping and restarting a server, as its layout says
(layout.Layout.control), and waiting until it accepts connections.  Starting
never trusts the start command's exit code (a standby waiting for WAL looks
like a failed start): `wait_ready` polls the server instead."""
import time

from . import server
from ..hosts.remote import RemoteError


def control(host, action, warn=False):
    """Start, stop or restart the server (nothing on a dry host: a change)."""
    command, user = host.layout.control(action)
    return host.change(command, user=user, warn=warn, timeout=600)


def accepting(host):
    lay = host.layout
    return host.query(f"{lay.pg('pg_isready')} -q -h {lay.socket_dir} -p {lay.port}",
                      user="postgres", warn=True).exited == 0


def wait_ready(host, timeout):
    """Poll until the server accepts connections; False on timeout."""
    deadline = time.monotonic() + timeout
    while not accepting(host):
        if time.monotonic() > deadline:
            return False
        time.sleep(0.5)
    return True


def stop(host):
    """Stop fast and clean; True if it was running."""
    if not server.read_state(host).running:
        return False
    if host.dry:
        return True   # a plan: it would be stopped
    control(host, "stop")
    if server.read_state(host).running:
        raise RemoteError(f"{host.name}: PostgreSQL still running after a fast stop")
    return True


def start(host):
    """Start without waiting (see wait_ready); False if it was already running."""
    if server.read_state(host).running:
        return False
    control(host, "start", warn=True)
    return True
