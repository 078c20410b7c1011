"""How a copy travels: compression (`hotstandby.compress`) and a rate cap
(`hotstandby.max_rate`), what each copying program is told, and the words a
plan and the progress line use.  Pure: unit-tested per version and option.

Compression is asked for as `none`, `lz4`, `zstd[:level]` or `auto`; what a
copy really does depends on its program: pg_basebackup compresses on the
primary's server and decompresses on the standby from PostgreSQL 15
(versions.FACTS "basebackup_compress"); rsync compresses with lz4 or zstd when
both hosts' rsync list it (3.2 and later).  Anything else copies uncompressed
and says why: a request that cannot be met is never an error.

The rate cap is pg_basebackup's `--max-rate` (kB/s: k and M suffixes, 1024
based) and reaches rsync as `--bwlimit` in the same KiB/s.  Both cap the bytes
on the wire, compressed or not, per copy.
"""
import re
from dataclasses import dataclass
from enum import Enum

from . import versions

class Program(Enum):
    """What copies the data: each compresses its own way."""
    PG_BASEBACKUP = "pg_basebackup"
    RSYNC = "rsync"


CHOICES = "none, lz4, zstd, zstd:LEVEL (1-19) or auto"
ZSTD_LEVELS = range(1, 20)    # what pg_basebackup's and rsync's zstd both take


@dataclass(frozen=True)
class Compression:
    algorithm: str = "none"   # none, lz4 or zstd
    level: int = None         # zstd only; None: the program's default

    def __str__(self):
        return self.algorithm + (f":{self.level}" if self.level else "")


NONE = Compression()
# What `auto` asks for where the copy can compress.  Measured by `inv bench
# --dataset realistic` (README "Performance"): the fastest choice on the 1 Gbit/s
# and the unlimited link, 2.4x fewer bytes; lz4 was no faster (more bytes to
# encrypt and write on 2 shared cores), level 3 dearer for 2% fewer bytes.
AUTO = Compression("zstd", 1)


class BadValue(ValueError):
    """A compression or rate value that cannot be used: the text names the fix."""


def parse_compress(text):
    """'zstd:3' -> Compression('zstd', 3); 'auto' -> 'auto'."""
    value = str(text).strip().lower()
    if value == "auto":
        return "auto"
    found = re.fullmatch(r"(none|lz4|zstd)(?::(\d+))?", value)
    if not found or (found.group(2) and found.group(1) != "zstd"):
        raise BadValue(f"use {CHOICES}")
    level = int(found.group(2)) if found.group(2) else None
    if level is not None and level not in ZSTD_LEVELS:
        raise BadValue(f"zstd levels are 1 to 19: use {CHOICES}")
    return Compression(found.group(1), level)


RATE_MIN_KB, RATE_MAX_KB = 32, 1024 * 1024   # pg_basebackup's own range


def parse_rate(text):
    """'50M' -> 51200 (kB/s, 1024 based, as pg_basebackup reads it); None or
    '' -> None (no cap)."""
    if text is None or str(text).strip() in ("", "none"):
        return None
    found = re.fullmatch(r"(\d+)([kM]?)", str(text).strip())
    if not found:
        raise BadValue("use a rate in kB/s with an optional k or M suffix, e.g. 50M or "
                       "500k (32k to 1024M), or none")
    kb = int(found.group(1)) * (1024 if found.group(2) == "M" else 1)
    if not RATE_MIN_KB <= kb <= RATE_MAX_KB:
        raise BadValue("use a rate from 32k to 1024M (pg_basebackup's range), e.g. 50M")
    return kb


def rate_label(kb):
    """51200 -> '52.4 MB/s' (MB of 10^6 bytes, as the progress line counts)."""
    mbps = kb * 1024 / 1e6
    return f"{mbps:.1f} MB/s" if mbps >= 1 else f"{kb * 1024 / 1e3:.0f} kB/s"


def choose(asked, program, major, rsync_lists=()):
    """(Compression, why): what a copy by `program` (a Program)
    sends for the `asked` choice; `why` says why it is not compressed when
    it was asked to be (else "").  rsync_lists: each host's rsync compress list
    (rsync_compress_list), primary's and standby's."""
    if asked == NONE:
        return NONE, ""
    wanted = AUTO if asked == "auto" else asked
    if program is Program.PG_BASEBACKUP:
        if wanted.algorithm in versions.fact("basebackup_compress", major):
            return wanted, ""
        return NONE, (f"pg_basebackup compresses a plain copy from PostgreSQL 15; this is "
                      f"{versions.label(major)}")
    if all(wanted.algorithm in found for found in rsync_lists) and rsync_lists:
        return wanted, ""
    return NONE, (f"rsync compresses with {wanted.algorithm} only when the rsync on both "
                  "hosts (3.2 or later) lists it")


def rsync_compress_list(version_output):
    """The algorithms in `rsync --version`'s "Compress list:" (3.2 and
    later); () for an older rsync, which lists none."""
    lines = version_output.splitlines()
    for index, line in enumerate(lines):
        if line.strip() == "Compress list:" and index + 1 < len(lines):
            return tuple(lines[index + 1].split())
    return ()


def basebackup_options(compression, max_rate_kb):
    """pg_basebackup's options for this copy: compressed on the primary's
    server (the standby's pg_basebackup decompresses into the plain copy)."""
    options = []
    if compression != NONE:
        detail = f":level={compression.level}" if compression.level else ""
        options.append(f"--compress=server-{compression.algorithm}{detail}")
    if max_rate_kb:
        options.append(f"--max-rate={max_rate_kb}")
    return options


def rsync_options(compression, max_rate_kb):
    """rsync's options for this copy (the temporary key's forced command
    accepts exactly these on the standby: knowledge/tempkey.py)."""
    options = []
    if compression != NONE:
        options += ["--compress", f"--compress-choice={compression.algorithm}"]
        if compression.level:
            options.append(f"--compress-level={compression.level}")
    if max_rate_kb:
        options.append(f"--bwlimit={max_rate_kb}")
    return options


def describe(compression, why, max_rate_kb):
    """'zstd level 1, capped at 52.4 MB/s' or 'not compressed (why), no rate cap'."""
    if compression != NONE:
        text = f"{compression.algorithm}" + (f" level {compression.level}"
                                             if compression.level else "") + " compressed"
    else:
        text = "not compressed" + (f" ({why})" if why else "")
    return text + (f", capped at {rate_label(max_rate_kb)}" if max_rate_kb else ", no rate cap")


def progress_note(compression, max_rate_kb):
    """What the progress line adds after the rate: '' when nothing applies."""
    parts = []
    if compression != NONE:
        parts.append(f"{compression} on the wire")
    if max_rate_kb:
        parts.append(f"capped at {rate_label(max_rate_kb)}")
    return f" ({', '.join(parts)})" if parts else ""
