"""Compression and the rate cap: the values accepted, what each copying
program is told per PostgreSQL major and rsync, and the words plan and the
progress line use."""
import shlex

import pytest

from fabfile.knowledge import rsync, transfer
from fabfile.knowledge.transfer import NONE, Compression, Program

# `rsync --version` as 3.2.3 (bullseye) and 3.1.3 (buster) print it, trimmed.
RSYNC_323 = """rsync  version 3.2.3  protocol version 31
Capabilities:
    64-bit files, 64-bit inums, 64-bit timestamps, 64-bit long ints,
Checksum list:
    xxh128 xxh3 xxh64 (xxhash) md5 md4 none
Compress list:
    zstd lz4 zlibx zlib none
"""
RSYNC_313 = """rsync  version 3.1.3  protocol version 31
Capabilities:
    64-bit files, 64-bit inums, 64-bit timestamps, 64-bit long ints,
    socketpairs, hardlinks, symlinks, IPv6, batchfiles, inplace,
"""
ZSTD = transfer.rsync_compress_list(RSYNC_323)


@pytest.mark.parametrize("text, parsed", [
    ("none", NONE), ("lz4", Compression("lz4")), ("zstd", Compression("zstd")),
    ("zstd:3", Compression("zstd", 3)), ("ZSTD:19", Compression("zstd", 19)), ("auto", "auto"),
])
def test_compress_choices(text, parsed):
    assert transfer.parse_compress(text) == parsed


@pytest.mark.parametrize("text", ["gzip", "zstd:0", "zstd:20", "lz4:3", "zstd:", "", "yes"])
def test_other_compress_values_are_refused_naming_the_choices(text):
    with pytest.raises(transfer.BadValue, match="none, lz4, zstd, zstd:LEVEL"):
        transfer.parse_compress(text)


@pytest.mark.parametrize("text, kb", [("50M", 51200), ("100k", 100), ("32", 32), ("1024M", 1048576),
                                      (None, None), ("", None), ("none", None)])
def test_rates_read_as_pg_basebackup_reads_them(text, kb):
    assert transfer.parse_rate(text) == kb


@pytest.mark.parametrize("text", ["50MB", "50m", "1.5M", "31k", "1025M", "fast", "-5M"])
def test_other_rates_are_refused_with_an_example(text):
    with pytest.raises(transfer.BadValue, match="e.g. 50M"):
        transfer.parse_rate(text)


def test_rate_label_in_the_progress_lines_units():
    assert transfer.rate_label(51200) == "52.4 MB/s"
    assert transfer.rate_label(100) == "102 kB/s"


@pytest.mark.parametrize("major, asked, expected", [
    (150000, Compression("zstd", 3), Compression("zstd", 3)),
    (170000, Compression("lz4"), Compression("lz4")),
    (180000, "auto", transfer.AUTO),
    (150000, NONE, NONE),
])
def test_pg_basebackup_compresses_on_the_server_from_15(major, asked, expected):
    assert transfer.choose(asked, Program.PG_BASEBACKUP, major) == (expected, "")


@pytest.mark.parametrize("major", [90600, 130000, 140000])
def test_pg_basebackup_before_15_copies_uncompressed_and_says_why(major):
    chosen, why = transfer.choose("auto", Program.PG_BASEBACKUP, major)
    assert chosen == NONE and "from PostgreSQL 15" in why


def test_rsync_compresses_when_both_hosts_know_the_algorithm():
    assert transfer.choose(Compression("lz4"), Program.RSYNC, 130000, (ZSTD, ZSTD)) == \
        (Compression("lz4"), "")
    assert transfer.choose("auto", Program.RSYNC, 90600, (ZSTD, ZSTD)) == (transfer.AUTO, "")
    old = transfer.rsync_compress_list(RSYNC_313)
    assert old == ()
    chosen, why = transfer.choose("auto", Program.RSYNC, 150000, (ZSTD, old))
    assert chosen == NONE and "rsync on both hosts (3.2 or later)" in why
    assert transfer.choose(NONE, Program.RSYNC, 150000, ()) == (NONE, "")


def test_pg_basebackup_options():
    assert transfer.basebackup_options(Compression("zstd", 3), 51200) == \
        ["--compress=server-zstd:level=3", "--max-rate=51200"]
    assert transfer.basebackup_options(Compression("lz4"), None) == ["--compress=server-lz4"]
    assert transfer.basebackup_options(NONE, None) == []


def test_rsync_options_in_the_command():
    options = transfer.rsync_options(Compression("zstd", 1), 100)
    assert options == ["--compress", "--compress-choice=zstd", "--compress-level=1",
                       "--bwlimit=100"]
    cmd = shlex.split(rsync.command("/d", "h:/d", [], "ssh", checksum=False, transfer=options))
    assert cmd[-2:] == ["/d/", "h:/d/"] and set(options) <= set(cmd)
    assert transfer.rsync_options(Compression("lz4"), None) == ["--compress",
                                                                "--compress-choice=lz4"]
    assert transfer.rsync_options(NONE, None) == []


def test_plan_and_progress_words():
    assert transfer.describe(Compression("zstd", 1), "", 51200) == \
        "zstd level 1 compressed, capped at 52.4 MB/s"
    assert transfer.describe(NONE, "pg_basebackup compresses ...", None) == \
        "not compressed (pg_basebackup compresses ...), no rate cap"
    assert transfer.progress_note(NONE, 51200) == " (capped at 52.4 MB/s)"
    assert transfer.progress_note(Compression("lz4"), None) == " (lz4 on the wire)"
    assert transfer.progress_note(NONE, None) == ""
