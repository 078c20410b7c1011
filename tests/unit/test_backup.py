"""The online copy's base backup: its SQL per major, what the stop answers,
and the tablespace_map written for the standby."""
import base64
import re

import pytest

from fabfile.knowledge import backup
from fabfile.knowledge.lsn import Lsn
from fabfile.knowledge.tablespaces import Tablespace

LABEL = ("START WAL LOCATION: 0/5000028 (file 000000010000000000000005)\n"
         "CHECKPOINT LOCATION: 0/5000060\nBACKUP METHOD: streamed\n")


@pytest.mark.parametrize("major,start,stop", [
    (90600, "pg_start_backup('pg-hotstandby online copy', true, false)", "pg_stop_backup(false)"),
    (100000, "pg_start_backup(", "pg_stop_backup(false, false)"),
    (150000, "pg_backup_start('pg-hotstandby online copy', true)", "pg_backup_stop(false)"),
    (180000, "pg_backup_start(", "pg_backup_stop(false)")])
def test_the_api_of_each_major_non_exclusive_with_a_fast_checkpoint(major, start, stop):
    assert backup.available(major)
    assert start in backup.start_sql(major) and stop in backup.stop_sql(major)
    # No timeout may end the session while the copy runs.
    assert ("idle_session_timeout = 0" in backup.start_sql(major)) == (major >= 140000)
    assert "statement_timeout = 0" in backup.start_sql(major)


def test_no_online_copy_before_96():
    assert not backup.available(90500)


def test_what_the_stop_answers_is_read_from_one_line():
    line = (f"noise\n{backup.STOPPED} 0/6000100 {base64.b64encode(LABEL.encode()).decode()} "
            f"{base64.b64encode(b'16385 /srv/ts1').decode()}\n")
    end, label, spcmap = backup.stopped(re.search(backup.STOPPED_LINE, line, re.M))
    assert end == Lsn.parse("0/6000100") and label == LABEL and spcmap == "16385 /srv/ts1"
    started = re.search(backup.STARTED_LINE, f"SET\n{backup.STARTED} 0/5000028\n", re.M)
    assert backup.started(started) == Lsn.parse("0/5000028")


@pytest.mark.parametrize("label", ["bm90IGEgbGFiZWw=", "not-base64"])
def test_an_answer_that_is_not_a_backup_label_is_refused(label):
    found = re.search(backup.STOPPED_LINE, f"{backup.STOPPED} 0/1 {label} ", re.M)
    with pytest.raises(backup.BackupError):
        backup.stopped(found)


def test_the_standby_map_names_the_standby_locations():
    spaces = [Tablespace("16385", "ts1", "/srv/ts1", "/data/ts1", "PG_17_1"),
              Tablespace("16386", "ts2", "/srv/ts2", "/srv/ts2", "PG_17_1")]
    assert backup.standby_map("16386 /srv/ts2\n16385 /srv/ts1\n", spaces) == \
        "16385 /data/ts1\n16386 /srv/ts2\n"
    with pytest.raises(backup.BackupError, match="made or dropped during the copy"):
        backup.standby_map("16385 /srv/ts1\n", spaces)
    assert backup.standby_map("", []) == ""


def label_at(file):
    return (f"START WAL LOCATION: 0/5D000028 (file {file})\n"
            "CHECKPOINT LOCATION: 0/5D000060\nBACKUP METHOD: streamed\n")


def test_the_backups_wal_files_run_from_its_start_file_to_its_ends_segment():
    label = label_at("00000002000000000000005D")
    mb16 = str(16 * 1024 * 1024)
    # Ended in the segment it started in (pg_backup_stop switches after it).
    assert backup.wal_files(label, Lsn.parse("0/5D007D58"), mb16) == ("00000002000000000000005D",)
    # An end at a segment's first byte: its last byte was in the one before.
    assert backup.wal_files(label, Lsn.parse("0/5F000000"), mb16) == (
        "00000002000000000000005D", "00000002000000000000005E")
    # Across the 4 GB of one log id (256 segments of 16 MB each).
    across = backup.wal_files(label_at("0000000100000000000000FF"), Lsn.parse("1/1000000"), mb16)
    assert across == ("0000000100000000000000FF", "000000010000000100000000")
    # Other segment sizes count as their own (1 GB: 4 per log id).
    assert backup.wal_files(label_at("000000010000000000000003"), Lsn.parse("1/40000000"),
                            str(1 << 30)) == ("000000010000000000000003", "000000010000000100000000")


@pytest.mark.parametrize("label, end, size", [
    ("START WAL LOCATION: 0/5D000028\n", "0/5D007D58", "16777216"),      # no file named
    (label_at("00000001000000000000005d"), "0/5D007D58", "16777216"),   # not as PostgreSQL writes
    (label_at("00000001000000000000005D"), "0/5D007D58", ""),           # size unknown
    (label_at("00000001000000000000005D"), "0/10000000", "16777216"),   # ends before it starts
    (label_at("00000001000000000000005D"), "1/0", "16777216"),          # more than WAL_FILES_MAX
])
def test_wal_files_are_sent_only_when_known_and_few(label, end, size):
    assert backup.wal_files(label, Lsn.parse(end), size) == ()
