"""Which relation files the online delta copy may leave unread, from the
primary's WAL summaries (knowledge/summaries.py)."""
from fnmatch import fnmatchcase

import pytest

from fabfile.knowledge import render, summaries, versions
from fabfile.knowledge.lsn import Lsn
from fabfile.steps.server import ServerState, parse_state

STOPPED_STANDBY = """exists=yes
Database system identifier:           7712361193934983198
Database cluster state:               shut down in recovery
Latest checkpoint location:           0/5000060
Latest checkpoint's REDO location:    0/5000028
Latest checkpoint's TimeLineID:       2
Backup start location:                0/0
Blocks per segment of large relation: 131072
"""


def standby(**changes):
    state = parse_state(STOPPED_STANDBY)
    for name, value in changes.items():
        setattr(state, name, value)
    return state


def test_a_stopped_standby_is_dated_by_its_restartpoint():
    state = standby()
    assert state.redo == Lsn.parse("0/5000028") and state.rel_segment_blocks == "131072"
    assert state.backup_start == 0 and not state.backup_start
    assert summaries.unusable(state, "2") == ""
    # a crashed standby's files date from its restartpoint too
    assert summaries.unusable(standby(cluster_state="in archive recovery"), "2") == ""


@pytest.mark.parametrize("changes, why", [
    ({"copying_from": "7712361193934983198"}, "cut short"),
    ({"cluster_state": "shut down"}, "not a standby when it stopped (shut down)"),
    ({"cluster_state": "in production"}, "not a standby"),
    ({"backup_start": Lsn.parse("0/4000028")}, "recovery of its own copy had not finished"),
    ({"redo": None}, "no REDO location"),
    ({"timeline": "1"}, "timeline 1 is not the primary's 2"),
])
def test_a_standby_whose_files_cannot_be_dated_compares_every_file(changes, why):
    assert why in summaries.unusable(standby(**changes), "2")
    assert summaries.unusable(ServerState(), "2")


def test_coverage_needs_summaries_without_a_gap():
    rows = [["0/4000000", "0/5000028"], ["0/5000028", "0/6000000"], ["0/6000000", "0/7000028"]]
    since, until = Lsn.parse("0/5000100"), Lsn.parse("0/7000028")
    assert summaries.covered(rows, since, until)
    assert summaries.covered(list(reversed(rows)), since, until)
    assert not summaries.covered(rows[:2], since, until)                    # ends too early
    assert not summaries.covered([rows[0], rows[2]], since, until)          # a gap
    assert not summaries.covered(rows[1:], Lsn.parse("0/4000000"), until)   # starts too late
    assert summaries.covered([], until, until)                              # nothing since
    with pytest.raises(ValueError):
        summaries.covered([["0/1", "rm -rf /"]], since, until)


def test_the_changes_query_is_bounded_by_the_two_locations():
    sql = summaries.changes_sql("2", Lsn.parse("0/5000028"), Lsn.parse("0/7000028"), "131072")
    assert "s.tli = 2 and s.end_lsn > '0/5000028' and s.start_lsn < '0/7000028'" in sql
    assert "relblocknumber / 131072" in sql and "is_limit_block then -1" in sql
    with pytest.raises(ValueError):
        summaries.changes_sql("2; drop table x", 1, 2, "131072")


ROWS = [
    ["1663", "5", "16397", "0", "0"],       # main fork, first segment
    ["1663", "5", "16397", "0", "2"],       # its third segment
    ["1663", "5", "16397", "2", "0"],       # its visibility map
    ["1663", "5", "16400", "0", "-1"],      # truncated, made or dropped: every segment
    ["1664", "0", "1262", "0", "0"],        # a shared catalog
    ["1663", "16500", "0", "0", "-1"],      # a database made or dropped whole
    ["16390", "5", "16410", "0", "1"],      # in a tablespace
]


def selected(rules, path):
    """What rsync makes of a path under these rules: the first that matches
    (anchored patterns; '*' stops at '/'), '+' when none does."""
    for rule in rules:
        sign, pattern = rule.split(" ", 1)
        if fnmatchcase(path, pattern) and pattern.count("/") == path.count("/"):
            return sign
    return "+"


def test_changed_files_are_read_and_other_relation_files_left_alone():
    changes = summaries.parse_changes(ROWS)
    assert changes.rule_count() == 8
    rules = changes.rules()
    for path in ("/base/5/16397", "/base/5/16397.2", "/base/5/16397_vm", "/base/5/16400",
                 "/base/5/16400.3", "/global/1262", "/base/16500/1259", "/base/16500/PG_VERSION",
                 # never summarized: always compared
                 "/base/5/16397_fsm", "/base/5/16401_fsm.1", "/base/5/16402_init",
                 # not relations
                 "/base/5/PG_VERSION", "/base/5/pg_filenode.map", "/global/pg_filenode.map",
                 "/base/5/t3_16420", "/pg_xact/0000", "/postgresql.auto.conf"):
        assert selected(rules, path) == "+", path
    for path in ("/base/5/16397.1", "/base/5/16397_vm.1", "/base/5/16398", "/base/5/16400_vm",
                 "/global/1260", "/base/1/1259"):
        assert selected(rules, path) == "-", path
    # the tablespace's own copy: paths from its version directory
    spaced = changes.rules("16390")
    assert selected(spaced, "/5/16410.1") == "+" and selected(spaced, "/5/16411_fsm") == "+"
    assert selected(spaced, "/5/16410") == "-" and selected(spaced, "/5/16412") == "-"
    assert selected(changes.rules("16391"), "/5/16410.1") == "-"


