"""Who feeds whom: each standby's feeder (its `upstream`, another standby,
else the primary), the order in which they are set up, and each standby's
replay delay.  Made once from the host list and `hotstandby.hosts` (settings
of one host by the name given to -H), before any host is touched.

Pure: names and durations in, a value out.
"""
import re
from dataclasses import dataclass, field


class TopologyError(ValueError):
    """A per-host setting that does not fit the run's hosts: one line with the fix."""


# PostgreSQL's time units (guc.c), in milliseconds: recovery_min_apply_delay
# takes a value with one, and a bare number as milliseconds.
UNITS = {"ms": 1, "s": 1000, "min": 60_000, "h": 3_600_000, "d": 86_400_000}
DURATION = re.compile(r"(\d+)\s*(ms|s|min|h|d)")
MAX_MS = 2**31 - 1   # recovery_min_apply_delay is an int of milliseconds


def duration_ms(value):
    """A delay (`1h`, `30min`, `0`) in milliseconds; ValueError with the fix.
    A bare number other than 0 is refused: PostgreSQL would read it as
    milliseconds, which is rarely what was meant."""
    text = str(value).strip() if value is not None else ""
    if text == "0":
        return 0
    match = DURATION.fullmatch(text)
    if isinstance(value, bool) or not match:
        raise ValueError("use a duration with a unit such as 30min, 1h, 2d (ms, s, min, "
                         "h, d), or 0")
    ms = int(match.group(1)) * UNITS[match.group(2)]
    if ms > MAX_MS:
        raise ValueError("use a duration of at most 24d (PostgreSQL's limit, 2^31 ms)")
    return ms


def pg_duration(ms):
    """Milliseconds as PostgreSQL reads a time: in the largest unit that
    divides them (3600000 -> 1h)."""
    unit = next((u for u in ("d", "h", "min", "s") if ms and ms % UNITS[u] == 0), "ms")
    return f"{ms // UNITS[unit]}{unit}"


def host_names(cli_hosts, primary, standbys):
    """The run's hosts in order (the primary first): -H, else the config's
    primary and standbys."""
    names = [h.strip() for h in cli_hosts or () if h.strip()]
    if not names and primary:
        names = [primary, *(standbys or ())]
    return names


@dataclass(frozen=True)
class Topology:
    primary: str
    standbys: tuple                                 # as given
    upstreams: dict = field(default_factory=dict)   # cascaded standby -> its upstream
    delays: dict = field(default_factory=dict)      # standby -> milliseconds (not 0)

    def feeder(self, name):
        """The host `name` copies from and streams from: its upstream, else the primary."""
        return self.upstreams.get(name, self.primary)

    def feeds(self, name):
        """The standbys that `name` feeds, in the order given."""
        return tuple(s for s in self.standbys if self.feeder(s) == name)

    def cascaded(self, name):
        return name in self.upstreams

    def delay_ms(self, name):
        """The standby's intended replay delay in milliseconds (0: none)."""
        return self.delays.get(name, 0)

    def tiers(self):
        """The standbys in tiers: first those the primary feeds, then those
        each earlier tier feeds; a feeder's tier comes before what it feeds."""
        tiers, done = [], {self.primary}
        while True:
            tier = tuple(s for s in self.standbys if s not in done and self.feeder(s) in done)
            if not tier:   # all placed, or the rest never reach the primary (a cycle)
                return tiers
            tiers.append(tier)
            done.update(tier)

    def order(self):
        """Every standby, each after the one that feeds it."""
        return tuple(s for tier in self.tiers() for s in tier)


def make(primary, standbys, per_host):
    """The topology of a run (primary, standbys: names) from `hotstandby.hosts`
    (per_host: name -> {upstream, apply_delay}, entries checked one by one
    already).  TopologyError for an upstream not among the standbys, or a
    cycle.  An upstream that is the primary is the default; the primary's own
    upstream and delay are ignored (after a switchover its entry still
    describes it as a standby)."""
    standbys = tuple(standbys)
    upstreams, delays = {}, {}
    for name in standbys:
        entry = per_host.get(name) or {}
        upstream = entry.get("upstream")
        if upstream == name:
            raise TopologyError(f"hotstandby.hosts.{name}.upstream = {upstream!r}: a standby "
                                "cannot stream from itself: name another standby, or leave "
                                "it empty for the primary")
        if upstream and upstream != primary:
            if upstream not in standbys:
                raise TopologyError(
                    f"hotstandby.hosts.{name}.upstream = {upstream!r}: not among this run's "
                    f"standbys ({', '.join(standbys)}): add {upstream} to -H, or leave it "
                    "empty for the primary")
            upstreams[name] = upstream
        delay = entry.get("apply_delay")
        if delay is not None:
            try:
                ms = duration_ms(delay)
            except ValueError as exc:
                raise TopologyError(f"hotstandby.hosts.{name}.apply_delay = {delay!r}: "
                                    f"{exc}") from None
            if ms:
                delays[name] = ms
    topology = Topology(primary, standbys, upstreams, delays)
    placed = set(topology.order())
    loop = [s for s in standbys if s not in placed]
    if loop:
        raise TopologyError(f"hotstandby.hosts: the upstreams of {', '.join(loop)} never "
                            "reach the primary (a cycle): let one of them stream from the "
                            "primary (no upstream)")
    return topology


def with_upstreams(primary, names, per_host):
    """names, then the upstreams that feed them, each chain up to the primary
    (from `hotstandby.hosts`, not yet checked): the hosts a run that touches
    only `names` involves."""
    found = list(names)
    for name in found:   # grows while read: each upstream's own upstream next
        upstream = (per_host.get(name) or {}).get("upstream")
        if upstream and upstream != primary and upstream not in found:
            found.append(upstream)
    return found
