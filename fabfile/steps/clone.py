"""Copying the primary's data directory to standbys (the copy methods that
use this: steps/methods.py).

Each standby's copy is decided once, before any copy starts (`decide`: a
knowledge.copyplan.CopyPlan: the way and, for the default method, why
(`pick`), the source, compression and rate, tablespaces); `plan` prints it
(`describe`) and the copy carries it out (`carry_out`).  A way of copying
is one class with one contract (`Way`): its program, what a plan says of
it, and the copy:

- `PgBasebackup`: pg_basebackup run on the standby from the running primary
  (WAL streamed, through the standby's slot), written beside the data
  directory and swapped in only when complete;
- `RsyncOnline`: the online delta copy: rsync into the standby's data
  directory in place, inside a base backup held open on the running
  primary (`backup_held`), --checksum over what the standby holds;
- `TakeUp`: what a pg_basebackup cut short left in its incoming directory
  put in the data directory's place as a copy cut short, the rest sent by
  the online delta copy (the default method's resume of its fresh copy);
- `RsyncStopped`: rsync with both servers stopped (rsync-cold, any copy of
  a stopped primary); an earlier copy is updated with --checksum;
  global/pg_control is checked to be the primary's;
- `RsyncFromStandby`: fan-out (knowledge/fanout.py): a standby's finished
  copy sent to one more standby, the copy from the primary its fallback;
- `StartAsIs`: no copy (the default method, for a stopped standby whose WAL
  the primary still holds);
- `Rewind`: pg_rewind (the default method, for a standby that left the
  primary's history), a copy of its data directory kept first.

Every copy is compressed and rate-capped as the run asks, where its program
can (knowledge/transfer.py).  A standby directory that is not a copy of this
primary is moved aside, never deleted; an earlier copy of this primary is
replaced, or updated in place by rsync (what a cut rsync copy sent is kept
for the next run).  Standbys are copied at the same time (fan-out: wave by wave), each
in a thread of its own: one failing does not stop the others, and each step
returns {standby name: why it failed}.
"""
import threading
import time
from contextlib import contextmanager, nullcontext
from dataclasses import replace

from . import (access, checks, pages as pages_step, rewind, server, service, slots,
               standby as standby_step, summaries as summaries_step,
               tablespaces as tablespace_step)
from ..knowledge import (backup, datadir, fanout, pages, progress, rsync, summaries,
                         tablespaces, transfer, versions)
from ..knowledge.copyplan import CopyPlan
from ..knowledge.transfer import Program
from ..hosts.cluster import ClusterError, at_once
from ..hosts.remote import RemoteError
from ..knowledge.shell import join, sh


class Way:
    """One way of copying a standby: the program that copies, what a plan
    says of it (`how`, `describe`), and the copy itself (`copy`)."""
    program = None    # a transfer.Program: what it can compress
    label = ""        # its name in plan and error lines

    def how(self, plan):
        """The plan line's words on how it copies."""
        return "update, --checksum" if plan.earlier_copy else "fresh copy"

    def describe(self, run, plan, report):
        """What the copy would do (plan): its data directory, then the copy."""
        s, p = plan.standby, plan.primary
        if plan.keeps_aside:
            kept = datadir.aside_path(s.layout.data_dir,
                                      server.is_mount_point(s, s.layout.data_dir))
            report.change(s.name, f"move its own cluster (system identifier "
                                  f"{plan.state.system_id}, timeline {plan.state.timeline}) "
                                  f"aside to {kept}")
        origin = f"{p.name}:{p.layout.data_dir}"
        feeder = run.feeder(s)
        if not plan.from_primary:
            origin = (f"{plan.source.name}:{plan.source.layout.data_dir} ("
                      + ("its upstream" if feeder is plan.source else "fan-out")
                      + f": its finished copy of {p.name})")
        elif self is PG_BASEBACKUP and feeder is not p:
            origin = f"{feeder.name}, its upstream (a standby of {p.name})"
        report.change(s.name, f"copy {origin} ({server.data_size(p) / 1e6:.0f} "
                              f"MB, {self.how(plan)}; {travelling(plan)})")
        # The primary's tablespaces (a copy from a standby reads them where it keeps them).
        spaces = plan.tablespaces if plan.from_primary else plan.fallback.tablespaces \
            if plan.fallback else tuple(tablespace_step.of(run, plan.primary_state))
        for line in tablespace_step.describe(s, spaces, tablespace_step.sizes(p, spaces)):
            report.change(s.name, line)

    def copy(self, run, plan, report):
        raise NotImplementedError


class PgBasebackup(Way):
    program = Program.PG_BASEBACKUP
    label = "pg_basebackup"

    def how(self, plan):
        return "pg_basebackup"

    def copy(self, run, plan, report):
        backup_to(run, plan, report)


class RsyncWay(Way):
    """rsync from the source's data directory into the standby's (rsync_to).
    online: the primary runs, the copy made inside a base backup held open
    on one session of it; else the source is stopped (or a finished copy)."""
    program = Program.RSYNC
    online = False

    def copy(self, run, plan, report):
        rsync_to(run, plan, report, self)