@pytest.mark.parametrize("row", [
    ["1663", "5", "16397", "0"],                 # a column short
    ["1663", "5", "16397", "4", "0"],            # no such fork
    ["1663", "5", "../x", "0", "0"],
    ["1663", "5", "16397", "0", "*"],
])
def test_a_summary_row_that_is_not_numbers_is_refused(row):
    with pytest.raises(ValueError):
        summaries.parse_changes([row])


def test_summarize_wal_is_set_from_17():
    assert render.primary_settings(170000, {}, 1)["summarize_wal"] == "on"
    assert "summarize_wal" not in render.primary_settings(160000, {}, 1)
    assert versions.fact("wal_summaries", 180000) and not versions.fact("wal_summaries", 90600)


RANGES = [
    ["1663", "5", "16397", "0", "0", "10", "3"],      # pages 10-12 of the first segment
    ["1663", "5", "16397", "0", "0", "40", "1"],
    ["1663", "5", "16397", "0", "2", "0", "5"],
    ["1663", "5", "16397", "2", "0", "0", "1"],       # its visibility map
    ["1663", "5", "16400", "0", "0", "7", "1"],       # truncated: rsync compares it whole
    ["1663", "16500", "1259", "0", "0", "0", "9"],    # in a database made whole
    ["1664", "0", "1262", "0", "0", "0", "1"],
    ["16390", "5", "16410", "0", "1", "100", "28"],
    ["1663", "5", "16398", "0", "0", "1", "1"],       # not among changes_sql's files
]


def test_changed_pages_are_copied_alone_where_nothing_changed_whole():
    changes = summaries.parse_changes(ROWS, RANGES)
    assert changes.pages == {
        "1663": {"5/16397": [(10, 3), (40, 1)], "5/16397.2": [(0, 5)], "5/16397_vm": [(0, 1)]},
        "1664": {"1262": [(0, 1)]},
        "16390": {"5/16410.1": [(100, 28)]}}
    assert changes.range_count() == 6 and changes.page_files() == 5
    assert changes.file_count() == 8   # as many files as without pages
    rules = changes.rules()
    # rsync leaves the files whose pages are copied alone, and still compares
    # what changed whole
    for path in ("/base/5/16397", "/base/5/16397.2", "/base/5/16397_vm", "/global/1262",
                 "/base/5/16398"):
        assert selected(rules, path) == "-", path
    for path in ("/base/5/16400", "/base/5/16400.1", "/base/16500/1259", "/base/5/16397_fsm"):
        assert selected(rules, path) == "+", path
    assert selected(changes.rules("16390"), "/5/16410.1") == "-"
    # compared whole again, when the pages cannot be copied alone
    whole = changes.without_pages()
    assert not whole.pages and whole.rule_count() == 8
    assert selected(whole.rules(), "/base/5/16397.2") == "+"


def test_past_the_range_cap_the_files_with_most_ranges_go_to_rsync(monkeypatch):
    monkeypatch.setattr(summaries, "MAX_RANGES", 3)
    rows = [["1663", "5", str(node), "0", "0"] for node in (1, 2, 3)]
    ranges = [["1663", "5", "1", "0", "0", str(b), "1"] for b in (0, 2, 4)] \
        + [["1663", "5", "2", "0", "0", "0", "1"], ["1663", "5", "3", "0", "0", "0", "1"]]
    changes = summaries.parse_changes(rows, ranges)
    assert changes.pages == {"1663": {"5/2": [(0, 1)], "5/3": [(0, 1)]}}
    assert changes.places == {"1663": {"5/1"}}


def test_the_ranges_query_groups_consecutive_blocks_within_a_segment():
    sql = summaries.ranges_sql("2", Lsn.parse("0/5000028"), Lsn.parse("0/7000028"), "131072")
    assert "partition by t, d, n, f, seg order by b" in sql
    assert "relblocknumber / 131072 seg" in sql and "not c.is_limit_block" in sql
    assert "relforknumber in (0, 2)" in sql
    with pytest.raises(ValueError):
        summaries.ranges_sql("2", 1, 2, "131072; drop table x")


@pytest.mark.parametrize("row", [
    ["1663", "5", "16397", "0", "0", "1"],               # a column short
    ["1663", "5", "16397", "1", "0", "0", "1"],          # the free space map: rsync's
    ["1663", "5", "16397", "0", "0", "0", "0"],          # no blocks
    ["1663", "5", "16397", "0", "0", "-1", "1"],
    ["1663", "5", "16397", "0", "0", "0", "1; rm"],
])
def test_a_range_that_is_not_numbers_is_refused(row):
    with pytest.raises(ValueError):
        summaries.parse_changes(ROWS, [row])
