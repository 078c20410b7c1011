"""Changed pages copied alone (knowledge/pages.py): the listing, and the two
shell commands run for real on local files, as they run on the hosts."""
import os
import subprocess

import pytest

from fabfile.knowledge import pages, summaries
from fabfile.knowledge.lsn import Lsn
from fabfile.knowledge.tablespaces import Tablespace

PAGE = 16   # a small page: the commands take the primary's block_size


def space():
    return Tablespace(oid="16390", name="ts", location="/srv/ts", target="/srv/ts",
                      version_dir="PG_17_202406281")


def test_each_range_is_listed_with_its_path_from_the_data_directory():
    changed = {"1663": {"5/16397.2": [(0, 5)], "5/16397": [(10, 3), (40, 1)]},
               "1664": {"1262": [(0, 1)]},
               "16390": {"5/16410.1": [(100, 28)]}}
    listed = pages.entries(changed, [space()])
    assert listed == [(0, "base/5/16397", 10, 3), (1, "base/5/16397", 40, 1),
                      (2, "base/5/16397.2", 0, 5), (3, "global/1262", 0, 1),
                      (4, "pg_tblspc/16390/PG_17_202406281/5/16410.1", 100, 28)]
    assert pages.staged_bytes(listed, 8192) == 38 * 8192


def run(command, cwd):
    done = subprocess.run(["sh", "-c", command], cwd=cwd, capture_output=True, text=True)
    assert done.returncode == 0, done.stderr
    return done


def test_staged_ranges_written_on_the_standby_make_its_file_the_primarys(tmp_path, monkeypatch):
    """In batches, as the copy's pipeline runs them: each staged into its own
    directory, moved (as rsync sends it) and written, the last removing the
    standby's staging directory."""
    monkeypatch.setattr(pages, "MIN_BATCH", 2 * PAGE)   # 7 pages: 3 batches
    primary, standby = tmp_path / "primary", tmp_path / "standby"
    for data in (primary, standby):
        (data / "base" / "5").mkdir(parents=True)
    old = bytes(range(256)) * 4                          # 64 pages
    (standby / "base" / "5" / "16397").write_bytes(old)
    new = bytearray(old)
    new[10 * PAGE:13 * PAGE] = b"x" * 3 * PAGE           # pages 10-12 changed
    new += b"y" * 2 * PAGE                               # two pages appended
    new += bytes(3 * PAGE)           # and three empty ones, not in WAL (bulk extension)
    (primary / "base" / "5" / "16397").write_bytes(new)
    (primary / "base" / "5" / "16398.1").write_bytes(b"z" * PAGE)   # a new segment
    listed = pages.entries({"1663": {"5/16397": [(10, 3), (64, 2)], "5/16398.1": [(0, 1)],
                                     "5/16399": [(0, 1)]}}, [])     # 16399: dropped since
    cut = pages.batches(listed, PAGE)
    assert cut == [[(0, "base/5/16397", 10, 3)],
                   [(1, "base/5/16397", 64, 2), (2, "base/5/16398.1", 0, 1)],
                   [(3, "base/5/16399", 0, 1)]]
    stage = pages.primary_stage("standby")
    for k, batch in enumerate(cut):
        staged = run(pages.stage_command(str(primary), f"{stage}/{k}", batch, PAGE), tmp_path)
        assert oct((primary / stage).stat().st_mode & 0o777) == "0o700"
        sizes = pages.parse_sizes(staged.stdout, batch, PAGE)
        assert sizes == [{"base/5/16397": len(new)},
                         {"base/5/16397": len(new), "base/5/16398.1": PAGE},
                         {}][k]   # the last batch's file vanished on the primary
        # what the copy's rsync does: the batch's directory into the standby's
        (standby / pages.STAGE).mkdir(exist_ok=True)
        os.rename(primary / stage / str(k), standby / pages.STAGE / str(k))
        run(pages.apply_command(str(standby), k, batch, PAGE, sizes, k == len(cut) - 1),
            tmp_path)
        assert (standby / pages.STAGE).exists() == (k < len(cut) - 1)
    assert (standby / "base" / "5" / "16397").read_bytes() == bytes(new)
    assert (standby / "base" / "5" / "16398.1").read_bytes() == b"z" * PAGE
    assert oct((standby / "base" / "5" / "16398.1").stat().st_mode & 0o777) == "0o600"
    assert not (standby / "base/5/16399").exists()
    run(pages.remove_command(str(primary), stage), tmp_path)
    assert not (primary / stage).exists()


