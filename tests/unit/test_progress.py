"""Progress of long copies: parsing rsync's and pg_basebackup's own lines,
the text printed, and how often it is printed on a terminal and elsewhere."""
import io

import pytest

from fabfile.knowledge import progress
from fabfile import report as report_module
from fabfile.report import Report


@pytest.mark.parametrize("line, expected", [
    ("    412,123,136  41%   95.21MB/s    0:00:06 (xfr#1, to-chk=3/900)",
     (412123136, 1005178380)),
    ("              0   0%    0.00kB/s    0:00:00 (xfr#0, to-chk=0/12)", (0, None)),
    ("Number of files: 1,234 (reg: 1,000, dir: 234)", None),
    ("sending incremental file list", None),
])
def test_rsync_progress_lines(line, expected):
    assert progress.rsync_line(line) == expected


@pytest.mark.parametrize("line, expected", [
    ("123456/234567 kB (52%), 0/1 tablespace", (123456 * 1024, 234567 * 1024)),
    ("  2048/234567 kB (0%), 0/1 tablespace (...ta/base/5/16397)", (2048 * 1024, 234567 * 1024)),
    ("pg_basebackup: error: could not connect to server", None),
])
def test_basebackup_progress_lines(line, expected):
    assert progress.basebackup_line(line) == expected


def test_describe_gives_size_share_rate_and_time_left():
    assert progress.describe(400e6, 1000e6, 4) == "400/1000 MB (40%), 100.0 MB/s, 6 s left"
    assert progress.describe(400e6, None, 4) == "400 MB, 100.0 MB/s"
    assert progress.describe(0, 1000e6, 0) == "0/1000 MB (0%)"


class Terminal(io.StringIO):
    def isatty(self):
        return True


def feed(out, chunks, clock, monkeypatch):
    times = iter(clock)
    monkeypatch.setattr(report_module.time, "monotonic", lambda: next(times))
    report = Report(out=out)
    stream = progress.Stream(report, "standby", progress.basebackup_line)
    for chunk in chunks:
        stream.write(chunk)
    return report


CHUNKS = ["1000/10000 kB (10%), 0/1 tablespace\r2000/10",   # a line split across writes
          "000 kB (20%), 0/1 tablespace\r",
          "9000/10000 kB (90%), 0/1 tablespace\r"]


def test_not_a_terminal_a_line_per_update_at_most_every_few_seconds(monkeypatch):
    out = io.StringIO()
    # report created at 0; updates at 1 (the copy's start: a short copy prints
    # nothing), 2 (too soon), 7 (printed)
    feed(out, CHUNKS, [0, 1, 2, 7], monkeypatch)
    lines = out.getvalue().splitlines()
    assert lines == ["  standby: 9/10 MB (90%), 1.5 MB/s, 1 s left"]
    assert "\r" not in out.getvalue()


def test_terminal_redraws_one_line_and_clears_it_before_other_output(monkeypatch):
    out = Terminal()
    report = feed(out, CHUNKS, [0, 1, 2, 7, 8], monkeypatch)
    report.say("  standby: copied")
    text = out.getvalue()
    # redrawn at 2 and 7 s (each at least half a second after the last)
    assert text.count("\r\033[K  standby: ") == 3 and text.count("\n") == 1
    assert "standby: 9/10 MB (90%)" in text
    assert text.endswith("\r\033[K  standby: copied\n")


def test_quiet_prints_no_progress():
    out = io.StringIO()
    report = Report(out=out, quiet=True)
    report.progress("standby", 1, 2)
    assert out.getvalue() == ""


def test_the_line_carries_the_copys_rate_cap(monkeypatch):
    out = io.StringIO()
    times = iter([0, 1, 7])
    monkeypatch.setattr(report_module.time, "monotonic", lambda: next(times))
    stream = progress.Stream(Report(out=out), "standby", progress.basebackup_line,
                             " (capped at 52.4 MB/s)")
    stream.write(CHUNKS[0] + CHUNKS[1])
    assert out.getvalue() == "  standby: 2/10 MB (20%), 0.3 MB/s, 24 s left (capped at 52.4 MB/s)\n"


def test_the_last_progress_of_a_whole_output():
    output = ("waiting for checkpoint\n    0/40960 kB (0%), 0/1 tablespace\r"
              "40960/40960 kB (100%), 0/1 tablespace\r40970/40970 kB (100%), 1/1 tablespace\n"
              "pg_basebackup: syncing data to disk ...\n")
    assert progress.last(output, progress.basebackup_line) == (40970 * 1024, 40970 * 1024)
    assert progress.last("no progress here\n", progress.basebackup_line) is None


def test_a_delta_copy_estimates_what_it_will_send():
    gb = 10 ** 9
    assert progress.to_send(10 * gb, arrived=4 * gb) == 6 * gb      # a copy cut short
    assert progress.to_send(10 * gb, arrived=11 * gb) == 0
    assert progress.to_send(10 * gb, wal_since=gb // 2) == gb // 2  # WAL since its copy
    assert progress.to_send(10 * gb, wal_since=30 * gb) == 10 * gb  # never beyond the whole
    assert progress.to_send(10 * gb, wal_since=-1) == 10 * gb       # ahead: not known
    assert progress.to_send(10 * gb) == 10 * gb
