"""Progress of a long copy, read from the copying program's own output.

rsync (`--info=progress2`) and pg_basebackup (`-P`) redraw one line with
carriage returns; `Stream` takes their output as it arrives, and each complete
line that parses becomes a call to `report.progress(host, done, total, note)`
(note: what the copy's rate is measured against, e.g. its rate cap).
Parsing and the line printed are pure functions, unit-tested.
"""
import re

# rsync --info=progress2: "    412,123,136  41%   95.21MB/s    0:00:06 (xfr#1, to-chk=3/900)"
RSYNC = re.compile(r"^\s*([\d,]+)\s+(\d+)%\s")
# pg_basebackup -P: "123456/234567 kB (52%), 0/1 tablespace" (verbose adds a file name)
BASEBACKUP = re.compile(r"(\d+)/(\d+) kB \((\d+)%\)")


def rsync_line(line):
    """(bytes done, bytes in all) from an rsync progress line, else None."""
    match = RSYNC.match(line)
    if not match:
        return None
    done, percent = int(match.group(1).replace(",", "")), int(match.group(2))
    return done, (done * 100 // percent if percent else None)


def basebackup_line(line):
    """(bytes done, bytes in all) from a pg_basebackup progress line, else None."""
    match = BASEBACKUP.search(line)
    if not match:
        return None
    return int(match.group(1)) * 1024, int(match.group(2)) * 1024


def last(text, parse):
    """The last progress a whole output tells (parse: rsync_line or
    basebackup_line), else None."""
    for line in reversed(re.split(r"[\r\n]", text)):
        found = parse(line)
        if found:
            return found
    return None


def to_send(total, arrived=None, wal_since=None):
    """Bytes an online delta copy will send, estimated before it starts
    (total: the primary's data).  A copy cut short: what has not arrived.
    An earlier copy: the WAL the primary wrote since (every change is in it,
    full-page images too), when known and not beyond the whole."""
    if arrived is not None:
        return max(0, total - arrived)
    if wal_since is not None and wal_since >= 0:
        return min(total, wal_since)
    return total


def describe(done, total, seconds):
    """'412/1005 MB (41%), 95.2 MB/s, 6 s left' (what is unknown is left out)."""
    mb = 1e6
    text = f"{done / mb:.0f}"
    if total:
        text += f"/{total / mb:.0f} MB ({min(100, int(done * 100 // total))}%)"
    else:
        text += " MB"
    if seconds > 0 and done:
        rate = done / seconds
        text += f", {rate / mb:.1f} MB/s"
        if total and total > done:
            text += f", {(total - done) / rate:.0f} s left"
    return text


class Stream:
    """A file-like sink for a remote command's output (Invoke's out_stream)."""

    def __init__(self, report, host, parse, note=""):
        self.report, self.host, self.parse, self.note = report, host, parse, note
        self.pending = ""

    def write(self, text):
        self.pending += text
        *complete, self.pending = re.split(r"[\r\n]", self.pending)
        for line in complete:
            found = self.parse(line)
            if found:
                self.report.progress(self.host, *found, self.note)

    def flush(self):
        pass
