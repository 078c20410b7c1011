"""What the primary's WAL summaries say changed since a standby's last
restartpoint (knowledge/summaries.py), asked once the online copy's backup
has started: the copy's rsync then leaves the other relation files unread."""
import time

from ..knowledge import summaries, versions
from ..knowledge.lsn import Lsn


def changed_since(p, pstate, sstate, start):
    """(knowledge.summaries.Changes, '') for the standby whose state (read
    before its copy began) is sstate, up to the backup's start; (None, why
    not) when every file must be compared."""
    if not versions.fact("wal_summaries", p.layout.major):
        return None, ""   # before 17: no summaries, nothing to say
    why = summaries.unusable(sstate, pstate.timeline)
    if why:
        return None, why
    settings = p.psql("select current_setting('summarize_wal'), current_setting('block_size')",
                      warn=True)
    if not settings or len(settings[0]) != 2 or settings[0][0] != "on":
        return None, "summarize_wal is off on the primary (configure-master sets it)"
    if not settings[0][1].isdigit():
        return None, f"the primary's block_size is {settings[0][1]!r}"
    deadline = time.monotonic() + summaries.SUMMARIZER_WAIT
    while True:
        rows = p.psql(summaries.STATE_SQL, warn=True)
        reached = Lsn.parse_or_none(rows[0][1]) if rows and len(rows[0]) == 2 else None
        if reached is not None and reached >= start:
            break
        if time.monotonic() > deadline:
            return None, (f"the WAL summarizer had not reached the backup's start {start} "
                          f"after {summaries.SUMMARIZER_WAIT} s")
        time.sleep(0.2)
    rows = p.psql(summaries.summaries_sql(pstate.timeline), warn=True)
    try:
        if not rows or not summaries.covered(rows, sstate.redo, start):
            return None, (f"the primary's WAL summaries do not reach back to its last "
                          f"restartpoint ({sstate.redo})")
        span = (pstate.timeline, sstate.redo, start, sstate.rel_segment_blocks)
        rows = p.psql(summaries.changes_sql(*span), warn=True)
        ranges = p.psql(summaries.ranges_sql(*span), warn=True)
        if rows is None or ranges is None:
            return None, "the primary's WAL summaries could not be read"
        changes = summaries.parse_changes(rows, ranges)
        changes.page_size = int(settings[0][1])
    except ValueError as exc:
        return None, str(exc)
    if changes.rule_count() > summaries.MAX_RULES:
        return None, (f"{changes.rule_count()} relation files changed, more than "
                      f"{summaries.MAX_RULES} for the copy's filters")
    return changes, ""
