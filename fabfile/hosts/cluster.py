"""The hosts of one run: which is the primary, which are standbys, how they
reach each other.  Role and address logic is pure; `connect` does the I/O.
"""
import re
import threading
from dataclasses import dataclass, field

from ..knowledge import render, shell, topology, values, versions
from ..knowledge.layout import LayoutError
from .hostkeys import HostKeyRefused
from .remote import Host, RemoteError


class ClusterError(Exception):
    """Bad input or a host that does not fit: one line that names the fix."""


class HostKeyError(ClusterError):
    """A host's SSH key was refused: nothing ran there (not an unreachable host)."""


def roles(settings):
    """(primary, [standbys]) from -H (first host is the primary) or config."""
    hosts = topology.host_names(settings.cli_hosts, settings.primary, settings.standbys)
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


@dataclass
class Cluster:
    """The run's hosts: the primary, the standbys, and the address each is
    reached at by the others (host name -> address)."""
    primary: Host
    standbys: list
    addresses: dict = field(default_factory=dict)

    @property
    def hosts(self):
        return [self.primary, *self.standbys]

    @property
    def major(self):
        return self.primary.layout.major

    def primary_address(self):
        return self.addresses[self.primary.name]

    def close(self):
        for host in self.hosts:
            host.close()


def home(host):
    """The postgres user's home: passfile and certificates live there, outside
    the data directory (no copy takes them along)."""
    return host.facts.get("home") or "/var/lib/postgresql"


def passfile(host):
    """The file that holds the replication password on a standby (0600,
    postgres): the tool's own, or before 10 (libpq reads only that) ~/.pgpass."""
    if not versions.fact("conninfo_passfile", host.layout.major):
        return f"{home(host)}/.pgpass"
    return f"{home(host)}/.pg-hotstandby.pgpass"


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


def connect(config, settings, dry=False):
    """Open every host, discover PostgreSQL and check they fit together."""
    primary_name, standby_names = roles(settings)
    names = [primary_name, *standby_names]
    # At once: each host's SSH handshake and discovery take several round trips.
    opened = each(names, lambda name: open_host(name, config, settings, dry))
    hosts = [o.value for o in opened if o.error is None]
    failures = [o.error for o in opened if o.error is not None]
    if failures:   # the first host's in the list order, as when opened one by one
        for host in hosts:
            host.close()
        raise failures[0]
    primary, standbys = hosts[0], hosts[1:]
    cluster = Cluster(primary, standbys)
    for standby in standbys:
        if standby.layout.major != primary.layout.major:
            cluster.close()
            raise ClusterError(
                f"{standby.name} runs PostgreSQL {standby.layout.version} but the primary "
                f"{primary.name} runs {primary.layout.version}: install the same major on both")
    find_addresses(cluster, settings.addresses)
    return cluster


def find_addresses(cluster, configured):
    """Fill cluster.addresses from config (configured: host name -> address),
    else from the hosts' own routes."""
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


@dataclass
class Outcome:
    """What work on one host gave: its value, or the exception it raised."""
    value: object = None
    error: BaseException = None


def each(items, work):
    """work(item) for every item (hosts, or host names) at once, each in a
    thread of its own; an Outcome per item, in the items' order.  The one way
    per-host work runs in parallel.

    Daemon threads, joined in short waits: Ctrl-C reaches the main thread at
    once, so a caller restarts the primary without waiting for the others;
    what they set up that must not outlive the run is in the run's cleanups
    (steps/run.py RunState).
    """
    outcomes = [Outcome() for _ in items]

    def run(item, outcome):
        try:
            outcome.value = work(item)
        except BaseException as exc:   # the caller sorts it out, in the main thread
            outcome.error = exc
    threads = [threading.Thread(target=run, args=(item, outcome), daemon=True,
                                name=f"on-{getattr(item, 'name', item)}")
               for item, outcome in zip(items, outcomes)]
    for thread in threads:
        thread.start()
    for thread in threads:
        while thread.is_alive():
            thread.join(0.2)
    return outcomes


def at_once(hosts, work):
    """work(host) for every host at once; {name: error} for the hosts where it
    failed with a RemoteError or ClusterError.  Anything else is a bug, raised
    here."""
    errors = {host.name: outcome.error for host, outcome in zip(hosts, each(hosts, work))
              if outcome.error is not None}
    for exc in errors.values():
        if not isinstance(exc, (ClusterError, RemoteError)):
            raise exc
    return errors
