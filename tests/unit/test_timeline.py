import pytest

from fabfile.knowledge.lsn import Lsn
from fabfile.knowledge.timeline import diverged, history_file, parse_history

# The history file of timeline 3: timeline 1 left at 0/3000000, 2 at 0/5000150.
HISTORY = ("1\t0/3000000\tno recovery target specified\n\n"
           "2\t0/5000150\tno recovery target specified\n")


def test_history_file_name():
    assert history_file("3") == "00000003.history"
    assert history_file(26) == "0000001A.history"


def test_parse_history():
    assert parse_history(HISTORY) == {1: Lsn.parse("0/3000000"), 2: Lsn.parse("0/5000150")}
    assert parse_history("# a comment\n") == {}


@pytest.mark.parametrize("text", ["1 0/3000000; rm -rf /", "x\t0/1\treason", "1\tnowhere",
                                  "1\t0/3000000\n2\t1/2/3\n"])
def test_a_history_that_is_not_one_is_refused(text):
    with pytest.raises(ValueError):
        parse_history(text)


def test_same_timeline_never_diverged_here():
    assert not diverged("3", Lsn.parse("9/0"), "3", parse_history(HISTORY))


def test_a_later_timeline_was_promoted():
    assert diverged("4", Lsn.parse("0/1"), "3", parse_history(HISTORY))


def test_an_earlier_timeline_up_to_where_the_primary_left_it_follows():
    history = parse_history(HISTORY)
    assert not diverged("2", Lsn.parse("0/5000150"), "3", history)
    assert not diverged("1", Lsn.parse("0/2FFFFD8"), "3", history)


def test_an_earlier_timeline_past_where_the_primary_left_it_diverged():
    history = parse_history(HISTORY)
    assert diverged("2", Lsn.parse("0/5000151"), "3", history)
    assert diverged("1", Lsn.parse("0/4000000"), "3", history)


def test_a_timeline_the_primary_never_had_or_no_history_to_read():
    assert diverged("2", Lsn.parse("0/1"), "3", {1: Lsn.parse("0/3000000")})
    assert diverged("1", Lsn.parse("0/1"), "2", None)


def test_no_timeline_yet_is_a_copy_cut_short():
    assert not diverged("", None, "3", None)


def test_timeline_of_a_wal_file_name():
    from fabfile.knowledge.timeline import of_wal_file
    assert of_wal_file("000000030000000000000005") == 3
    assert of_wal_file("0000001A000000010000000F\n") == 26
    assert of_wal_file("00000003000000000000005") is None     # too short
    assert of_wal_file("0000000300000000000000050") is None   # too long
    assert of_wal_file("") is None
