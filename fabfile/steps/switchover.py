"""Switchover: a healthy primary and one of its standbys swap roles in
seconds, with proof that no acknowledged commit was lost, and nothing copied
or rewound (`fab -H <primary>,<standby>[,...] switchover`).

In order: checks that change nothing; everything the new topology needs made
while both still run (on the candidate its own certificate, pg_hba lines and
slots; on the old primary the passfile and pin it will use; on the other
standbys the candidate's certificate pinned beside the old primary's), with
the old primary's replication login to the candidate proven; the switch (CHECKPOINT,
a clean stop through the old primary's unit, the proof, promotion); then the
old primary follows as a standby (no pg_rewind: it was not written after its
shutdown checkpoint) and the other standbys are repointed by a reload.

Until the candidate accepts writes, any failure or interrupt rolls back: the
old primary starts again as the primary and the candidate stays a standby.
Never are two primaries writable: a candidate asked to promote is stopped
before the old primary starts again.
"""
import time

from . import (config, failover, lifecycle, primary as primary_step, server, service, slots,
               standby as standby_step, tls)
from .checks import replication_login, unlisted_streaming
from .run import Run
from ..hosts.cluster import Cluster, ClusterError, find_addresses
from ..hosts.remote import RemoteError
from ..knowledge import diagnose, render, switchover as rules, versions
from ..knowledge.lsn import Lsn
from ..knowledge.shell import sh


def switchover(run, report, wanted=None):
    """Make the standby `wanted` (or the only one) run's primary; the old
    primary and the other standbys follow it."""
    name = failover.candidate_name([s.name for s in run.standbys], wanted)
    candidate = next(s for s in run.standbys if s.name == name)
    new = after(run, candidate)
    with report.step("switchover checks"):
        check(run, new, report)
    with report.step("prepare the new primary"):
        prepare(run, new, report)
    with report.step("switch"):
        proof = switch(run, new, report)
    with report.step("follow the new primary"):
        follow(run, new, report)
    if run.options.dry:
        report.say(f"  plan: {len(report.changes)} changes; run switchover without --plan "
                   "to make them")
        return
    report.summary(new)
    report.say(f"  {proof}\n  write outage: {new.state.downtime:.1f} s ({run.primary.name} "
               f"stopped -> {new.primary.name} accepts writes)")
    order = ",".join(h.name for h in new.hosts)
    report.say(f"  next: fab -H {order} status   # the hosts in their new order")


def after(run, candidate):
    """The run as it will be: the candidate primary, the old primary and the
    other standbys its standbys (the same hosts, their addresses towards it)."""
    cluster = Cluster(candidate, [run.primary, *(s for s in run.standbys if s is not candidate)])
    find_addresses(cluster, run.settings.addresses)
    return Run(cluster, run.settings, run.options)


def check(run, new, report):
    """Refuse, changing nothing, a switchover that cannot be made safely now:
    the first problem is the one line."""
    p, c = run.primary, new.primary
    if run.topology.cascaded(c.name):
        raise ClusterError(f"{c.name} streams from its upstream "
                           f"{run.topology.feeder(c.name)}, not from {p.name}: switch over to "
                           f"a standby of {p.name}, or leave hotstandby.hosts.{c.name}.upstream "
                           "empty and run full first")
    pstate, cstate = server.read_state(p), server.read_state(c)
    if not pstate.running or server.in_recovery(p) is not False:
        raise ClusterError(f"{p.name} is not a running primary: give the current primary "
                           f"first (-H PRIMARY,{c.name})")
    for host, state in ((p, pstate), (c, cstate)):
        if not host.layout.service:
            raise ClusterError(f"{host.name}: no systemd unit runs PostgreSQL, so no clean stop "
                               "and start through it: set hotstandby.service to its unit")
        outside = service.outside_unit(host, state)
        if outside:
            raise ClusterError(outside)
    for s in run.standbys:
        state = cstate if s is c else server.read_state(s)
        if not state.running or server.in_recovery(s) is not True \
                or state.system_id != pstate.system_id:
            raise ClusterError(f"{s.name} is not a running standby of {p.name}: start it (or "
                               f"run full), or leave it out of -H")
    problem = lag(run, c)
    if problem:
        raise ClusterError(problem)
    streaming = server.streaming_standbys(run)
    for s in run.standbys:
        if s.name not in streaming:
            raise ClusterError(f"{s.name} does not stream from {p.name}: run full (or fab "
                               "status for the cause), or leave it out of -H")
    for _, _, problem in unlisted_streaming(run):
        raise ClusterError(problem)
    for name in primary_step.removed_standbys(run):
        report.note(name, f"left behind: served by {p.name} but not given, it is not "
                          f"repointed to {c.name}")
    new.tls   # decided now: a refusal (an unreadable certificate) before any change
    report.note(c.name, f"streams from {p.name} and is within the bounds "
                        "(hotstandby.switchover)")
    report.note(p.name, f"runs in {p.layout.service}; {c.name} in {c.layout.service}")


