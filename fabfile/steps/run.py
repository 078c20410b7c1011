"""One run: its hosts (hosts.cluster.Cluster), what it was asked (settings,
options: context.py), what it decides once (the TLS plan, the replication
password) and what happened so far (RunState).  Every step takes the run.

The TLS plan and the password are decided the first time a step needs them
(reading the hosts), never again in the run.
"""
import functools
import threading
import time
from dataclasses import dataclass, field

from ..hosts.cluster import ClusterError, home, passfile
from ..knowledge import render, tls as tls_rules, topology
from . import role, tls as tls_step


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
    role_ensured: bool = False   # the replication role was checked (or planned)
    # hosts that serve their TLS plan's certificate (or will: plan): the
    # primary, and each standby that feeds another (cascading)
    tls_served: set = field(default_factory=set)
    tablespace_names: dict = field(default_factory=dict)   # oid -> name, read while it ran
    # (feeder name, slot): slots this run made; they hold WAL from when they
    # were made, so they vouch for nothing a stopped standby needed before
    # (and plan, which makes none, decides as the run does)
    made_slots: set = field(default_factory=set)
    # standby name -> where a copy of its data directory was kept by this run
    # (pg_rewind's): a copy may then replace what is there in place
    kept_copies: dict = field(default_factory=dict)
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
class Run:
    cluster: object          # hosts.cluster.Cluster
    settings: object         # context.Settings
    options: object          # context.Options
    state: RunState = field(default_factory=RunState)
    # {name: tls.Plan} of the standbys that feed others, each decided the
    # first time it is needed (tls_of)
    upstream_tls: dict = field(default_factory=dict, repr=False)

    @property
    def primary(self):
        return self.cluster.primary

    @property
    def standbys(self):
        return self.cluster.standbys

    @property
    def hosts(self):
        return self.cluster.hosts

    @property
    def major(self):
        return self.cluster.major

    @property
    def addresses(self):
        return self.cluster.addresses

    def primary_address(self):
        return self.cluster.primary_address()

    @functools.cached_property
    def topology(self):
        """Who feeds whom (knowledge.topology.Topology), by host name; checked
        with the settings, before any host was touched."""
        return topology.make(self.primary.name, [s.name for s in self.standbys],
                             self.settings.hosts)

    def host(self, name):
        return next(h for h in self.hosts if h.name == name)

    def feeder(self, standby):
        """The host a standby copies from and streams from: its upstream, else
        the primary."""
        return self.host(self.topology.feeder(standby.name))

    def fed_by(self, host):
        """The standbys (hosts) that `host` feeds."""
        return [self.host(name) for name in self.topology.feeds(host.name)]

    def slot(self, standby):
        return render.slot_name(standby.name)

    def passfile(self, standby):
        return passfile(standby)

    def pinned_path(self, standby):
        """Its feeder's certificate as the standby pins it (sslrootcert)."""
        return f"{home(standby)}/{tls_rules.PINNED}"

    def address(self, host):
        """The address the other hosts reach `host` at."""
        return self.addresses[host.name]

    @functools.cached_property
    def tls(self):
        """This run's TLS for replication (knowledge.tls.Plan), decided once
        from what the primary serves."""
        return tls_step.decide(self)

    def tls_of(self, feeder):
        """The TLS plan of the host that feeds standbys: the primary's
        (run.tls), or a standby's own certificate (cascading)."""
        if feeder is self.primary:
            return self.tls
        if feeder.name not in self.upstream_tls:
            self.upstream_tls[feeder.name] = tls_step.decide_upstream(self, feeder)
        return self.upstream_tls[feeder.name]

    def feeders(self):
        """The hosts that feed standbys: the primary, then the upstreams."""
        return [h for h in self.hosts if h is self.primary or self.topology.feeds(h.name)]

    def tls_decided(self):
        """The TLS plan if a step needed it in this run, else None (deciding
        it reads the primary)."""
        return self.__dict__.get("tls")

    @functools.cached_property
    def password(self):
        """The replication password for this run (never printed)."""
        return role.password(self)

    def conninfo(self, standby, **keywords):
        """The standby's connection string to its feeder, the primary or its
        upstream (primary_conninfo); keywords add to it or replace its own
        (dbname=..., connect_timeout=...)."""
        feeder = self.feeder(standby)
        plan = self.tls_of(feeder)
        if plan.install and feeder.name not in self.state.tls_served:
            raise ClusterError(f"{feeder.name} does not serve the certificate its "
                               "standbys are to pin yet: run "
                               + ("configure-master" if feeder is self.primary
                                  else "configure-standby") + " first")
        binding = tls_rules.channel_binding(plan, self.major,
                                            render.auth_method(self.major,
                                                               self.settings.auth_method))
        return render.conninfo({
            **render.replication_keywords(self.major, self.address(feeder),
                                          feeder.layout.port,
                                          self.settings.replication_role, self.slot(standby),
                                          self.passfile(standby)),
            **plan.keywords(self.pinned_path(standby), binding),
            **keywords})