class RsyncOnline(RsyncWay):
    """The online delta copy: the primary keeps running; what the standby
    holds already (an earlier copy, a copy cut short) is updated in place."""
    label = "online delta copy, primary running"
    online = True

    def how(self, plan):
        return ("online: what changed, --checksum" if plan.earlier_copy
                else "online, fresh copy")

    def describe(self, run, plan, report):
        super().describe(run, plan, report)
        if plan.earlier_copy:
            report.change(plan.standby.name, estimate(plan, plan.state))


class TakeUp(RsyncOnline):
    """What a pg_basebackup of this primary copied before it was cut short
    (its incoming directory: server.cut_copy) taken up as a copy cut short:
    put in the data directory's place as a finished one would be (its own
    cluster kept aside), then the online delta copy sends what it lacks."""

    def how(self, plan):
        return "online: what has not arrived, --checksum"

    def describe(self, run, plan, report):
        s = plan.standby
        incoming = server.cut_copy(s, plan.state, plan.primary_state)
        report.change(s.name, f"take up what a cut pg_basebackup copied ({incoming}) as its "
                              "data directory")
        Way.describe(self, run, plan, report)
        report.change(s.name, estimate(plan, plan.state, arrived_in=incoming))

    def copy(self, run, plan, report):
        s, pstate = plan.standby, plan.primary_state
        data = s.layout.data_dir
        sstate = server.read_state(s)
        incoming = server.cut_copy(s, sstate, pstate)
        if not incoming:
            raise ClusterError(f"what a cut pg_basebackup copied is no longer beside {data}; "
                               "run again")
        _, mount, actor = replacing_data(s)
        # Marked as a copy of this primary cut short; nothing in it boots (no
        # pg_control until the copy ends), and the cut backup's label is not
        # this copy's.  global/ may not have arrived: the swap into a data
        # directory that is a mount point moves it in last, by name.
        s.change(sh("mkdir -p {global_dir} && rm -f {control} {label} && "
                    "echo {system_id} > {marker}", global_dir=f"{incoming}/global",
                    control=f"{incoming}/{rsync.CONTROL_FILE}", label=f"{incoming}/backup_label",
                    system_id=pstate.system_id, marker=f"{incoming}/{rsync.COPYING_MARKER}"),
                 user="postgres")
        swap_in(s, sstate, incoming, replaceable(run, s, sstate, pstate), mount, actor, report)
        s.change(datadir.drop_leftovers(data, mount, actor), user=actor)   # older ones
        report.change(s.name, f"took up what a cut pg_basebackup copied ({incoming})")
        rsync_to(run, plan, report, self)


def estimate(plan, state, arrived_in=""):
    """The bytes a delta copy will send, estimated (progress.to_send), in
    words.  state: the standby's, as the copy finds it; arrived_in: where a
    copy cut short lies, if not in its data directory."""
    p, s = plan.primary, plan.standby
    total = server.data_size(p) + sum(tablespace_step.sizes(p, plan.tablespaces).values())
    if arrived_in or state.copying_from or state.wal_end is None:
        size = progress.to_send(total, arrived=server.data_size(s, arrived_in or None))
        why = "what has not arrived"
    else:
        size = progress.to_send(total, wal_since=server.current_lsn(p) - state.wal_end)
        why = "the WAL written since its copy"
    reading = "read in full on both hosts for --checksum"
    if versions.fact("wal_summaries", p.layout.major) and not arrived_in \
            and not summaries.unusable(state, plan.primary_state.timeline):
        reading = ("--checksum, but for the relation files the primary's WAL summaries show "
                   "unchanged, not read, and the changed pages they list, copied alone")
    return f"about {size / 1e6:.0f} MB of {total / 1e6:.0f} MB to send ({why}; {reading})"


class RsyncStopped(RsyncWay):
    pass


class RsyncFromStandby(RsyncWay):
    def copy(self, run, plan, report):
        """Once the primary's slot for the standby is seen to hold the WAL it
        will need (from where the source's copy began)."""
        s, source = plan.standby, plan.source
        slot = run.slot(s)
        if run.feeder(s) is source:
            # It streams from its upstream, which starts from the same copy:
            # its slot there is made as the upstream starts.
            report.note(s.name, f"copying from its upstream {source.name}, whose copy is "
                                "finished")
            return rsync_to(run, plan, report, self)
        start = fanout.backup_start(source.read(f"{source.layout.data_dir}/backup_label"))
        if not fanout.covers(slots.restart_lsn(plan.primary, slot), start):
            raise ClusterError(f"the primary's slot {slot} does not hold WAL from where "
                               f"{source.name}'s copy begins")
        report.note(s.name, f"copying from {source.name}, whose copy is finished (fan-out)")
        rsync_to(run, plan, report, self)


class StartAsIs(Way):
    """No copy: a stopped standby whose WAL the primary still holds only
    needs starting (the default method's cheapest path)."""
    label = "no copy"

    def describe(self, run, plan, report):
        report.change(plan.standby.name, "no copy: it is started as it is")

    def copy(self, run, plan, report):
        pass


