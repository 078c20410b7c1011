"""Retire standbys: `fab -H <primary>,<standby>[,...] remove-standby`.

What feeds each retired standby forgets it: its pg_hba lines go (with a
reload, so that it cannot connect again), then its slot, so that no WAL is
kept for it.  On the retired host the server is stopped, kept from starting
at boot and its passfile (the replication password) removed; the data
directory stays where it is, but a stale copy does not come back as a
confused server.  A retired host that cannot be reached is still forgotten
by what fed it, and the report says so.

Retired hosts are opened one by one (hosts.cluster.open_host), as promote
does: the one that is down is often the reason to retire it.  What the run
will do is decided first (`decide`), printed by --plan, then carried out.
"""
import time
from dataclasses import dataclass

from . import config, server, service, slots as slots_step
from ..hosts.cluster import ClusterError, HostKeyError, each, open_host, passfile, roles
from ..hosts.remote import RemoteError
from ..knowledge import blocks, render
from ..knowledge.shell import sh

# A slot's WAL sender ends a moment after it is told to: drop the slot within this.
DROP_SECONDS = 10


@dataclass
class Retiring:
    """One standby to retire, as decided before any change."""
    name: str
    host: object = None       # None: it could not be reached
    unreachable: str = ""     # why not
    running: bool = False
    in_hba: bool = False      # the feeder's pg_hba block names it
    slot: str = ""            # its slot on the feeder, if there is one


def remove_standbys(config_, settings, report, dry):
    """Retire every host after the first (the primary, which feeds them)."""
    primary_name, names = roles(settings)
    p = open_host(primary_name, config_, settings, dry)
    opened = []
    try:
        retiring = decide(p, names, each(names, lambda n: open_host(n, config_, settings, dry)),
                          opened)
        for r in retiring:
            if r.host:
                on_the_standby(r, report)
        forget(p, retiring, settings.backup_dir, report)
        for r in retiring:
            if r.host:
                report.note(r.name, f"its data directory is kept in {r.host.layout.data_dir}")
            else:
                report.say(f"!! {r.name}: cannot be reached ({r.unreachable}): {p.name} no "
                           f"longer serves it; once it is back, run this again to stop its "
                           "server and keep it from starting")
        listed = [r.name for r in retiring if r.name in settings.standbys]
        if listed:
            report.say(f"  next: take {', '.join(listed)} out of hotstandby.standbys, or the "
                       "next full sets them up again")
    finally:
        for host in [p, *opened]:
            host.close()


def decide(p, names, outcomes, opened):
    """[Retiring] for the standbys `names`, or a ClusterError before any change.
    outcomes: open_host's, per name; the hosts opened are added to `opened`."""
    pstate = server.read_state(p)
    if not pstate.running or server.in_recovery(p) is not False:
        raise ClusterError(f"{p.name} is not a running primary: name the current primary "
                           "first (-H PRIMARY,STANDBY...)")
    served = render.hba_standbys(blocks.block_lines(p.read(p.layout.hba_file)))
    slots = slots_step.existing(p)
    retiring = []
    for name, outcome in zip(names, outcomes):
        if outcome.error is None:
            opened.append(outcome.value)
        elif isinstance(outcome.error, HostKeyError) or not isinstance(outcome.error,
                                                                       ClusterError):
            raise outcome.error   # a host not trusted says nothing; a bug is a bug
        slot = render.slot_name(name)
        r = Retiring(name, outcome.value, str(outcome.error or "").removeprefix(f"{name}: "),
                     in_hba=name in served, slot=slot if slot in slots else "")
        retiring.append(r)
        if r.host:
            state = server.read_state(r.host)
            r.running = state.running
            if state.running and server.in_recovery(r.host) is False:
                raise ClusterError(f"{name} runs as a primary, not as a standby of {p.name}: "
                                   "retire only standbys (promote or switch over first)")
            if state.exists and state.system_id != pstate.system_id and not (r.in_hba or r.slot):
                raise ClusterError(f"{name} holds another cluster and {p.name} does not serve "
                                   f"it: it is not a standby of {p.name}")
        elif not (r.in_hba or r.slot):
            raise ClusterError(f"{name} cannot be reached ({r.unreachable}) and {p.name} has "
                               "no slot or pg_hba entry for it: check the name")
    return retiring


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


def forget(p, retiring, backup_dir, report):
    """On the feeder p: the retired standbys' pg_hba lines, then their slots."""
    gone = {r.name for r in retiring if r.in_hba}
    if gone:
        text = p.read(p.layout.hba_file)
        kept = render.hba_without(blocks.block_lines(text), gone)
        changed = config.ensure_block(p, p.layout.hba_file, kept, "postgres", "640",
                                      backup_dir, at="start", current=text)
        if changed:
            server.reload(p)
            report.change(p.name, f"no more replication from {', '.join(sorted(gone))}: "
                                  f"{changed}")
    for r in retiring:
        if r.slot:
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
