"""Timelines: where a server's history forks from the primary's.

A promotion starts a new timeline; the primary's history file for its
timeline (pg_wal/<TLI as 8 hex digits>.history) lists each earlier timeline
of its past and the location where it left it.  A copy of this primary whose
own WAL goes past the point where the primary left that copy's timeline took
writes (or a shutdown checkpoint) the primary never had: it diverged, and
only pg_rewind or a new copy brings it back.  Pure: unit-tested.
"""
import re

from .lsn import Lsn

LINE = re.compile(r"(\d+)\s+([0-9A-Fa-f]{1,8}/[0-9A-Fa-f]{1,8})(\s.*)?\Z")
WAL_FILE = re.compile(r"([0-9A-F]{8})[0-9A-F]{16}\Z")


def of_wal_file(name):
    """The timeline a WAL file's name (pg_walfile_name) is on, or None."""
    found = WAL_FILE.match(str(name).strip())
    return int(found.group(1), 16) if found else None


def history_file(timeline):
    """The history file's name for a timeline ('0000000A.history')."""
    return f"{int(timeline):08X}.history"


def parse_history(text):
    """{timeline: Lsn where the history left it} from a history file's text:
    'parent TLI, tab, switch point, tab, reason' a line; blank lines and
    '#' comments skipped.  ValueError for any other line (read strictly: the
    file is the host's)."""
    left = {}
    for line in text.splitlines():
        line = line.strip()
        if not line or line.startswith("#"):
            continue
        found = LINE.match(line)
        if not found:
            raise ValueError(f"not a timeline history line: {line[:80]!r}")
        left[int(found.group(1))] = Lsn.parse(found.group(2))
    return left


def diverged(timeline, wal_end, primary_timeline, history):
    """Whether a copy of this primary on `timeline`, whose own WAL ends at
    least at `wal_end` (an Lsn or None), left the primary's history.

    history: parse_history of the primary's timeline's file ({} on timeline
    1, None when it could not be read).  A later timeline than the primary's
    was promoted since; an earlier one diverged if its WAL goes past the
    point where the primary left that timeline, or if the primary's history
    does not say (a timeline not on its path, or no file to read).  No
    timeline (a copy cut short has no pg_control yet): nothing of its own.
    """
    timeline, primary_timeline = int(timeline or 0), int(primary_timeline or 0)
    if not timeline:
        return False
    if timeline >= primary_timeline:
        return timeline > primary_timeline
    left = (history or {}).get(timeline)
    if left is None:
        return True
    return wal_end is not None and wal_end > left