class Rewind(Way):
    """pg_rewind onto the primary's timeline (rejoin's way), for a stopped
    copy that left the primary's history: only what changed on either side
    since the fork comes from the primary.  A copy of its data directory is
    kept first (the rewind changes it in place, and what it took after the
    fork lives only there); a rewind that fails falls to the online delta
    copy over it."""
    label = "pg_rewind, primary running"

    def describe(self, run, plan, report):
        s, p = plan.standby, plan.primary
        report.change(s.name, f"keep a copy of its data directory (timeline "
                              f"{plan.state.timeline}) beside it, then pg_rewind it onto "
                              f"{p.name}'s timeline {plan.primary_state.timeline}")

    def copy(self, run, plan, report):
        s, p = plan.standby, plan.primary
        started = time.monotonic()
        kept = rewind.keep_copy(run, s)
        report.change(s.name, f"kept a copy of its data directory (timeline "
                              f"{plan.state.timeline}) in {kept}")
        # pg_rewind reads the primary's timeline from its last checkpoint:
        # right after a promotion, still the old one ("no rewind required").
        p.psql_change("checkpoint")
        error = rewind.onto_primary(run, s)
        if error:
            cannot = delta_problem(p) or delta_problem(s)
            way = PG_BASEBACKUP if cannot else RSYNC_ONLINE
            report.say(f"!! {s.name}: pg_rewind failed ({error}): copied by {way.label} "
                       f"instead (its data directory is kept in {kept})")
            compression, why = travel(run, s, way.program, p)
            fallback = replace(plan, way=way, compression=compression, why_not=why,
                               earlier_copy=True)
            return way.copy(run, fallback, report)
        report.change(s.name, f"rewound to {p.name}'s timeline with pg_rewind in "
                              f"{time.monotonic() - started:.1f} s")
        for change in standby_step.write_marker(run, s):
            report.change(s.name, change)


PG_BASEBACKUP = PgBasebackup()
START_AS_IS = StartAsIs()
REWIND = Rewind()
RSYNC_ONLINE = RsyncOnline()
TAKE_UP = TakeUp()
RSYNC_STOPPED = RsyncStopped()
RSYNC_FROM_STANDBY = RsyncFromStandby()


def running(run, report, targets, way, fans_out_with):
    """Each standby stopped and copied from the running primary by `way`
    (None: the cheapest way for each, `pick`): all at once, or fanned out.
    fans_out_with: the method can fan out (its copies from the primary are
    base backups).  {name: why} for failures."""
    p = run.primary
    pstate = server.primary_state(p)
    if not pstate.running:
        raise ClusterError(f"PostgreSQL is not running on the primary {p.name}: a copy by "
                           f"{way.label if way else 'the default method'} is made from a "
                           "running server; start it")
    states = {s.name: refuse_foreign_data(s, pstate, run.options.force) for s in targets}
    spaces = tuple(tablespace_step.of(run, pstate))
    picked = {s.name: (way, "") for s in targets} if way \
        else pick(run, targets, pstate, states, spaces)
    fanning = [name for name, (way, _) in picked.items() if way is PG_BASEBACKUP]
    fans_out, why = fanout.applies(run.options.fan_out, fans_out_with, len(fanning),
                                   run.settings.sync_identity_file)
    if why and len(fanning) >= fanout.MIN_STANDBYS:
        report.note(p.name, f"every standby is copied from the primary ({why})")
    # A cascaded standby copied with its upstream, both by pg_basebackup:
    # from the upstream's finished copy, as fan-out does (the copy's WAL is
    # its upstream's, from which it streams).
    cascade = fans_out_with and not run.settings.sync_identity_file
    plans = decide(run, targets, picked, pstate, states, spaces, fans_out, cascade)
    for plan in plans:
        if plan.why:
            report.note(plan.standby.name, f"{plan.way.label}: {plan.why}")
    if run.options.dry:
        for plan in plans:
            if plan.state.running:
                report.change(plan.standby.name, "stop PostgreSQL")
            plan.way.describe(run, plan, report)
        return {}
    return carry_out(run, plans, report, stop=True)


def stopped(run, report, targets):
    """rsync with both servers stopped (rsync-cold, any copy of a stopped
    primary).  {name: why} for failures."""
    p, dry = run.primary, run.options.dry
    pstate = server.read_state(p)
    if pstate.running and not dry:
        raise ClusterError(f"PostgreSQL is running on the primary {p.name}: a file copy of a "
                           "running server is not consistent; run stop-all first")
    states = {}
    for s in targets:
        state = server.read_state(s)
        if state.running and not dry:
            raise ClusterError(f"PostgreSQL is running on {s.name}: its data directory is in "
                               "use; run stop-all first")
        states[s.name] = refuse_foreign_data(s, pstate, run.options.force, state)
    plans = decide(run, targets, {s.name: (RSYNC_STOPPED, "") for s in targets}, pstate, states,
                   tuple(tablespace_step.of(run, pstate)))
    if dry:
        for plan in plans:
            plan.way.describe(run, plan, report)
        return {}
    return carry_out(run, plans, report, stop=False)