def lag(run, candidate):
    """lag_refusal for the candidate, from the primary's WAL sender for it."""
    p, major = run.primary, run.major
    f = lambda name: versions.fact(name, major)  # noqa: E731
    rows = p.psql(f"select state, {f('current_lsn_function')}(), "
                  f"replay{f('sender_lsn_suffix')}, {f('sender_replay_lag')} "
                  "from pg_stat_replication where application_name = "
                  f"{render.sql_literal(run.slot(candidate))} "
                  "order by state = 'streaming' desc limit 1")
    state, current, replayed, seconds = rows[0] if rows else (None, None, None, None)
    bounds = run.settings.switchover
    return rules.lag_refusal(candidate.name, p.name, state, Lsn.parse_or_none(current),
                             Lsn.parse_or_none(replayed), float(seconds) if seconds else None,
                             bounds.max_lag_bytes, bounds.max_lag_seconds)


def prepare(run, new, report):
    """While both run: the candidate serves a certificate of its own, lets the
    old primary and the other standbys in and holds their slots; the old
    primary has the passfile and pin it will use, the other standbys the
    candidate's certificate pinned beside the old primary's.  Its login to the
    candidate is proven before anything stops."""
    old, c, cfg = run.primary, new.primary, run.settings
    tls.install(new, report)
    # Its settings as a standby of the old primary, and TLS (reloadable):
    # it serves its own certificate before it is promoted.
    text = c.read(config.settings_file(c))
    primary_values = server.config_values(old, versions.standby_minimums(run.major))
    settings = {**standby_step.settings_of(run, c, primary_values, text), **new.tls.settings}
    changed = config.write(c, settings, standby_step.purpose(run, c), cfg.backup_dir, text)
    if changed:
        report.change(c.name, changed)
    hba_changed, _ = primary_step.write_hba(new, report)
    if changed or hba_changed:
        server.reload(c)
    for change in (standby_step.write_passfile(new, old), tls.pin(new, old)):
        if change:
            report.change(old.name, change)
    # Those that will follow the candidate; a cascaded one keeps its upstream's pin.
    for sibling in (s for s in new.standbys
                    if s is not old and not run.topology.cascaded(s.name)):
        change = pin_both(run, new, sibling)
        if change:
            report.change(sibling.name, change)
    if not run.options.dry:   # needs what the steps above would write
        system_id, error = replication_login(new, old)
        if error:
            raise ClusterError(f"{old.name} cannot log in to {c.name} for replication, so it "
                               "could not follow it: " + diagnose.explain(old.name, error))
        report.note(old.name, f"replication login to {c.name} works (system {system_id})")
    slots.ensure(new, report)   # physical slots can be made on a standby


def pin_both(run, new, sibling):
    """A standby that is to follow the candidate pins the candidate's
    certificate beside the old primary's; a change, or None."""
    text = rules.sibling_pin(run.tls.pin, new.tls.pin)
    path = run.pinned_path(sibling)
    if text is None or sibling.read(path) == text:
        return None
    sibling.install(path, text, owner="postgres", mode="644")
    return (f"TLS: pins {new.primary.name}'s certificate {new.tls.cert.describe()} beside "
            f"{run.primary.name}'s in {path}: it verifies either across the switch")


def switch(run, new, report):
    """CHECKPOINT, a clean stop, the proof, the promotion; rolled back on any
    failure or interrupt before the candidate accepts writes.  Returns the
    proof's line."""
    old, c = run.primary, new.primary
    if run.options.dry:
        for host, what in rules.switch_steps(old.name, old.layout.service, c.name):
            report.change(host, what)
        return None
    old.psql_change("checkpoint")
    report.change(old.name, "CHECKPOINT")
    asked = False   # whether the candidate was asked to promote
    # Should this run die before the commit point, the old primary's host
    # starts it again by itself; after it, the old primary must stay down.
    watchdog = lifecycle.Watchdog(run, report)
    watchdog.arm()
    stopped_at = time.monotonic()
    try:
        service.stop(old)   # through its unit: the checks refused one running outside it
        report.change(old.name, f"stopped through {old.layout.service}")
        state = server.read_state(old)
        received, _ = server.received_and_replayed(c)
        proof = rules.proof(old.name, state.cluster_state, state.checkpoint, c.name, received)
        report.say(f"  {proof.line}")
        if not proof.holds:
            raise ClusterError(proof.line)
        watchdog.cancel()   # the commit point
        asked = True
        lay = c.layout
        # -W: it promotes in the background; the wait below has its own deadline.
        c.change(sh("{pg_ctl} promote -W -D {data}", pg_ctl=lay.pg("pg_ctl"),
                    data=lay.data_dir), user="postgres")
        timeout = run.settings.timeouts.start
        if not failover.wait_writable(c, timeout):
            raise ClusterError(f"{c.name} was asked to promote but does not accept writes "
                               f"after {timeout} s (hotstandby.timeouts.start)")
    except BaseException as exc:
        rollback(run, new, report, asked, exc, watchdog)
        raise
    new.state.downtime = time.monotonic() - stopped_at
    report.change(c.name, "promoted: it is the primary now and accepts writes")
    return proof.line


