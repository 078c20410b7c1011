"""The hosts of one run: which is the primary, which are standbys, how they
reach each other.  Role and address logic is pure; `connect` does the I/O.
"""
import dataclasses
import functools
import re
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field

from ..knowledge import passwords, render, tls, values, versions
from ..knowledge.layout import LayoutError
from ..knowledge import shell
from .hostkeys import HostKeyRefused
from .remote import Host, RemoteError


class ClusterError(Exception):
    """Bad input or a host that does not fit: one line that names the fix."""


class HostKeyError(ClusterError):
    """A host's SSH key was refused: nothing ran there (not an unreachable host)."""


def roles(settings):
    """(primary, [standbys]) from -H (first host is the primary) or config."""
    hosts = [h.strip() for h in settings.cli_hosts if h.strip()]
    if not hosts and settings.primary:
        hosts = [settings.primary, *settings.standbys]
    if not hosts:
        raise ClusterError("no hosts: give them as -H primary,standby[,standby...] "
                           "or set hotstandby.primary and hotstandby.standbys in a config file")
    if len(hosts) < 2:
        raise ClusterError(f"only one host ({hosts[0]}): name the primary first, then at "
                           f"least one standby: -H {hosts[0]},STANDBY")
    seen = {}
    for h in hosts:
        if h in seen.values():
            raise ClusterError(f"host {h} is given twice: each host can have one role only")
        # Each standby's slot, application_name and pg_hba entry carry this name.
        slot = render.slot_name(h)
        if slot in seen:
            raise ClusterError(f"hosts {seen[slot]} and {h} would share the replication slot "
                               f"{slot}: name one of them differently (an ssh_config alias)")
        seen[slot] = h
    return hosts[0], hosts[1:]


def parse_routes(text):
    """Lines `ADDR|<ip -o route get ADDR output>` -> [(addr, direct, src)]."""
    routes = []
    for line in text.splitlines():
        addr, _, route = line.partition("|")
        if not route.strip():
            continue
        src = re.search(r"\bsrc (\S+)", route)
        try:   # it goes into pg_hba: an address, or nothing
            src = values.address(src.group(1), "source address") if src else None
        except values.BadValue:
            src = None
        routes.append((addr, " via " not in route, src))
    return routes


def pick_route(routes):
    """The primary address a standby reaches directly (else any it routes to)."""
    for addr, direct, src in routes:
        if direct:
            return addr, src
    if not routes:
        return None, None
    addr, _direct, src = routes[0]
    return addr, src


class RunEnding(ClusterError):
    """A change that needs undoing was asked for while the run is ending."""


@dataclass
class RunState:
    """What happened so far in this run, for the steps after and the summary."""
    failed: dict = field(default_factory=dict)   # standby name -> why its copy failed
    downtime: float = None                       # seconds the primary was stopped
    stopped_at: float = None
    # (host name, path): passfiles whose password was not in the shape this
    # tool makes, so not believed (a standby's postgres user can write one)
    ignored_passfiles: list = field(default_factory=list)
    # What must be undone before the run ends (each has an idempotent
    # undo(report)): undone by the thread that set it up, or, when the run is
    # cut short, by the main thread (worker threads are daemons and die with
    # the process).
    cleanups: list = field(default_factory=list)
    ending: bool = False
    lock: threading.Lock = field(default_factory=threading.Lock, repr=False)

    def register(self, cleanup):
        """Before making a change that cleanup undoes; refused once ending."""
        with self.lock:
            if self.ending:
                raise RunEnding("the run is ending: nothing more is set up")
            self.cleanups.append(cleanup)

    def unregister(self, cleanup):
        with self.lock:
            self.cleanups = [c for c in self.cleanups if c is not cleanup]

    def end(self):
        """The run ends: every cleanup still registered (some may be being
        undone by their thread); none is registered after."""
        with self.lock:
            self.ending = True
            taken, self.cleanups = self.cleanups, []
            return taken

    def primary_stopped(self):
        self.stopped_at = time.monotonic()

    def primary_started(self):
        if self.stopped_at is not None:
            self.downtime = (self.downtime or 0) + time.monotonic() - self.stopped_at
            self.stopped_at = None


@dataclass
class Cluster:
    """The run's hosts and its context: settings (context.Settings), options
    (context.Options) and state (RunState)."""
    primary: Host
    standbys: list
    settings: object
    options: object
    state: RunState = field(default_factory=RunState)
    addresses: dict = field(default_factory=dict)   # host name -> address
    tablespace_names: dict = field(default_factory=dict)   # oid -> name, read while it ran
    role_ensured: bool = False   # the replication role was checked (or planned) this run
    tls_installed: bool = False  # the primary serves cluster.tls's certificate (or will: plan)

    @property
    def hosts(self):
        return [self.primary, *self.standbys]

    @property
    def major(self):
        return self.primary.layout.major

    def primary_address(self):
        return self.addresses[self.primary.name]

    def slot(self, standby):
        return render.slot_name(standby.name)

    def passfile(self, standby):
        if not versions.fact("conninfo_passfile", standby.layout.major):
            return f"{home(standby)}/.pgpass"   # before 10 libpq reads only the default file
        return f"{home(standby)}/.pg-hotstandby.pgpass"

    def pinned_path(self, standby):
        """The primary's certificate as the standby pins it (sslrootcert)."""
        return f"{home(standby)}/{tls.PINNED}"

    @functools.cached_property
    def tls(self):
        """This run's TLS for replication (knowledge.tls.Plan), decided once
        from what the primary serves."""
        from ..steps import tls as tls_step   # the steps build on this module, not it on them
        return tls_step.decide(self)

    def conninfo(self, standby, **keywords):
        """The standby's connection string to the primary (primary_conninfo);
        keywords add to it or replace its own (dbname=..., connect_timeout=...)."""
        plan = self.tls
        if plan.install and not self.tls_installed:
            raise ClusterError(f"{self.primary.name} does not serve the certificate its "
                               "standbys are to pin yet: run configure-master first")
        binding = tls.channel_binding(plan, self.major,
                                      render.auth_method(self.major, self.settings.auth_method))
        return render.conninfo({
            **render.replication_keywords(self.major, self.primary_address(),
                                          self.primary.layout.port,
                                          self.settings.replication_role, self.slot(standby),
                                          self.passfile(standby)),
            **plan.keywords(self.pinned_path(standby), binding),
            **keywords})

    def without(self, names):
        """This cluster less the standbys named (those whose copy failed)."""
        if not names:
            return self
        return dataclasses.replace(self, standbys=[s for s in self.standbys
                                                   if s.name not in names])

    @functools.cached_property
    def password(self):
        """The replication password for this run (never printed)."""
        return replication_password(self)

    def close(self):
        for host in self.hosts:
            host.close()


