"""Retire standbys: `fab -H <primary>,<standby>[,...] remove-standby`.

What feeds each retired standby forgets it first: its pg_hba lines go
(with a reload, so that it cannot connect again), then its slot, so that no
WAL is kept for it (a feeder that is itself retired still runs then).  On
the retired host the server is then stopped, kept from starting
at boot and its passfile (the replication password) removed; the data
directory stays where it is, but a stale copy does not come back as a
confused server.  A retired host that cannot be reached is still forgotten
by what fed it, and the report says so.

Each retired host is opened on its own (open_host, not connect, which
needs every host): the one that is down is often the reason to retire it.  What the run
will do is decided first (`decide`), printed by --plan, then carried out.
"""
import time
from dataclasses import dataclass

from . import config, server, service, slots as slots_step
from ..hosts.cluster import ClusterError, HostKeyError, each, open_host, passfile
from ..hosts.remote import RemoteError
from ..knowledge import blocks, render
from ..knowledge.shell import sh

# A slot's WAL sender ends a moment after it is told to: drop the slot within this.
DROP_SECONDS = 10


@dataclass
class Retiring:
    """One standby to retire, as decided before any change."""
    name: str
    feeder: object            # the host it streams from (the primary, or its upstream)
    host: object = None       # None: it could not be reached
    unreachable: str = ""     # why not
    slot: str = ""            # its slot's name


@dataclass
class Served:
    """What a feeder holds for standbys: the names its pg_hba block admits,
    and its slots."""
    admitted: list
    slots: set

    def knows(self, r):
        return r.name in self.admitted or r.slot in self.slots


def remove_standbys(config_, settings, report, dry, primary_name, names):
    """Retire the standbys `names`; primary_name: the current primary.  Every
    feeder involved (the primary, and each one's upstream from
    hotstandby.hosts.<name>) forgets them: the primary admits every standby,
    an upstream the ones it feeds, and a cascaded one's slot may still be on
    the primary."""
    upstreams = {n: (settings.hosts.get(n) or {}).get("upstream") or primary_name
                 for n in names}
    feeder_names = list(dict.fromkeys([primary_name, *upstreams.values()]))
    opened = []
    try:
        feeders = {}
        for name, outcome in zip(feeder_names, each(feeder_names, lambda n: open_host(
                n, config_, settings, dry))):
            if outcome.error is not None:
                raise outcome.error   # a feeder must be reached: it holds the slot
            feeders[name] = outcome.value
            opened.append(outcome.value)
        standbys = each(names, lambda n: open_host(n, config_, settings, dry))
        served = {name: Served(render.hba_standbys(blocks.block_lines(
                      host.read(host.layout.hba_file))), slots_step.existing(host))
                  for name, host in feeders.items()}
        retiring = decide(feeders, served, primary_name, names, upstreams, standbys, opened)
        # Feeders first: one may itself be retired, and it forgets while it runs.
        for name, feeder in feeders.items():
            forget(feeder, served[name], retiring, settings.backup_dir, report)
        for r in retiring:
            if r.host:
                on_the_standby(r, report)
        for r in retiring:
            if r.host:
                report.note(r.name, f"its data directory is kept in {r.host.layout.data_dir}")
            else:
                report.say(f"!! {r.name}: cannot be reached ({r.unreachable}): {r.feeder.name} "
                           "no longer serves it; once it is back, run this again to stop its "
                           "server and keep it from starting")
        listed = [r.name for r in retiring if r.name in settings.standbys]
        if listed:
            report.say(f"  next: take {', '.join(listed)} out of hotstandby.standbys, or the "
                       "next full sets them up again")
    finally:
        for host in opened:
            host.close()