def test_batches_are_about_equal_and_few():
    """At least MIN_BATCH each, at most BATCHES, ranges cut where a share
    ends and numbered anew."""
    listed = pages.entries({"1663": {"5/1": [(0, 10000)], "5/2": [(0, 2), (10, 30000)]}}, [])
    cut = pages.batches(listed, 8192)
    assert [sum(c for _, _, _, c in batch) for batch in cut] == [10001, 10001, 10001, 9999]
    assert len(cut) == pages.BATCHES
    assert cut == [[(0, "base/5/1", 0, 10000), (1, "base/5/2", 0, 1)],
                   [(2, "base/5/2", 1, 1), (3, "base/5/2", 10, 10000)],
                   [(4, "base/5/2", 10010, 10001)], [(5, "base/5/2", 20011, 9999)]]
    small = pages.entries({"1663": {"5/1": [(0, 100)]}}, [])
    assert pages.batches(small, 8192) == [small]
    assert pages.batch_rules(2) == ["+ /2/", "+ /2/**", "- *"]


def test_only_the_listed_files_sizes_are_taken_and_only_whole_pages():
    listed = pages.entries({"1663": {"5/1": [(0, 1)], "5/2": [(0, 1)]}}, [])
    assert pages.parse_sizes(f"base/5/1 {3 * PAGE}\nbase/5/2 {PAGE + 1}\n", listed, PAGE) \
        == {"base/5/1": 3 * PAGE}   # a size between pages: left alone
    assert pages.parse_sizes("", listed, PAGE) == {}   # vanished on the primary
    for bad in ("base/5/3 16", "base/5/1 16; rm -rf /", "base/5/1", "../base/5/1 16"):
        with pytest.raises(ValueError):
            pages.parse_sizes(bad, listed, PAGE)


def test_a_path_with_spaces_or_quotes_reaches_the_commands_as_one_word(tmp_path):
    data = tmp_path / "data dir 'x'"
    (data / "base" / "5").mkdir(parents=True)
    (data / "base" / "5" / "1").write_bytes(b"a" * PAGE * 2)
    listed = pages.entries({"1663": {"5/1": [(1, 1)]}}, [])
    run(pages.stage_command(str(data), "pgsql_tmp.s", listed, PAGE), tmp_path)
    assert (data / "pgsql_tmp.s" / "0").read_bytes() == b"a" * PAGE


def test_the_share_of_free_space_staging_may_take():
    assert pages.too_big(10 * 2 ** 30, 40 * 2 ** 30) == ""
    assert "over half of the" in pages.too_big(30 * 2 ** 30, 40 * 2 ** 30)


def test_the_staging_directory_is_one_no_copy_or_base_backup_takes():
    name = pages.primary_stage("standby_2")
    assert name.startswith("pgsql_tmp")     # PostgreSQL's base backups skip these
    assert pages.STAGE.startswith(".pg-hotstandby-")   # rsync.STANDBY_OWN: never deleted
    assert summaries.PAGE_FORKS == ("0", "2")


def test_ranges_that_would_not_fit_in_one_command_are_left_to_rsync():
    """The commands go to `sh -c` as one argument (the kernel takes 128 kB):
    MAX_RANGES ranges in files with short paths fit, with the longest paths
    a copy can name (a tablespace, OIDs near 2**32, a late segment) they
    do not, and the copy compares those files whole instead."""
    data = "/var/lib/postgresql/18/main"
    short = pages.entries({"1663": {f"5/{16384 + n}": [(131071 - n, 1)]
                                    for n in range(summaries.MAX_RANGES)}}, [])
    assert pages.too_long(data, data, short, 8192) == ""
    t = Tablespace(oid="4294967295", name="t", location="/t", target="/t",
                   version_dir="PG_18_202506291")
    wide = pages.entries({"4294967295": {f"4294967295/{4294967295 - n}_vm.4095":
                                         [(131071, 131072)]
                                         for n in range(summaries.MAX_RANGES)}}, [t])
    assert "1000 ranges of changed pages are too many for one command" \
        == pages.too_long(data, data, wide, 8192)
    fitting = wide[:400]
    assert pages.too_long(data, data, fitting, 8192) == ""
    sizes = {path: 2 ** 30 for _, path, _, _ in fitting}
    assert len(pages.apply_command(data, 3, fitting, 8192, sizes, True)) < pages.MAX_COMMAND


def test_pages_the_standby_replayed_before_it_stopped_are_left_to_rsync():
    """Its last restartpoint at redo, stopped at 470 MB of WAL past it, 235 MB
    more before the backup's start (the 100 Mbit/s bench): rsync compares.
    Stopped right after a restartpoint, or with no stopping point known: the
    pages go alone."""
    redo = Lsn.parse("0/7100E670")
    assert pages.replayed_before(redo, Lsn(redo + 470_000_000),
                                 Lsn(redo + 705_000_000)) == (
        "its replay had gone 470 MB of WAL past its last restartpoint when it stopped, and "
        "235 MB came after: it most likely holds most changed pages already")
    assert pages.replayed_before(redo, Lsn(redo + 100), Lsn(redo + 900_000)) == ""
    assert pages.replayed_before(redo, Lsn(redo + 400), Lsn(redo + 800)) == ""   # a tie
    assert pages.replayed_before(redo, Lsn(redo + 401), Lsn(redo + 800)) != ""
    assert pages.replayed_before(redo, None, Lsn(redo + 800)) == ""
    assert pages.replayed_before(redo, redo, Lsn(redo + 800)) == ""