def rollback(run, new, report, asked, why, watchdog):
    """The old primary is the primary again, the candidate a standby; raises
    the ClusterError that ends the run (an interrupt goes on as itself).
    watchdog: the old primary's, cancelled once it runs again."""
    old, c, timeout = run.primary, new.primary, run.settings.timeouts.start
    report.say(f"!! {why}: rolling back, {old.name} starts again as the primary")
    late = False
    if asked:
        # It may finish promoting any moment: stopped, it cannot take writes
        # beside the old primary.  If it cannot be stopped, the old stays down.
        try:
            service.stop(c)
        except Exception as exc:
            raise ClusterError(f"switchover failed ({why}) and {c.name}, asked to promote, "
                               f"could not be stopped ({exc}): {old.name} stays stopped so "
                               f"that two primaries never take writes: stop {c.name}, then "
                               f"systemctl start {old.layout.service}") from None
        late = rules.promoted(server.read_state(c).cluster_state)
        report.change(c.name, "stopped" + (" (it had promoted: it stays stopped)" if late
                                           else ", still a standby"))
    lifecycle.restore_primary(run, report, watchdog)
    if asked and not late:
        service.start(c)
        if service.wait_ready(c, timeout):
            report.change(c.name, f"started again as a standby of {old.name}")
    if server.read_state(c).running and server.in_recovery(c):
        slots.drop(new, report, [s.name for s in new.standbys],
                   why="made for the switchover, which did not happen")
    if not isinstance(why, (ClusterError, RemoteError)):
        return   # an interrupt, or a bug: the caller raises it as it is
    fix = (f"; {c.name} promoted after the deadline and stays stopped: bring it back as a "
           f"standby with fab -H {old.name},{c.name} rejoin" if late else "")
    raise ClusterError(f"switchover rolled back: {why}; {old.name} is the primary again"
                       + fix) from None


def follow(run, new, report):
    """The new primary's own settings (no restart), the old primary started
    as its standby, the other standbys repointed by a reload; each streams
    from it, and the old primary no longer keeps slots for them."""
    old, c, dry = run.primary, new.primary, run.options.dry
    if primary_step.configure(new, report):   # not for its settings as a standby: kept
        with lifecycle.primary_kept_up(new, report):
            lifecycle.restart_primary(new, report)
    reconfigured = standby_step.configure(new, report)
    siblings = [s for s in new.standbys if s is not old]
    if dry:
        report.change(old.name, f"start PostgreSQL through {old.layout.service} (a standby of "
                                f"{c.name})")
        for s in siblings:
            if new.feeder(s) is c:
                report.change(s.name, "reload its settings: it streams from " + c.name)
        follows_upstream(new, siblings, report)
        return
    if service.start(old):
        report.change(old.name, f"started through {old.layout.service} as a standby of {c.name}")
    for s in siblings:
        if s.name in reconfigured:
            lifecycle.apply_standby_settings(s, reconfigured[s.name], report)
    deadline = time.monotonic() + run.settings.timeouts.stream
    # A delayed standby fetches the new timeline only once it has replayed up
    # to the switch, after its delay: not waited for.
    waiting = {s.name for s in new.standbys if not new.topology.delay_ms(s.name)}
    while waiting - server.streaming_standbys(new):
        if time.monotonic() > deadline:
            late = ", ".join(sorted(waiting - server.streaming_standbys(new)))
            raise ClusterError(f"{c.name} is the primary, but {late} does not stream from it "
                               f"after {run.settings.timeouts.stream} s: see fab -H "
                               f"{','.join(h.name for h in new.hosts)} status")
        time.sleep(0.5)
    for s in new.standbys:
        if s.name not in waiting:
            report.note(s.name, f"delayed: it follows {c.name}'s timeline once it has "
                                "replayed up to the switch, after its delay")
        elif new.feeder(s) is c:
            report.note(s.name, f"streams from {c.name}")
    follows_upstream(new, siblings, report)
    if not service.wait_ready(old, run.settings.timeouts.start):
        raise ClusterError(f"{old.name}: its unit {old.layout.service} has not finished "
                           "starting: see systemctl status " + old.layout.service)
    # Slots on a standby hold its WAL for ever: those it kept as the primary go.
    slots.drop(run, report, [s.name for s in run.standbys],
               why=f"its standby streams from {c.name} now")


def follows_upstream(new, siblings, report):
    """A cascaded standby is not repointed: it keeps following its upstream
    (its settings name it, not the primary), which follows the new primary."""
    for s in siblings:
        if new.feeder(s) is not new.primary:
            report.note(s.name, f"keeps streaming from its upstream {new.feeder(s).name}")