def pick(run, targets, pstate, states, spaces):
    """{name: (way, why)}: the cheapest way to bring each standby back (the
    default method).  Stopped, its WAL still held by its slot (on its
    feeder; a slot this run made holds only what came after): started as it
    is.  An earlier copy of this primary (one cut short, one whose slot lost
    its WAL, a delayed standby on an earlier timeline), fed by the primary:
    only what differs is sent (the online delta copy).  One that diverged
    (server.diverged): pg_rewind where it can (rewind.problem), a copy of it
    kept first.  No copy of this primary, but what a pg_basebackup of it
    cut short left: that taken up (TakeUp).  Anything else, a cascaded
    standby, or a diverged one pg_rewind cannot bring back (kept aside):
    pg_basebackup.  spaces: the primary's tablespaces."""
    p = run.primary
    primary_lsn = server.current_lsn(p)
    primary_cannot = delta_problem(p)
    picked = {}
    for s in targets:
        state, slot = states[s.name], run.slot(s)
        if not server.is_copy_of(state, pstate):
            # rsync takes up a cut pg_basebackup (not a cascaded one's, nor
            # one with tablespaces: each went to an incoming directory of its own).
            cut = not spaces and not run.topology.cascaded(s.name) \
                and server.cut_copy(s, state, pstate)
            if cut and not (primary_cannot or delta_problem(s)):
                picked[s.name] = (TAKE_UP, f"a copy by pg_basebackup was cut short ({cut}): "
                                           "taken up, only what it lacks is sent")
                continue
            picked[s.name] = (PG_BASEBACKUP, "holds another cluster, moved aside: a fresh copy"
                              if state.exists else "holds no cluster: a fresh copy")
            continue
        feeder = run.feeder(s)
        held = "" if (feeder.name, slot) in run.state.made_slots \
            else slots.restart_lsn(feeder, slot)
        # Replay reaches a timeline switch only after the delay, and until
        # then the standby cannot ask for the new timeline: it would receive
        # nothing for up to its delay.
        delayed_behind = run.topology.delay_ms(s.name) \
            and int(state.timeline or 0) < int(pstate.timeline or 0)
        if not state.running and state.standby_marker and not state.copying_from \
                and state.segment_size.isdigit() and not delayed_behind \
                and fanout.covers(held, state.wal_end, int(state.segment_size)) \
                and not checks.attach_problem(s.name, pstate, state, primary_lsn):
            picked[s.name] = (START_AS_IS, f"stopped, the WAL it needs from {state.wal_end} is "
                                           f"still held by slot {slot}")
            continue
        if run.topology.cascaded(s.name):   # the online copy's backup and slot are the primary's
            picked[s.name] = (PG_BASEBACKUP, f"a fresh copy from its upstream "
                                             f"{run.topology.feeder(s.name)}")
            continue
        if state.copying_from:
            why = "its copy was cut short"
        elif server.diverged(state, pstate):
            left = (f"it left the primary's history (timeline {state.timeline}, the primary's "
                    f"{pstate.timeline})")
            cannot = rewind.problem(s, state, spaces)
            picked[s.name] = (PG_BASEBACKUP, f"{left}, but {cannot}: a fresh copy, its data "
                                             "directory kept aside with what it took since") \
                if cannot else (REWIND, f"{left}: pg_rewind takes back what it took since, "
                                        "a copy of its data directory kept first")
            continue
        elif state.running:
            why = "holds an earlier copy of this primary, not streaming"
        elif delayed_behind:
            why = (f"holds an earlier copy of this primary on timeline {state.timeline} "
                   f"(the primary's {pstate.timeline}); delayed, it would receive nothing "
                   "until its replay passed the switch")
        else:
            why = f"holds an earlier copy of this primary; slot {slot} lost the WAL it needs"
        cannot = primary_cannot or delta_problem(s)
        picked[s.name] = (PG_BASEBACKUP, f"{why}, but {cannot}: a fresh copy") if cannot \
            else (RSYNC_ONLINE, f"{why}: only what differs is sent")
    return picked


def delta_problem(host):
    """Why an online delta copy cannot involve host (the primary: its
    PostgreSQL's backup API; any: rsync), or ''."""
    major = host.layout.major
    if not backup.available(major):
        return f"PostgreSQL {versions.label(major)} has no non-exclusive backup"
    if host.query(sh("command -v rsync"), warn=True).exited != 0:
        return f"{host.name} has no rsync"
    return ""


