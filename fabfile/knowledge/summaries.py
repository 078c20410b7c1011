"""Which relation files changed since a standby's last restartpoint, as the
primary's WAL summaries (PostgreSQL 17+, `summarize_wal`) list them: the
online delta copy then reads only those, and the files of every other
relation stay unread on both hosts (steps/summaries.py asks, the copy's
rsync filters carry the answer).  Pure.

Why a file the summaries do not name is the same on both hosts: a standby's
restartpoint writes every page changed before its REDO location, and every
change after it is in WAL, whose blocks the summaries list (created,
truncated and dropped relations, and databases made or dropped whole, as
"limit blocks").  A block changed after the backup's start is repaired by
WAL replay from there, as in any online copy.  The same holds block by
block, so a changed file's changed pages can be copied alone, without
reading the rest of it on either host (knowledge/pages.py): its blocks are
listed by `ranges_sql`.  This is what
`pg_basebackup --incremental` relies on, with the standby's REDO location in
place of a prior backup's start.  Not listed, so always compared: the free
space map (not WAL-logged), init forks, files that are not relations.
"""
from dataclasses import dataclass, field

from .lsn import Lsn

# pg_tablespace OIDs of the two built-in tablespaces.
DEFAULT_TABLESPACE, GLOBAL_TABLESPACE = "1663", "1664"
FORK_SUFFIX = {"0": "", "1": "_fsm", "2": "_vm", "3": "_init"}
# A summary's limit block, in the query's segment column: the whole fork.
WHOLE = "-1"
# Each rule is one argument on the primary's rsync command line; past this
# many the copy compares every file, as without summaries.
MAX_RULES = 1000
# Each range of changed pages copied alone is a dd on both hosts (about a
# millisecond each) and a line of up to 80 bytes in their commands (128 kB
# at most for one argument): past this many, the files with the most ranges
# go to rsync.
MAX_RANGES = 1000
# Forks whose pages are copied alone: the main fork and the visibility map
# (the free space map and init forks are not summarized: rsync compares them).
PAGE_FORKS = ("0", "2")
# How long the copy waits for the summarizer to reach the backup's start
# (its checkpoint wakes it) before it compares every file instead.
SUMMARIZER_WAIT = 30
# A standby's pg_control states whose files date from its last restartpoint.
STANDBY_STATES = ("shut down in recovery", "in archive recovery")

STATE_SQL = "select summarized_tli, summarized_lsn from pg_get_wal_summarizer_state()"


def unusable(state, primary_timeline):
    """Why the standby's files cannot be dated by its last restartpoint
    ('' when they can).  state: the stopped standby's (steps/server.py)."""
    if state.copying_from or not state.exists:
        return "its copy was cut short (no last restartpoint)"
    if state.cluster_state not in STANDBY_STATES:
        return f"it was not a standby when it stopped ({state.cluster_state or 'unknown'})"
    if state.backup_start:
        return "the recovery of its own copy had not finished"
    if state.redo is None or not state.rel_segment_blocks.isdigit():
        return "its pg_control has no REDO location"
    if state.timeline != str(primary_timeline):
        return f"its timeline {state.timeline} is not the primary's {primary_timeline}"
    return ""


def summaries_sql(timeline):
    return (f"select start_lsn, end_lsn from pg_available_wal_summaries() "
            f"where tli = {int(timeline)} order by start_lsn")


def covered(rows, since, until):
    """Whether the summaries (rows of summaries_sql) cover the WAL from since
    to until without a gap."""
    position = since
    for start, end in sorted((Lsn.parse(a), Lsn.parse(b)) for a, b in rows):
        if position >= until:
            break
        if start <= position < end:
            position = end
    return position >= until


def _contents(timeline, since, until):
    """FROM and WHERE: each block of the summaries from since to until (c)."""
    return ("from pg_available_wal_summaries() s, "
            "lateral pg_wal_summary_contents(s.tli, s.start_lsn, s.end_lsn) c "
            f"where s.tli = {int(timeline)} and s.end_lsn > '{Lsn(since)}' "
            f"and s.start_lsn < '{Lsn(until)}'")


def changes_sql(timeline, since, until, segment_blocks):
    """One row per relation file segment the summaries from since to until
    say changed: tablespace, database, relfilenode, fork, segment (WHOLE for
    a limit block: created, truncated or dropped)."""
    return (
        "select distinct c.reltablespace, c.reldatabase, c.relfilenode, c.relforknumber, "
        f"case when c.is_limit_block then {WHOLE} "
        f"else c.relblocknumber / {int(segment_blocks)} end "
        + _contents(timeline, since, until))


