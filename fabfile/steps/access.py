"""How rsync on the copy's source (the primary, or a standby with a finished
copy: fan-out) logs in to a standby for a copy.

By default a key made for this copy on the source (postgres, in a private
temporary directory) is authorized for the standby's postgres user, confined
(knowledge/tempkey.py): only from the source's address, only rsync's
receiving side into this copy's directories, checked by a forced command
installed root-owned in a private directory on the standby.  It is removed
with both directories when the copy ends, or, when the run is cut short
(Ctrl-C, SIGTERM), by the main thread before the process exits
(lifecycle.cleaned_up).  With sync_identity_file the primary's own key is
used, as the guide does (no fan-out then).  Either way the standby's host key
is fetched through our own connection, so nothing is trusted on first use.
"""
import secrets
import threading
from contextlib import contextmanager

from ..hosts.cluster import ClusterError, parse_routes
from ..hosts.remote import RemoteError
from ..knowledge.shell import sh
from ..knowledge import rsync, tempkey
from .run import RunEnding
# A setup step runs one command at a time; the run's end waits this long for
# it before giving up and naming what to remove by hand.
SETUP_WAIT = 60
COMMAND_TIMEOUT = 20


class TempAccess:
    """What one copy set up on both hosts for its login; undo() removes it,
    and says what it removed or what is left to remove by hand."""

    def __init__(self, source, standby, user):
        self.source, self.standby, self.user = source, standby, user
        self.token = f"pg-hotstandby-{secrets.token_hex(6)}"
        # Held while setting up and while undoing: an undo waits for either.
        self.lock = threading.Lock()
        self.source_dir = self.wrapper_dir = self.line = None
        self.undone = False

    def undo(self, report):
        """Once, whichever thread asks first; a second caller waits for it."""
        p, s = self.source, self.standby
        if not self.lock.acquire(timeout=SETUP_WAIT):
            report.say(f"!! {s.name}: the copy's login was still being set up or removed: "
                       f"remove any line ending in {self.token} from "
                       "~postgres/.ssh/authorized_keys, and any /tmp/pg-hotstandby.* directory "
                       "there, by hand")
            return
        try:
            if self.undone:
                return
            self.undone = True
            if self.line:
                try:
                    s.change(tempkey.remove_script(self.line), user="postgres",
                             timeout=COMMAND_TIMEOUT)
                    report.note(s.name, "temporary key removed from ~postgres/.ssh/authorized_keys")
                except RemoteError:
                    report.say(f"!! {s.name}: could not remove the temporary key: remove the line "
                               f"ending in {self.token} from ~postgres/.ssh/authorized_keys")
            for host, path, user in ((s, self.wrapper_dir, "root"),
                                     (p, self.source_dir, self.user)):
                if path:
                    try:
                        host.change(sh("rm -rf {path}", path=path), user=user, timeout=COMMAND_TIMEOUT)
                    except RemoteError:
                        report.say(f"!! {host.name}: could not remove {path}: remove it by hand")
        finally:
            self.lock.release()

    def set_up(self, run, targets):
        """Make the login: (ssh command for rsync's -e, user@address)."""
        p, s, cfg = self.source, self.standby, run.settings
        address, port = run.addresses[s.name], cfg.ssh_port
        self.source_dir = tempkey.safe_path(p.change(
            sh("umask 077 && mktemp -d"), user=self.user, timeout=COMMAND_TIMEOUT).stdout.strip())
        host_keys = s.query(sh("cat /etc/ssh/ssh_host_*_key.pub")).stdout.splitlines()
        known = "".join(f"{address if port == 22 else f'[{address}]:{port}'} "
                        f"{' '.join(k.split()[:2])}\n" for k in host_keys if k.strip())
        known_hosts = f"{self.source_dir}/known_hosts"
        p.install(known_hosts, known, owner=self.user, mode="600")
        if cfg.sync_identity_file:
            # The guide's way: root on the primary with its key file, to a
            # user that can write the standby's data directory.
            return (rsync.ssh_command(cfg.sync_identity_file, known_hosts, port),
                    f"{cfg.sync_user}@{address}")
        key = f"{self.source_dir}/key"
        public = p.change(sh("ssh-keygen -q -t ed25519 -N '' -C {token} -f {key} && cat {key}.pub",
                             token=self.token, key=key), user="postgres",
                          timeout=COMMAND_TIMEOUT).stdout.strip()
        # The source's address as the standby sees its connection: the source
        # address of its route there.
        route = p.query(sh("ip -o route get {address}", address=address), warn=True).stdout.strip()
        routes = parse_routes(f"{address}|{route}")
        source = routes[0][2] if routes else None
        if not source:
            raise ClusterError(f"{p.name}: cannot tell its source address towards {s.name} "
                               f"({address}), which the temporary key is limited to")
        text = tempkey.wrapper(targets)
        self.wrapper_dir = tempkey.safe_path(s.change(
            sh('d=$(mktemp -d /tmp/pg-hotstandby.XXXXXXXX) && chmod 711 "$d" && echo "$d"'),
            timeout=COMMAND_TIMEOUT).stdout.strip())
        wrapper = f"{self.wrapper_dir}/rsync-only"
        line = tempkey.authorized_line(public, source, wrapper)
        s.install(wrapper, text, owner="root", mode="644")
        self.line = line   # before the append: undone whether or not it got there
        s.change(tempkey.append_script(line), user="postgres", timeout=COMMAND_TIMEOUT)
        return rsync.ssh_command(key, known_hosts, port), f"postgres@{address}"


@contextmanager
def host_to_host_ssh(run, s, report, targets, source):
    """SSH from source (the primary, or a standby: fan-out) to a standby for
    rsync: yields (ssh, target, user).  targets: the paths on the standby the
    copy writes (directories, files)."""
    user = "root" if run.settings.sync_identity_file else "postgres"
    access = TempAccess(source, s, user)
    run.state.register(access)
    try:
        with access.lock:
            if run.state.ending:
                raise RunEnding("the run is ending: no copy is started")
            try:
                ssh, target = access.set_up(run, targets)
            except tempkey.TempKeyError as exc:
                raise ClusterError(f"{s.name}: cannot confine the copy's key: {exc}") from None
        yield ssh, target, user
    finally:
        # This thread, or the main thread at the run's end, whichever comes
        # first.  Failures are reported, never raised over the original error.
        access.undo(report)
        run.state.unregister(access)