def decide(run, targets, picked, pstate, states, spaces, fans_out=False, cascade=False):
    """Each standby's CopyPlan, in the order of copy: by its picked way
    ({name: (way, why)}) from the primary, or (fans_out) those picked for
    pg_basebackup in fan-out's waves, a standby copied in an earlier wave as
    the source and the copy from the primary as the fallback.  cascade: a
    standby whose upstream is copied by pg_basebackup too is copied from the
    upstream's finished copy, in the wave after it, with no fallback (it
    streams from that upstream).  spaces: the primary's tablespaces."""
    p = run.primary
    by_name = {s.name: s for s in targets}
    feeder = run.topology.feeder
    fresh = {name for name in by_name if picked[name][0] is PG_BASEBACKUP}
    after = [name for name in run.topology.order() if cascade and name in fresh
             and feeder(name) in fresh]
    direct = [name for name in by_name if name not in after]
    fanning = [name for name in direct if fans_out and name in fresh]
    order = (fanout.schedule(fanning) if fanning else []) \
        + [(name, None, 0) for name in direct if name not in fanning]
    waves = {name: wave for name, _, wave in order}
    for name in after:   # in the topology's order: each after its upstream
        waves[name] = waves[feeder(name)] + 1
        order.append((name, feeder(name), waves[name]))

    def plan(s, way, source, spaces, wave, fallback=None):
        compression, why = travel(run, s, way.program, source)
        return CopyPlan(standby=s, way=way, source=source, primary=p, primary_state=pstate,
                        state=states[s.name],
                        earlier_copy=replaceable(run, s, states[s.name], pstate),
                        compression=compression, why_not=why, max_rate=run.options.max_rate,
                        tablespaces=spaces, wave=wave, fallback=fallback,
                        why=picked[s.name][1])
    plans = []
    for name, source, wave in order:
        s = by_name[name]
        direct = plan(s, picked[name][0], p, spaces, wave)
        plans.append(direct if source is None else
                     plan(s, RSYNC_FROM_STANDBY, by_name[source],
                          tuple(tablespaces.from_standby(spaces)), wave,
                          fallback=None if name in after else direct))
    return plans


def carry_out(run, plans, report, stop):
    """Each plan's copy, wave by wave, every copy of a wave at once (stop:
    each standby stopped first).  A copy from a standby whose own copy
    failed, or that fails, is made from the primary instead.  {name: why}
    for the standbys whose copy failed."""
    failures = {}
    by_name = {plan.standby.name: plan for plan in plans}

    def copy(s):
        plan = by_name[s.name]
        if stop and service.stop(s, plan.state):
            report.change(s.name, "stopped PostgreSQL")
        if plan.fallback is None:
            if plan.source.name in failures:   # cascading: its upstream's copy
                raise ClusterError(f"the copy of its upstream {plan.source.name} failed")
            return plan.way.copy(run, plan, report)
        try:
            if plan.source.name in failures:
                raise ClusterError("its own copy failed")
            plan.way.copy(run, plan, report)
        except (ClusterError, RemoteError) as exc:
            report.say(f"!! {s.name}: copy from {plan.source.name} failed: {exc}; "
                       f"copying from the primary {plan.primary.name} instead")
            plan.fallback.way.copy(run, plan.fallback, report)
    for wave in sorted({plan.wave for plan in plans}):
        failures.update(each_standby(run, [plan.standby for plan in plans if plan.wave == wave],
                                     copy, report))
    return failures


def travel(run, s, program, source):
    """(Compression, why not) of a copy to s by `program` from source, for
    the compression this run asks for."""
    asked, lists = run.options.compress, ()
    if program is None:   # no copy
        return transfer.NONE, ""
    if program is Program.RSYNC and asked != transfer.NONE:
        # Both ends of the copy must know the algorithm.  No rsync at all is
        # preflight's to report (or the copy's): here it lists nothing.
        lists = tuple(transfer.rsync_compress_list(
            host.query(sh("rsync --version"), warn=True).stdout)
            for host in (source, s))
    return transfer.choose(asked, program, run.major, lists)


def travelling(plan):
    """How the copy travels, in words: compression and the rate cap."""
    return transfer.describe(plan.compression, plan.why_not, plan.max_rate)


def replaceable(run, s, state, pstate):
    """What the standby holds (state) may be replaced, or updated in place:
    an earlier copy of this primary (server.replaceable), or anything this
    run kept a copy of already (pg_rewind's, before a rewind that failed)."""
    return s.name in run.state.kept_copies or server.replaceable(state, pstate)