def ranges_sql(timeline, since, until, segment_blocks):
    """The changed blocks changes_sql counts, as ranges within each segment:
    tablespace, database, relfilenode, fork, segment, first block (from the
    segment's start), blocks.  Limit blocks are left out (changes_sql has
    them), and the forks rsync compares whole."""
    blocks = int(segment_blocks)
    forks = ", ".join(PAGE_FORKS)
    return (
        f"select t, d, n, f, seg, min(b) - seg * {blocks}, count(*) from ("
        "select *, b - row_number() over (partition by t, d, n, f, seg order by b) as island "
        "from (select distinct c.reltablespace t, c.reldatabase d, c.relfilenode n, "
        f"c.relforknumber f, c.relblocknumber / {blocks} seg, c.relblocknumber b "
        + _contents(timeline, since, until) + " and not c.is_limit_block "
        f"and c.relfilenode <> 0 and c.relforknumber in ({forks})) blocks) islands "
        "group by t, d, n, f, seg, island order by t, d, n, f, seg, 6")


@dataclass
class Changes:
    """What changed, by place: {tablespace OID: set of relative paths},
    where a path is a file, or 'DB/*' for a whole database directory (made
    or dropped), or 'REL.*' for a relation's later segments; and `pages`:
    {tablespace OID: {file's relative path: [(first block, blocks), ...]}},
    the files whose changed pages are copied alone (rsync leaves them)."""
    places: dict = field(default_factory=dict)
    pages: dict = field(default_factory=dict)
    page_size: int = 8192    # the primary's block_size

    def rules(self, tablespace=None):
        """rsync filter rules for the data directory (tablespace None) or a
        tablespace's version directory: what changed and what is never
        summarized included, every other relation file excluded (neither
        read, sent nor deleted).  Includes first: rsync takes the first rule
        that matches."""
        if tablespace is None:
            roots = {DEFAULT_TABLESPACE: "/base", GLOBAL_TABLESPACE: "/global"}
            relation_dirs = ("/base/*/", "/global/")
        else:
            roots = {tablespace: ""}
            relation_dirs = ("/*/",)
        included = sorted(f"+ {root}/{path}" for oid, root in roots.items()
                          for path in self.places.get(oid, ()))
        never_summarized = [f"+ {d}{glob}" for d in relation_dirs
                            for glob in ("*_fsm", "*_fsm.*", "*_init", "*_init.*")]
        return never_summarized + included + [f"- {d}[0-9]*" for d in relation_dirs]

    def rule_count(self):
        return sum(len(paths) for paths in self.places.values())

    def page_files(self):
        return sum(len(files) for files in self.pages.values())

    def file_count(self):
        return self.rule_count() + self.page_files()

    def range_count(self):
        return sum(len(spans) for files in self.pages.values() for spans in files.values())

    def without_pages(self):
        """The same changes with every file rsync's to compare."""
        places = {space: set(paths) for space, paths in self.places.items()}
        for space, files in self.pages.items():
            places.setdefault(space, set()).update(files)
        return Changes(places, page_size=self.page_size)


def _path(space, db, node, fork, segment="0"):
    """A relation file's path in its place (global/ has no database
    directory; base/ and tablespaces have one)."""
    prefix = "" if space == GLOBAL_TABLESPACE else f"{db}/"
    name = f"{prefix}{node}{FORK_SUFFIX[fork]}"
    return name if segment == "0" else f"{name}.{segment}"


def parse_changes(rows, ranges=()):
    """Changes from changes_sql's rows and ranges_sql's; ValueError for
    anything not numeric (the paths reach rsync's filters and dd).  A changed
    file's pages are copied alone when ranges lists them and its relation
    and database are not changed whole; past MAX_RANGES, the files with the
    most ranges are left to rsync."""
    changes = Changes()
    whole = set()
    for row in rows:
        if len(row) != 5 or not all(v.isdigit() for v in row[:4]) \
                or not (row[4].isdigit() or row[4] == WHOLE) or row[3] not in FORK_SUFFIX:
            raise ValueError(f"unexpected WAL summary row {row!r}")
        space, db, node, fork, segment = row
        paths = changes.places.setdefault(space, set())
        if node == "0":   # a database made or dropped whole
            paths.add("*" if space == GLOBAL_TABLESPACE else f"{db}/*")
            whole.add((space, db))
        elif segment == WHOLE:
            name = _path(space, db, node, fork)
            paths.update((name, f"{name}.*"))
            whole.add((space, db, node, fork))
        else:
            paths.add(_path(space, db, node, fork, segment))
    for row in ranges:
        if len(row) != 7 or not all(v.isdigit() for v in row) or row[3] not in PAGE_FORKS \
                or row[6] == "0":
            raise ValueError(f"unexpected WAL summary range {row!r}")
        space, db, node, fork, segment, first, count = row
        path = _path(space, db, node, fork, segment)
        files = changes.pages.setdefault(space, {})
        if path not in files:
            if (space, db) in whole or (space, db, node, fork) in whole \
                    or path not in changes.places.get(space, ()):
                continue   # rsync compares it
            changes.places[space].discard(path)
        files.setdefault(path, []).append((int(first), int(count)))
    total = changes.range_count()
    by_ranges = sorted(((len(spans), space, path) for space, files in changes.pages.items()
                        for path, spans in files.items()), reverse=True)
    for spans, space, path in by_ranges:
        if total <= MAX_RANGES:
            break
        del changes.pages[space][path]
        changes.places[space].add(path)
        total -= spans
    changes.pages = {space: files for space, files in changes.pages.items() if files}
    return changes