def home(host):
    """The postgres user's home: passfile and certificates live there, outside
    the data directory (no copy takes them along)."""
    return host.facts.get("home") or "/var/lib/postgresql"


def open_host(name, config, settings, dry=False):
    """A host with PostgreSQL found on it, its version supported; a ClusterError
    naming the host and the fix otherwise.  The one way hosts are opened."""
    host = Host(name, config, dry)
    try:
        host.discover(settings)
        versions.check_supported(host.layout.major)
    except (LayoutError, versions.UnsupportedVersion) as exc:
        host.close()
        raise ClusterError(f"{name}: {exc}") from None
    except HostKeyRefused as exc:
        host.close()
        raise HostKeyError(str(exc)) from None
    except RemoteError as exc:
        host.close()
        raise ClusterError(f"cannot reach {name} over SSH with sudo: {exc}; "
                           "check the host name, your ssh_config (-S) and sudo") from None
    return host


def connect(config, settings, options):
    """Open every host, discover PostgreSQL and check they fit together."""
    primary_name, standby_names = roles(settings)
    names = [primary_name, *standby_names]
    # At once: each host's SSH handshake and discovery take several round trips.
    with ThreadPoolExecutor(len(names)) as pool:
        opening = [pool.submit(open_host, name, config, settings, options.dry)
                   for name in names]
    hosts, failures = [], []
    for future in opening:
        try:
            hosts.append(future.result())
        except BaseException as exc:
            failures.append(exc)
    if failures:   # the first host's in the list order, as when opened one by one
        for host in hosts:
            host.close()
        raise failures[0]
    primary, standbys = hosts[0], hosts[1:]
    cluster = Cluster(primary, standbys, settings, options)
    for standby in standbys:
        if standby.layout.major != primary.layout.major:
            cluster.close()
            raise ClusterError(
                f"{standby.name} runs PostgreSQL {standby.layout.version} but the primary "
                f"{primary.name} runs {primary.layout.version}: install the same major on both")
    find_addresses(cluster)
    return cluster


def find_addresses(cluster):
    """Fill cluster.addresses from config, else from the hosts' own routes."""
    configured = cluster.settings.addresses
    primary = cluster.primary
    candidates = [configured[primary.name]] if primary.name in configured \
        else primary.facts["address"]
    if not candidates:
        raise ClusterError(f"{primary.name} has no global address: set "
                           f"hotstandby.addresses.{primary.name}")
    script = shell.join([shell.sh('echo {addr}"|$(ip -o route get {addr} 2>/dev/null)"',
                                  addr=a) for a in candidates])
    for standby in cluster.standbys:
        addr, src = pick_route(parse_routes(standby.query(script).stdout))
        if addr is None and primary.name not in configured:
            raise ClusterError(f"{standby.name} has no route to {primary.name} "
                               f"({', '.join(candidates)}): set hotstandby.addresses.{primary.name}")
        cluster.addresses.setdefault(primary.name, addr or candidates[0])
        own = configured.get(standby.name) or src
        if not own:
            raise ClusterError(f"cannot tell {standby.name}'s address as {primary.name} sees it: "
                               f"set hotstandby.addresses.{standby.name}")
        cluster.addresses[standby.name] = own


def replication_password(cluster):
    """The configured password, else the one a host already holds (after a
    failover the new primary holds it, from its days as a standby) if it has
    the shape this tool makes, else a new one."""
    if cluster.settings.replication_password:
        return cluster.settings.replication_password
    role = cluster.settings.replication_role
    for host in [*cluster.standbys, cluster.primary]:
        path = cluster.passfile(host)
        found = render.passfile_password(host.read(path) or "", role)
        if found and passwords.generated(found):
            return found
        if found:
            cluster.state.ignored_passfiles.append((host.name, path))
    return passwords.new()


def at_once(hosts, work):
    """work(host) for every host, each in a thread; {name: error} for the hosts
    where it failed with a RemoteError or ClusterError.  Anything else is a
    bug, raised here.

    Daemon threads, joined in short waits: Ctrl-C reaches the main thread at
    once, so a caller restarts the primary without waiting for the others;
    what they set up that must not outlive the run is in RunState.cleanups.
    """
    errors = {}

    def run(host):
        try:
            work(host)
        except BaseException as exc:   # sorted out below, in the main thread
            errors[host.name] = exc
    threads = [threading.Thread(target=run, args=(h,), name=f"on-{h.name}", daemon=True)
               for h in hosts]
    for thread in threads:
        thread.start()
    for thread in threads:
        while thread.is_alive():
            thread.join(0.2)
    for exc in errors.values():
        if not isinstance(exc, (ClusterError, RemoteError)):
            raise exc
    return errors