def backup_to(run, plan, report):
    """pg_basebackup into an incoming directory beside the data directory,
    swapped in once complete (PgBasebackup's copy)."""
    s, pstate, spaces = plan.standby, plan.primary_state, plan.tablespaces
    compression, max_rate = plan.compression, plan.max_rate
    lay = s.layout
    data = lay.data_dir
    places, mount, actor = replacing_data(s, spaces)
    incoming = datadir.incoming_path(data, mount, pstate.system_id)
    sstate = server.read_state(s)
    ours = replaceable(run, s, sstate, pstate)
    owned = tablespace_step.earlier_copies(s, spaces, ours)
    # A leftover incoming directory is an earlier backup cut short (this
    # fresh copy does not take it up: TakeUp): ours to remove.
    s.change(join([datadir.drop_leftovers(data, mount, actor),
                   datadir.make_dir(incoming, actor)], " && "), user=actor)
    tablespace_step.prepare(s, spaces, owned, places, incoming=True)
    # Keepalives: a primary that vanishes fails the backup instead of hanging it.
    # Its own application_name: while it copies, the primary must not list it
    # as the standby streaming.
    source = run.conninfo(s, connect_timeout=15, keepalives_idle=10,
                          keepalives_interval=5, keepalives_count=3,
                          application_name="pg_basebackup")
    started = time.monotonic()
    done = s.change(
        sh("{basebackup} -D {dir} -X stream -c fast -P -S {slot} -d {source} {travel} "
           "{mappings}", basebackup=lay.pg("pg_basebackup"), dir=incoming,
           slot=run.slot(s), source=source,
           travel=transfer.basebackup_options(compression, max_rate),
           mappings=tablespaces.mapping_options(spaces)), user="postgres",
        output=progress.Stream(report, s.name, progress.basebackup_line,
                               transfer.progress_note(compression, max_rate)))
    # pg_basebackup's own count (its last progress line), WAL aside: du of
    # the whole copy would read it all again.  Compressed on the server, it
    # counts what crossed the wire: then du.
    copied = progress.last(done.stderr, progress.basebackup_line) \
        if compression == transfer.NONE else None
    size = copied[0] if copied else server.data_size(s, incoming)
    # The standby marker before the swap: a data directory swapped in is never
    # one that a boot would start as a second primary.
    marked = standby_step.write_marker(run, s, data=incoming)
    swap_in(s, sstate, incoming, ours, mount, actor, report)
    for change in tablespace_step.swap_in(s, spaces, owned):
        report.change(s.name, change)
    tablespace_step.check(plan.primary, s, spaces, exact=False)
    report.change(s.name, f"copied {plan.primary.name} with pg_basebackup (primary running): "
                          f"{size / 1e6:.1f} MB in {time.monotonic() - started:.1f} s, "
                          + travelling(plan)
                          + with_tablespaces(spaces))
    for change in marked:
        report.change(s.name, change.replace(incoming, data))


def replacing_data(s, spaces=()):
    """(places, mount, actor) for a copy that replaces the data directory:
    its places proven again right before acting; inside a data directory
    that is a mount point, all is postgres's work (knowledge/datadir.py)."""
    places = server.proven(s, spaces)
    mount = server.is_mount_point(s, s.layout.data_dir)
    return places, mount, "postgres" if mount else places[s.layout.data_dir].actor


def swap_in(s, sstate, incoming, ours, mount, actor, report):
    """The copy in `incoming` put in the data directory's place, the host's
    own config files carried over; what was there deleted (ours: an earlier
    copy of this primary) or kept aside, said once done."""
    data = s.layout.data_dir
    kept = datadir.aside_path(data, mount) if sstate.exists and not ours else None
    s.change(join([*datadir.keep_own_configs(s.layout.own_config_files, data, incoming, actor),
                   *datadir.swap_script(data, incoming, kept, mount, actor)], " && "),
             user=actor)
    if kept:
        report.change(s.name, f"moved its own cluster (system identifier {sstate.system_id}) "
                              f"aside to {kept}")


