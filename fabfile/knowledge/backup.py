"""The online copy's base backup: the SQL that starts and stops a
non-exclusive backup on one psql session of the primary (steps/clone.py
holds it open for the whole copy), what the stop answers, and the files a
copy must hold from it: backup_label, and tablespace_map naming the
standby's own locations.  Pure."""
import base64
import binascii
import re

from . import render, versions
from .lsn import Lsn

LABEL = "pg-hotstandby online copy"
STARTED = "pg-hotstandby-backup-started"
STOPPED = "pg-hotstandby-backup-stopped"
# psql -A -t prints each answer as one line: these find them in its output.
STARTED_LINE = rf"^{STARTED} (\S+)$"
STOPPED_LINE = rf"^{STOPPED} (\S+) (\S+) (\S*)$"
# A fast checkpoint on a busy primary with large shared_buffers can take minutes.
START_TIMEOUT = 1800
STOP_TIMEOUT = 600


class BackupError(ValueError):
    pass


def available(major):
    """Whether the server offers the non-exclusive backup API (9.6+)."""
    return versions.fact("backup_start", major) is not None


def start_sql(major):
    """The session's first statements: no timeout may end it while the copy
    runs, then the backup started with a fast checkpoint."""
    settings = ["set statement_timeout = 0;"]
    if versions.fact("idle_session_timeout", major):
        settings.append("set idle_session_timeout = 0;")
    call = versions.fact("backup_start", major).format(label=render.sql_literal(LABEL))
    return "\n".join([*settings, f"select '{STARTED} ' || {call};", ""])


def stop_sql(major):
    """Stops the backup: one line with its end, backup_label and
    tablespace_map (base64, so each stays on the line)."""
    def encoded(column):
        return f"translate(encode(convert_to({column}, 'UTF8'), 'base64'), E'\\n', '')"
    return (f"select '{STOPPED} ' || lsn || ' ' || {encoded('labelfile')} || ' ' || "
            f"coalesce({encoded('spcmapfile')}, '') from {versions.fact('backup_stop', major)};\n")


def started(found):
    """The backup's start (an Lsn) from STARTED_LINE's match."""
    return Lsn.parse(found.group(1))


def stopped(found):
    """(end Lsn, backup_label text, tablespace_map text) from STOPPED_LINE's
    match; BackupError for anything else."""
    try:
        end = Lsn.parse(found.group(1))
        label, spcmap = (base64.b64decode(found.group(n), validate=True).decode()
                         for n in (2, 3))
    except (ValueError, binascii.Error, UnicodeDecodeError) as exc:
        raise BackupError(f"cannot read what pg_backup_stop answered: {exc}") from None
    if not re.search(r"^START WAL LOCATION: ", label, re.M):
        raise BackupError("the backup_label pg_backup_stop answered has no START WAL LOCATION")
    return end, label, spcmap


# The backup's WAL is copied with its files (wal_files) up to this many
# segments; a longer stretch streams, as it would anyway.
WAL_FILES_MAX = 64
START_FILE = re.compile(r"^START WAL LOCATION: \S+ \(file ([0-9A-F]{24})\)$", re.M)


def wal_files(label, end, segment_size):
    """The names of the WAL segment files from the backup's start (its
    backup_label's START WAL LOCATION file) to the one holding its end's
    last byte, for the copy to send with the files: streamed instead, the
    last one (which pg_backup_stop switches away from) crosses the wire
    whole, its unused rest zeros.  () when they are more than
    WAL_FILES_MAX, or the label or the size cannot be read."""
    found = START_FILE.search(label)
    if not found or not segment_size.isdigit() or int(segment_size) <= 0:
        return ()
    size, first = int(segment_size), found.group(1)
    per_id = 0x100000000 // size
    start = int(first[8:16], 16) * per_id + int(first[16:], 16)
    last = (int(end) - 1) // size
    if not start <= last < start + WAL_FILES_MAX:
        return ()
    return tuple(f"{first[:8]}{seg // per_id:08X}{seg % per_id:08X}"
                 for seg in range(start, last + 1))


def standby_map(spcmap, spaces):
    """The tablespace_map the standby holds: the backup's tablespaces (OID
    LOCATION lines) at the standby's locations (hotstandby.tablespace_mapping),
    where recovery makes their links.  '' without tablespaces."""
    oids = sorted(line.split(" ", 1)[0] for line in spcmap.splitlines() if line.strip())
    if oids != sorted(t.oid for t in spaces):
        raise BackupError(f"the backup's tablespaces ({', '.join(oids) or 'none'}) are not the "
                          f"copy's ({', '.join(t.oid for t in spaces) or 'none'}): a tablespace "
                          "was made or dropped during the copy; run again")
    return "".join(f"{t.oid} {t.target}\n" for t in spaces)
