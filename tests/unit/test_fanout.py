"""Fan-out (knowledge/fanout.py): when it applies, the order of copies, and
the check that a standby's slot on the primary holds the WAL its copy needs."""
import pytest

from fabfile.knowledge import fanout
from fabfile.knowledge.lsn import Lsn


@pytest.mark.parametrize("choice, basebackup, count, identity, fans", [
    ("auto", True, 3, None, True),
    ("auto", True, 7, None, True),
    ("auto", True, 2, None, False),      # two waves either way: side by side, from the primary
    ("auto", True, 1, None, False),
    ("off", True, 3, None, False),
    ("auto", False, 3, None, False),     # rsync methods copy from the primary
    ("auto", True, 3, "/root/.ssh/id_ed25519", False),
])
def test_fan_out_applies_from_three_standbys_with_basebackup(choice, basebackup, count,
                                                          identity, fans):
    applies, why = fanout.applies(choice, basebackup, count, identity)
    assert applies is fans
    # Whenever several standbys are all copied from the primary, a reason is given.
    assert bool(why) == (not fans and count >= fanout.MIN_STANDBYS)


def test_parse_takes_auto_or_off_and_names_the_fix():
    assert fanout.parse(" OFF ") == "off" and fanout.parse(None) == "auto"
    with pytest.raises(fanout.BadValue, match="use auto .* or off"):
        fanout.parse("yes")


def test_each_wave_pairs_the_primary_and_every_source_with_one_standby():
    assert fanout.wave(["a", "b"], []) == [("a", None)]
    assert fanout.wave(["b", "c", "d"], ["a"]) == [("b", "a"), ("c", None)]
    assert fanout.wave(["d", "e"], ["a", "b", "c"]) == [("d", "a"), ("e", "b")]
    assert fanout.wave([], ["a"]) == []


@pytest.mark.parametrize("count, from_primary", [(1, 1), (2, 1), (3, 2), (4, 2), (7, 3),
                                                 (8, 3), (15, 4)])
def test_the_primary_sends_one_copy_per_wave_and_the_copies_double(count, from_primary):
    names = [f"s{i}" for i in range(count)]
    order = fanout.schedule(names)
    assert sorted(target for target, _, _ in order) == sorted(names)
    assert [source for _, source, _ in order].count(None) == from_primary
    # A source is always a standby copied in an earlier wave.
    wave_of = {target: number for target, _, number in order}
    for target, source, number in order:
        assert source is None or wave_of[source] < number


def test_schedule_of_three_standbys():
    assert fanout.schedule(["s1", "s2", "s3"]) == [("s1", None, 0), ("s2", "s1", 1),
                                                    ("s3", None, 1)]


LABEL = ("START WAL LOCATION: 0/5000028 (file 000000010000000000000005)\n"
         "CHECKPOINT LOCATION: 0/5000060\nBACKUP METHOD: streamed\n"
         "BACKUP FROM: standby\nSTART TIME: 2026-11-27 13:00:00 UTC\n")


def test_backup_start_is_read_strictly_from_the_label():
    assert fanout.backup_start(LABEL) == 0x5000028
    assert fanout.backup_start("START WAL LOCATION: 1/A0 (file x)") == (1 << 32) + 0xA0
    for label in (None, "", "CHECKPOINT LOCATION: 0/5000060",
                  "START WAL LOCATION: 0/5000028; rm -rf / (file x)",
                  "START WAL LOCATION: zz/1 (file x)"):
        assert fanout.backup_start(label) is None, label


@pytest.mark.parametrize("restart_lsn, covered", [
    ("0/5000000", True),      # reserved before the backup began
    ("0/5000028", True),
    ("0/5000029", False),     # WAL the copy needs may be gone
    ("1/0", False),
    ("", False),              # a slot that holds no WAL
    ("garbage", False),
])
def test_a_slot_covers_a_copy_only_when_it_holds_wal_from_its_start(restart_lsn, covered):
    assert fanout.covers(restart_lsn, fanout.backup_start(LABEL)) is covered
    assert fanout.covers(restart_lsn, None) is False


def test_a_slot_covers_a_standby_streaming_on_by_segments():
    # A stopped standby asks from the start of the segment its WAL ends in.
    segment = 16 * 1024 * 1024
    end = Lsn.parse("0/5000100")
    assert fanout.covers("0/5FFFFFF", end, segment)
    assert not fanout.covers("0/6000000", end, segment)
    assert not fanout.covers("0/5FFFFFF", end)   # byte for byte: a backup's start
