"""How much WAL the replication slots of one server may hold (the WAL guard).

A slot keeps every WAL segment its standby has not confirmed: a standby
that is gone, or down for days, fills the disk of the server that feeds it
and stops it.  max_slot_wal_keep_size (13+) caps that; beyond the cap the
slot is invalidated (wal_status 'lost') and its standby needs a resync, but
the server keeps running.  The cap is derived from the space the WAL can
use on its file system, so that it is a number the disk can really hold.
Pure: the caller reads the space and the current values.
"""
import re
from dataclasses import dataclass

from . import versions

MB = 1024 * 1024
GB = 1024 * MB
# postgresql.conf's memory units for this setting (its unit is MB).
UNITS = {"kB": 1 / 1024, "MB": 1, "GB": 1024, "TB": 1024 * 1024}
NO_LIMIT = "-1"


@dataclass(frozen=True)
class Space:
    """What a server's WAL may use: bytes free on its file system and bytes
    of WAL already there (a slot's WAL moves from the one to the other)."""
    free: int
    wal: int

    @property
    def usable(self):
        return self.free + self.wal


@dataclass(frozen=True)
class Guard:
    """The settings that bound what slots hold on one server, and why."""
    settings: dict
    why: str = ""     # a line for plan and configure-master; empty: nothing to say


def parse_df_du(text):
    """Space from `df -P -B1 DIR | tail -n 1` then `du -s -B1 DIR` (one line
    each; du's line may be missing: no WAL directory yet).  Strict: digits
    where numbers are, else ValueError."""
    lines = [line for line in text.splitlines() if line.strip()]
    if not lines or len(lines) > 2:
        raise ValueError("expected df's line and du's")
    fields = lines[0].split()
    if len(fields) < 6 or not fields[3].isdigit():
        raise ValueError("df's line has no available bytes")
    wal = 0
    if len(lines) == 2:
        size = lines[1].split()[0]
        if not size.isdigit():
            raise ValueError("du's line has no size")
        wal = int(size)
    return Space(int(fields[3]), wal)


def size_mb(text):
    """A max_slot_wal_keep_size value in MB (None for no limit or unreadable)."""
    match = re.fullmatch(r"\s*(\d+)\s*(kB|MB|GB|TB)?\s*", str(text or ""))
    if not match:
        return None
    return int(int(match.group(1)) * UNITS[match.group(2) or "MB"])


def size_text(mb):
    """A size as the setting takes it: whole GB from 10 GB, else MB."""
    return f"{mb // 1024}GB" if mb >= 10 * 1024 else f"{mb}MB"


def decide(major, share, explicit, space, owned, current, idle_timeout=None):
    """The guard for one server.

    share: hotstandby.wal_guard.share (a fraction, or "off"); explicit:
    hotstandby.max_slot_wal_keep_size (wins when set); space: Space or None
    (not read); owned: the value in the tool's own settings file, or None;
    current: the value the server's config gives now (postgres -C), which is
    the server's own when the tool's file does not set it; idle_timeout:
    hotstandby.wal_guard.idle_timeout (18+).
    """
    settings, why = {}, ""
    if idle_timeout and versions.fact("slot_idle_timeout", major):
        settings["idle_replication_slot_timeout"] = idle_timeout
    if not versions.fact("slot_wal_keep", major):
        return Guard(settings)
    if explicit is not None:
        settings["max_slot_wal_keep_size"] = explicit
        return Guard(settings)
    if share == "off" or space is None:
        return Guard(settings)
    if owned is None and current not in (None, "", NO_LIMIT):
        return Guard(settings, f"max_slot_wal_keep_size {current} (the server's own) kept")
    # Written at three quarters of the share, kept while between a half and
    # the whole of it: the free space moves a little on every run, and a
    # rerun should rewrite nothing for that.
    cap = int(share * space.usable) // MB
    kept = size_mb(owned)
    value = owned if kept is not None and cap // 2 <= kept <= cap else size_text(cap * 3 // 4)
    settings["max_slot_wal_keep_size"] = value
    return Guard(settings, f"max_slot_wal_keep_size {value}: a slot holds at most that much "
                           f"WAL (share {share} of {size_text(space.usable // MB)} its WAL's "
                           f"file system has, WAL included)")