def rsync_to(run, plan, report, way):
    """rsync the source's data directory into the standby's (an RsyncWay's
    copy), in place: pg_control is removed first and comes last, so a copy
    cut short never boots, and what it sent stays for the next run to
    update.  way.online: inside a base backup held open on the running
    primary (backup_held), whose backup_label and tablespace_map are
    written before pg_control arrives.  From a standby (fan-out), its
    finished copy is sent WAL included: it is part of that base backup."""
    s, p, pstate, spaces = plan.standby, plan.source, plan.primary_state, plan.tablespaces
    data = s.layout.data_dir
    places = server.proven(s, spaces)   # again, right before acting
    actor = places[data].actor
    # What is there now: a failed copy from a standby may have changed it
    # since the plan was made.
    sstate = server.read_state(s)
    earlier_copy = replaceable(run, s, sstate, pstate)
    owned = tablespace_step.earlier_copies(s, spaces, earlier_copy)
    if sstate.exists and not earlier_copy:
        kept = move_aside(s, actor)
        report.change(s.name, f"moved its own cluster (system identifier {sstate.system_id}) "
                              f"aside to {kept}")
    marker = f"{data}/{rsync.COPYING_MARKER}"
    s.change(datadir.ensure_dir(data, actor), user=actor)
    s.change(sh("echo {system_id} > {marker} && rm -f {control}", system_id=pstate.system_id,
                marker=marker, control=f"{data}/{rsync.CONTROL_FILE}"), user="postgres")
    for change in tablespace_step.prepare(s, spaces, owned, places, incoming=False):
        report.change(s.name, change)
    rules = rsync.filters(p.layout.major, s.layout.own_config_files, wal=not plan.from_primary) \
        + [rsync.CONTROL_LAST]
    compression, max_rate = plan.compression, plan.max_rate
    options = transfer.rsync_options(compression, max_rate)
    started = time.monotonic()
    # Checksums wherever the target may hold files already (see rsync.command);
    # a directory just emptied by move_aside needs none.
    update = earlier_copy or not sstate.exists
    # pg_control of a running primary lands under another name, renamed once
    # the backup_label is there: without it, a boot would start on torn files.
    control = rsync.CONTROL_INCOMING if way.online else rsync.CONTROL_FILE
    # What the copy's key may write into: nothing else on the standby.
    wal_dir = versions.fact("wal_dir", s.layout.major)
    targets = [data, f"{data}/{control}", *(t.dest for t in spaces)] \
        + ([f"{data}/{wal_dir}", f"{data}/{pages.STAGE}"] if way.online else [])
    if way.online and earlier_copy:
        report.note(s.name, estimate(plan, sstate))
    with access.host_to_host_ssh(run, s, report, targets, p) as (ssh, target, user), \
            (backup_held(run, plan, report) if way.online else nullcontext()) as held:
        changes = dated_changes(p, plan, sstate, held, user, report) if earlier_copy else None
        cmd = rsync.command(p.layout.data_dir, f"{target}:{data}",
                            rules + (changes.rules() if changes else []), ssh,
                            checksum=update, transfer=options)
        done = p.change(cmd, user=user, warn=way.online,
                        output=progress.Stream(report, s.name, progress.rsync_line,
                                               transfer.progress_note(compression, max_rate)))
        if done.exited not in (0, rsync.VANISHED):
            raise RemoteError(f"{p.name}: rsync to {s.name} failed (exit {done.exited}): "
                              + p.failure(done))
        tablespace_step.copy(p, spaces, target, ssh, user, checksum=update, transfer=options,
                             changes=changes)
        tablespace_step.relink(s, spaces)
        if changes and changes.pages:
            pages_step.copy(p, s, changes, spaces, ssh, target, user, options, run.slot(s),
                            report)
        p.change(rsync.control_file_command(p.layout.data_dir, f"{target}:{data}", ssh,
                                            control), user=user)
        if held:
            stopped = held.stop()
            write_backup_files(s, spaces, stopped)
            names = backup.wal_files(stopped[1], stopped[0], pstate.segment_size)
            if names:
                p.change(rsync.wal_command(p.layout.data_dir, wal_dir, names, f"{target}:{data}",
                                           ssh, options), user=user)
                report.note(s.name, f"sent the backup's WAL with the files ({len(names)} "
                                    f"segment{'s' if len(names) > 1 else ''} from {names[0]})")
        # The standby marker before pg_control: once a boot could start this
        # directory, it starts a standby.
        marked = standby_step.write_marker(run, s)
        if way.online:
            s.change(sh("mv -f {incoming} {control}", incoming=f"{data}/{control}",
                        control=f"{data}/{rsync.CONTROL_FILE}"), user="postgres")
    stats = rsync.parse_stats(done.stdout)
    how = way.how(plan) if way.online else "update, --checksum" if update else "fresh copy"
    if not plan.from_primary:
        how = f"fan-out: its finished copy of {plan.primary.name}; {how}"
    report.change(s.name, f"copied {p.name}:{p.layout.data_dir} ({how}): "
                          f"{stats.get('Number of regular files transferred', '?')} files, "
                          f"{stats.get('Total bytes sent', 0) / 1e6:.1f} MB in "
                          f"{time.monotonic() - started:.1f} s, "
                          + travelling(plan)
                          + with_tablespaces(spaces))
    # A running primary's files change under the copy: WAL replay from the
    # backup's start settles them, not a count nor pg_control's bytes.
    tablespace_step.check(p, s, spaces, exact=not way.online)
    if not way.online:
        check_control_file(p, s)
    s.change(sh("rm -f {marker}", marker=marker), user="postgres")
    for change in marked:
        report.change(s.name, change)


def dated_changes(p, plan, sstate, held, user, report):
    """An online copy over the standby's own earlier copy: the relation
    files the primary's WAL summaries say changed since its last
    restartpoint (knowledge/summaries.py), those whose changed pages are
    copied alone (steps/pages.py) among them, or None to compare every file."""
    if not held:
        return None
    s = plan.standby
    changes, why = summaries_step.changed_since(p, plan.primary_state, sstate, held.start)
    if not changes:
        if why:
            report.note(s.name, f"every file compared: {why}")
        return None
    report.note(s.name, f"the primary's WAL summaries since its last restartpoint "
                        f"({sstate.redo}) name {changes.file_count()} changed relation files: "
                        "the others are not read")
    unfit = pages_step.unfit(p, s, changes, plan.tablespaces, user, sstate, held.start) \
        if changes.pages else ""
    if unfit:
        report.note(s.name, f"changed files compared whole: {unfit}")
        changes = changes.without_pages()
    return changes


BACKUP_STARTS = threading.Lock()   # one backup start and its slot at a time


