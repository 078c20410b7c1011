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