def decide(feeders, served, primary_name, names, upstreams, outcomes, opened):
    """[Retiring] for the standbys `names`, or a ClusterError before any change.
    feeders: {name: host}; served: {name: Served}; upstreams: each name's
    feeder; outcomes: open_host's, per name (the hosts opened are added to
    `opened`)."""
    p = feeders[primary_name]
    pstate = server.read_state(p)
    if not pstate.running or server.in_recovery(p) is not False:
        raise ClusterError(f"{p.name} is not a running primary: name the current primary "
                           "first (-H PRIMARY,STANDBY...)")
    for name, feeder in feeders.items():
        if feeder is not p and not server.read_state(feeder).running:
            fed = ", ".join(n for n in names if upstreams[n] == name)
            raise ClusterError(f"{name}, the upstream of {fed}, is not running: start it "
                               "(it holds their slots)")
    retiring = []
    for name, outcome in zip(names, outcomes):
        if outcome.error is None:
            opened.append(outcome.value)
        elif isinstance(outcome.error, HostKeyError) or not isinstance(outcome.error,
                                                                       ClusterError):
            raise outcome.error   # a host not trusted says nothing; a bug is a bug
        r = Retiring(name, feeders[upstreams[name]], outcome.value,
                     str(outcome.error or "").removeprefix(f"{name}: "), render.slot_name(name))
        retiring.append(r)
        known = any(s.knows(r) for s in served.values())
        if r.host:
            check_standby(r, pstate, names, known)
        elif not known:
            raise ClusterError(f"{name} cannot be reached ({r.unreachable}) and "
                               f"{r.feeder.name} has no slot or pg_hba entry for it: check the "
                               "name")
    return retiring


def check_standby(r, pstate, names, known):
    """A reachable host to retire: a standby of this cluster that feeds no
    standby staying on.  known: a feeder holds a slot or pg_hba entry for it."""
    state = server.read_state(r.host)
    if not state.running:
        if state.exists and state.system_id != pstate.system_id and not known:
            raise ClusterError(f"{r.name} holds another cluster and {r.feeder.name} does not "
                               f"serve it: it is not a standby here")
        return
    if server.in_recovery(r.host) is False:
        raise ClusterError(f"{r.name} runs as a primary, not as a standby: retire only "
                           "standbys (promote or switch over first)")
    fed = [row[0] for row in r.host.psql("select application_name from pg_stat_replication")
           if row[0] not in {render.slot_name(n) for n in names}]
    if fed:
        raise ClusterError(f"{r.name} feeds {', '.join(fed)} (streaming from it): retire "
                           f"{'them' if len(fed) > 1 else 'it'} too, or give "
                           f"{'them' if len(fed) > 1 else 'it'} another upstream and run "
                           "full first")


def on_the_standby(r, report):
    """Stop it, keep it down at boot, take away the replication password."""
    s = r.host
    if service.stop(s):
        report.change(s.name, "stopped PostgreSQL")
    kept_down = s.layout.kept_down()
    for command, user, _ in kept_down:
        s.change(command, user=user)
    report.change(s.name, "kept from starting at boot ("
                          + (", ".join(what for _, _, what in kept_down)
                             or "no service manager starts it")
                          + "); it can still be started by hand")
    path = passfile(s)
    if s.read(path) is not None:
        s.change(sh("rm -f {path}", path=path), user="postgres")
        report.change(s.name, f"removed {path} (the replication password)")


def forget(p, served, retiring, backup_dir, report):
    """On a feeder p (the primary, or an upstream standby), with what it
    serves: the retired standbys' pg_hba lines, then their slots."""
    gone = sorted(r.name for r in retiring if r.name in served.admitted)
    if gone:
        text = p.read(p.layout.hba_file)
        kept = render.hba_without(blocks.block_lines(text), set(gone))
        changed = config.ensure_block(p, p.layout.hba_file, kept, "postgres", "640",
                                      backup_dir, at="start", current=text)
        if changed:
            server.reload(p)
            report.change(p.name, f"no more replication from {', '.join(gone)}: {changed}")
    for r in retiring:
        if r.slot in served.slots:
            drop_slot(p, r.slot)
            report.change(p.name, f"dropped replication slot {r.slot} (retired: it holds no "
                                  "WAL for it now)")


def drop_slot(p, slot):
    """Drop a slot, ending the WAL sender that still uses it (a standby this
    run could not reach, still streaming: pg_hba turns its next try away)."""
    name = render.sql_literal(slot)
    deadline = time.monotonic() + DROP_SECONDS
    while True:
        p.psql_change(f"select pg_terminate_backend(active_pid) from pg_replication_slots "
                      f"where slot_name = {name} and active_pid is not null")
        try:
            p.psql_change(f"select pg_drop_replication_slot({name})")
            return
        except RemoteError:   # its sender has not ended yet
            if time.monotonic() > deadline:
                raise ClusterError(f"{p.name}: could not drop replication slot {slot}: it is "
                                   "still in use; run this again") from None
            time.sleep(0.2)