@contextmanager
def backup_held(run, plan, report):
    """A non-exclusive base backup of the running primary held open on one
    psql session (local, as postgres: no password anywhere) while the block
    copies; yields it, to stop once the files are there.  The standby's slot
    is made anew right after the start, so it holds WAL from the backup's
    checkpoint (made before, a slot would reserve from an older one, which
    max_slot_wal_keep_size may already have given up).  The session ends at
    the block's end whatever happens: a backup not stopped is then abandoned
    by the server."""
    p, s = plan.primary, plan.standby
    major = p.layout.major
    if not backup.available(major):
        raise ClusterError("an online copy needs the non-exclusive backup API (PostgreSQL "
                           "9.6 or later): use --method basebackup or rsync-cold")
    with p.psql_session() as session:
        # Another copy's backup start in between would move the checkpoint
        # the slot reserves from past this backup's start.
        with BACKUP_STARTS:
            session.send(backup.start_sql(major))
            start = backup.started(session.expect(backup.STARTED_LINE, backup.START_TIMEOUT,
                                                  "starting the base backup"))
            slots.reset(run, s, report)
        check_slot_holds(run, s, start)
        report.note(s.name, f"base backup held open on {p.name} from {start} (its WAL "
                            f"comes through slot {run.slot(s)})")
        yield HeldBackup(run, s, session, start)


def check_slot_holds(run, s, start):
    """The primary's slot for s holds WAL from start (a ClusterError else)."""
    slot = run.slot(s)
    if not fanout.covers(slots.restart_lsn(run.primary, slot), start):
        cap = " or is beyond max_slot_wal_keep_size: raise it" \
            if versions.fact("slot_wal_keep", run.major) else ""
        raise ClusterError(f"the primary's slot {slot} does not hold WAL from {start}, where "
                           f"the copy's backup starts (a checkpoint came in between{cap}); "
                           "run again: what was copied is kept")


class HeldBackup:
    def __init__(self, run, s, session, start):
        self.run, self.standby, self.session, self.start = run, s, session, start

    def stop(self):
        """(end, backup_label, tablespace_map) once the copy is there, its
        WAL still held by the slot."""
        major = self.run.primary.layout.major
        self.session.send(backup.stop_sql(major))
        stopped = backup.stopped(self.session.expect(backup.STOPPED_LINE, backup.STOP_TIMEOUT,
                                                     "stopping the base backup"))
        check_slot_holds(self.run, self.standby, self.start)
        return stopped


def write_backup_files(s, spaces, stopped):
    """The backup's backup_label and tablespace_map (at the standby's
    locations) as files in the standby's data directory."""
    _, label, spcmap = stopped
    data = s.layout.data_dir
    s.install(f"{data}/backup_label", label, owner="postgres", mode="600")
    if spaces:
        s.install(f"{data}/tablespace_map", backup.standby_map(spcmap, spaces),
                  owner="postgres", mode="600")


def all_copied(failed):
    """A run fails when any standby's copy did (the others went on)."""
    if failed:
        raise ClusterError(f"copy failed on {len(failed)} standby(s): "
                           + "; ".join(f"{name}: {why}" for name, why in failed.items())
                           + "; fix the cause and run again")



def refuse_foreign_data(s, pstate, force, state=None):
    """Refuses a standby whose data is not ours to replace; else its state
    (state: if just read)."""
    state = state or server.read_state(s)
    problem = server.standby_data_problem(s, pstate, force, state)
    if problem:
        raise ClusterError(problem)
    return state


def each_standby(run, targets, copy, report):
    """copy(standby) for every standby at once; {name: why} for those that
    failed, also kept in the run's state."""
    def copy_one(s):
        try:
            copy(s)
        finally:
            report.copy_done(s.name)
    failures = {name: str(exc) for name, exc in at_once(targets, copy_one).items()}
    for name, why in failures.items():
        report.say(f"!! {name}: copy failed: {why}")
    run.state.failed.update(failures)
    return failures



def with_tablespaces(spaces):
    return "; with " + ", ".join(t.describe() for t in spaces) if spaces else ""


def move_aside(s, actor):
    """Keep the data directory's contents aside (a rename: beside it, or
    inside it when it is a mount point); the host's own config files stay.
    actor: who acts where the data directory lies (knowledge/places.py)."""
    data = s.layout.data_dir
    mount = server.is_mount_point(s, data)
    actor = "postgres" if mount else actor
    kept = datadir.aside_path(data, mount)
    remade = [] if mount else [datadir.make_dir(data, actor)]
    s.change(join([*datadir.clear_script(data, kept, mount, actor), *remade,
                   *datadir.keep_own_configs(s.layout.own_config_files, kept, data, actor)],
                  " && "), user=actor)
    return kept


def check_control_file(p, s):
    """global/pg_control on the standby must be the primary's, byte for byte."""
    def digest(host):
        return host.query(sh("md5sum {path}", path=f"{host.layout.data_dir}/global/pg_control"),
                          user="postgres").stdout.split()[0]
    if digest(p) != digest(s):
        raise ClusterError(f"{s.name}: global/pg_control differs from the primary's after "
                           "the copy; run sync again")
