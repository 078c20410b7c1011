"""Replication slots: one physical slot per standby, named after it
(render.slot_name), on the host that feeds it (the primary, or its upstream:
slots can be made on a standby), so that the WAL a standby still needs is
kept; the slots of standbys no longer listed, or fed by another host, are
dropped, so they hold none."""
from ..knowledge import render, versions


def existing(primary, active_only=False):
    """Names of the primary's replication slots (those in use, if active_only)."""
    where = " where active" if active_only else ""
    return {r[0] for r in primary.psql(f"select slot_name from pg_replication_slots{where}")}


def ensure(run, report, feeders=None):
    """On each feeder (default: the primary and every upstream), one physical
    slot per standby it feeds, reserving WAL from now on; on the primary, the
    slots of listed standbys that stream from an upstream are dropped.

    Skipped while the running server has too few slots: the start step comes
    back here once the primary runs with the new max_replication_slots.  An
    upstream that does not run as a standby yet (its copy still to come) is
    skipped: the start step comes back here too.
    """
    for feeder in run.feeders() if feeders is None else feeders:
        ensure_on(run, report, feeder)


def ensure_on(run, report, p):
    upstream = p is not run.primary
    # One query: the slots there (names of [a-z0-9_]), how many the running
    # server allows, whether it is a standby.
    rows = p.psql("select current_setting('max_replication_slots'), "
                  "coalesce(string_agg(slot_name, ' '), ''), pg_is_in_recovery()::text "
                  "from pg_replication_slots", warn=upstream)
    if upstream and (not rows or rows[0][2] != "true"):
        return
    limit, names, _ = rows[0]
    have, limit = set(names.split()), int(limit)
    wanted = [run.slot(s) for s in run.fed_by(p)]
    if not upstream:
        drop(run, report, [s.name for s in run.standbys if s not in run.fed_by(p)],
             why="its standby streams from its upstream", idle_only=True)
    missing = [slot for slot in wanted if slot not in have]
    if missing and len(have) + len(missing) > limit:
        report.note(p.name, f"slots {', '.join(missing)} wait for a restart "
                            f"(max_replication_slots is {limit})")
        return
    for slot in missing:
        p.psql_change(f"select pg_create_physical_replication_slot({render.sql_literal(slot)}, "
                      "true)")
        run.state.made_slots.add((p.name, slot))
        report.change(p.name, f"created replication slot {slot}")


def drop(run, report, names, why="its standby is no longer listed", idle_only=False):
    """Drop the slots of these standbys (names) on run.primary, so they hold
    no WAL there.  idle_only: a slot in use stays (its standby is still
    to move to its upstream: a later run drops it)."""
    if not names:
        return
    p = run.primary
    have = existing(p)
    if idle_only:
        have -= existing(p, active_only=True)
    for slot in [render.slot_name(n) for n in names]:
        if slot in have:
            p.psql_change(f"select pg_drop_replication_slot({render.sql_literal(slot)})")
            report.change(p.name, f"dropped replication slot {slot} ({why})")


def reset(run, s, report):
    """The standby's slot made anew, holding WAL from the latest checkpoint
    (an online copy's backup has just made it): all the copy needs, no longer
    what an older copy needed, and none lost."""
    p, slot = run.primary, run.slot(s)
    if slot in existing(p):
        p.psql_change(f"select pg_drop_replication_slot({render.sql_literal(slot)})")
    p.psql_change(f"select pg_create_physical_replication_slot({render.sql_literal(slot)}, true)")
    report.change(p.name, f"made replication slot {slot} anew: it holds WAL from the "
                          "copy's backup start")


def restart_lsn(primary, slot):
    """The WAL location a slot holds from, as text: '' when it holds none,
    lost it, or may lose it at the next checkpoint (13+: unreserved, beyond
    max_slot_wal_keep_size)."""
    status = versions.fact("slot_wal_status", primary.layout.major)
    held = primary.psql(f"select case when coalesce({status}::text, '') in "
                        "('lost', 'unreserved') then '' else coalesce(restart_lsn::text, '') end "
                        f"from pg_replication_slots where slot_name = {render.sql_literal(slot)}")
    return held[0][0] if held else ""
