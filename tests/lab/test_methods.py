"""The three copy methods end to end on 15 and 17, with pgbench writing to the
primary during the copy: rsync (the online delta copy) and basebackup never
stop it (no failed transaction), rsync-cold after stop-all does; every
committed row reaches the standby; a standby switches from one method to
another.  With the defaults, the cheapest way: a standby stopped for a while
catches up from its slot; one whose slot lost its WAL comes back by the
online delta copy; a copy cut short resumes.

Each copy also takes a compression choice (every choice with each program,
over the two majors: COMPRESS) and two take a rate cap: the copying program
is seen running with them (`ps` on its host), plan and the copy's line say
them."""
import re
import threading
import time

import pytest

ROWS = "select md5(string_agg(aid || ':' || abalance, ',' order by aid)) from pgbench_accounts"
# test -> {major: --compress}: none, lz4, zstd:LEVEL and auto with pg_basebackup
# and with rsync, across the module's two labs.
COMPRESS = {"rsync full": {15: "zstd:3", 17: "lz4"}, "basebackup sync": {15: "lz4", 17: "zstd:3"},
            "rsync steps": {15: "none", 17: "auto"}, "basebackup full": {15: "auto", 17: "none"}}
# The default's delta cases run on one major each (lab time; the test takes
# that lab alone): the other major copies with the same online delta copy in
# the rsync tests.
DELTA_CASE = {"lost slot": 17, "cut copy": 15}
# What the copy's line says of each (auto: zstd level 1, transfer.AUTO).
SAID = {"none": "not compressed", "lz4": "lz4 compressed", "zstd:3": "zstd level 3 compressed",
        "auto": "zstd level 1 compressed"}


@pytest.fixture(scope="module", params=[15, 17])
def lab(request, lab_factory):
    lab = lab_factory(pg=request.param)
    lab.sh("master", "sudo -u postgres pgbench -q -i -s 10 -h /run/postgresql postgres")
    return lab


def writing(lab, seconds):
    """pgbench on the primary in a thread; join() gives its output."""
    writer = {}

    def write():
        writer["out"] = lab.ssh("master", f"sudo -u postgres pgbench -n -c 2 -T {seconds} "
                                          "-h /run/postgresql postgres 2>&1", check=False)
    thread = threading.Thread(target=write)
    thread.start()
    time.sleep(2)

    def join():
        thread.join()
        return writer["out"]
    return join


def seen_running(lab, host, pattern):
    """Watch the host's processes (every 0.1 s, for up to a minute) for a
    command line matching the grep pattern; join() gives the first seen."""
    seen = {}

    def watch():
        seen["line"] = lab.exec(host, "for i in $(seq 600); do ps -eo args | grep -m1 -E "
                                      f"'{pattern}' && exit; sleep 0.1; done; true").strip()
    thread = threading.Thread(target=watch)
    thread.start()

    def join():
        thread.join()
        return seen["line"]
    return join


def same_rows(lab):
    rows = lab.query("master", ROWS)
    for _ in range(100):
        if lab.query("standby", ROWS) == rows:
            return True
        time.sleep(0.3)
    return False


def step_order(output):
    return re.findall(r"^== (.+) ==$", output, re.M)


def test_full_with_rsync_copies_online_under_writes_the_primary_never_stopped(lab):
    """The online delta copy: a base backup held open on the primary, rsync
    inside it.  The primary restarts once, for configure-master's settings
    (listen_addresses), never for the copy: the later tests see no restart."""
    compress = COMPRESS["rsync full"][lab.pg]
    join = writing(lab, 20)
    rsync = seen_running(lab, "master", "^[r]sync .*--bwlimit=20480 ")
    result = lab.fab("full", "--method", "rsync", "--compress", compress, "--max-rate", "20M")
    assert result.returncode == 0, result.stdout + result.stderr
    algorithm = compress.split(":")[0]
    assert f"--compress-choice={algorithm}" in rsync(), result.stdout
    assert f"{SAID[compress]}, capped at 21.0 MB/s" in result.stdout
    assert step_order(result.stdout)[3:5] == ["sync", "start-standby-then-master"]
    assert "base backup held open on master from " in result.stdout
    assert "standby: copied master:" in result.stdout and "(online, fresh copy)" in result.stdout
    sync = result.stdout.split("== sync ==")[1].split("== start-standby")[0]
    assert "master: stopped" not in sync and "restart" not in sync, sync
    join()   # pgbench stops at the primary's restart: what counts is what it committed
    assert same_rows(lab)


def test_switch_to_basebackup_under_writes_no_failed_transaction(lab):
    compress = COMPRESS["basebackup sync"][lab.pg]
    started = lab.query("master", "select pg_postmaster_start_time()")
    join = writing(lab, 25)
    basebackup = seen_running(lab, "standby", "^[^ ]*/[p]g_basebackup ")
    result = lab.fab("sync", "--method", "basebackup", "--compress", compress)
    out = join()
    assert result.returncode == 0, result.stdout + result.stderr
    server = {"lz4": "--compress=server-lz4", "zstd:3": "--compress=server-zstd:level=3"}
    assert server[compress] in basebackup() and SAID[compress] in result.stdout
    assert "copied master with pg_basebackup (primary running)" in result.stdout
    assert "master: stopped" not in result.stdout
    assert out.returncode == 0 and "number of failed transactions: 0" in out.stdout, out.stdout
    for task in ("start-standby-then-master", "smoke-test"):
        done = lab.fab(task)
        assert done.returncode == 0, done.stdout + done.stderr
    assert lab.query("master", "select pg_postmaster_start_time()") == started
    assert same_rows(lab)


def test_switch_back_to_rsync_step_by_step(lab):
    """sync --method rsync over the earlier copy: only what differs is sent,
    the primary running; after stop-all, sync copies the stopped primary cold."""
    compress = COMPRESS["rsync steps"][lab.pg]
    started = lab.query("master", "select pg_postmaster_start_time()")
    delta = lab.fab("sync", "--method", "rsync", "--compress", compress)
    assert delta.returncode == 0, delta.stdout + delta.stderr
    assert "(online: what changed, --checksum)" in delta.stdout and SAID[compress] in delta.stdout
    assert lab.query("master", "select pg_postmaster_start_time()") == started
    for task in ("start-standby-then-master", "smoke-test", "stop-all", "sync",
                 "start-standby-then-master", "smoke-test"):
        done = lab.fab(task, "--method", "rsync", "--compress", compress) if task == "sync" \
            else lab.fab(task)
        assert done.returncode == 0, task + done.stdout + done.stderr
        assert task != "sync" or "(update, --checksum)" in done.stdout
    assert same_rows(lab)


def test_full_with_basebackup_never_stops_the_primary_under_writes(lab):
    # Make the standby need a copy again: it holds another cluster's data now.
    lab.reinit("standby")
    compress = COMPRESS["basebackup full"][lab.pg]
    planned = lab.fab("plan", "--method", "basebackup", "--compress", compress,
                      "--max-rate", "100M")
    assert planned.returncode == 0, planned.stdout + planned.stderr
    assert re.search(r"standby: \(plan\) copy master:\S+ \(\d+ MB, pg_basebackup; "
                     + re.escape(SAID[compress]) + r".*, capped at 104.9 MB/s\)", planned.stdout), \
        planned.stdout
    started = lab.query("master", "select pg_postmaster_start_time()")
    join = writing(lab, 25)
    basebackup = seen_running(lab, "standby", "^[^ ]*/[p]g_basebackup .*--max-rate=102400")
    result = lab.fab("full", "--method", "basebackup", "--compress", compress,
                     "--max-rate", "100M")
    out = join()
    assert result.returncode == 0, result.stdout + result.stderr
    assert ("--compress=server-zstd:level=1" in basebackup()) == (compress == "auto")
    assert "primary downtime: none" in result.stdout and "master: stopped" not in result.stdout
    assert lab.query("master", "select pg_postmaster_start_time()") == started
    assert out.returncode == 0 and "number of failed transactions: 0" in out.stdout, out.stdout
    assert same_rows(lab)
    assert lab.query("master", "select active from pg_replication_slots "
                               "where slot_name = 'standby'") == [(True,)]


def test_standby_stopped_for_a_while_catches_up_from_its_slot(lab):
    """full with its defaults: no copy, the standby started as it is."""
    lab.sh("standby", f"pg_ctlcluster {lab.pg} main stop -m fast")
    lab.ssh("master", "sudo -u postgres pgbench -n -c 2 -t 500 -h /run/postgresql postgres")
    # Without the slot, these switches and checkpoints recycle what the standby needs.
    for _ in range(4):
        lab.query("master", "select pg_switch_wal(); checkpoint")
    retained = lab.query("master", "select pg_wal_lsn_diff(pg_current_wal_lsn(), restart_lsn) "
                                   "from pg_replication_slots where slot_name = 'standby'")
    assert retained[0][0] > 16 * 1024 * 1024, retained
    planned = lab.fab("plan")
    assert "standby: no copy: stopped, the WAL it needs from " in planned.stdout, planned.stdout
    assert "standby: (plan) no copy: it is started as it is" in planned.stdout
    done = lab.fab("full")
    assert done.returncode == 0, done.stdout + done.stderr
    assert "still held by slot standby" in done.stdout and "copied master" not in done.stdout
    assert same_rows(lab)


def lose_the_slot(lab):
    """The standby stopped while WAL beyond max_slot_wal_keep_size is written:
    its slot loses the WAL it needs.  It stops right after a restartpoint:
    the changed pages are then copied alone (knowledge/pages.py
    replayed_before)."""
    lab.restartpoint()
    lab.sh("standby", f"pg_ctlcluster {lab.pg} main stop -m fast")
    for _ in range(20):
        lab.ssh("master", "sudo -u postgres pgbench -n -c 2 -t 300 -h /run/postgresql postgres")
        lab.query("master", "select pg_switch_wal(); checkpoint")
        if lab.query("master", "select wal_status from pg_replication_slots "
                               "where slot_name = 'standby'") == [("lost",)]:
            return
    raise AssertionError("the slot kept its WAL")


def copied_mb(out):
    return float(re.search(r"standby: copied master:\S+ \([^)]*\): \d+ files, ([\d.]+) MB", out)
                 .group(1))


@pytest.mark.parametrize("lab", [DELTA_CASE["lost slot"]], indirect=True)
def test_a_slot_that_lost_its_wal_comes_back_by_the_delta_under_writes(lab, tmp_path):
    """full with its defaults: the online delta copy, only what differs sent,
    the primary never restarted, no failed transaction, every row there.
    (The cap, which pgbench's writes during the copy would exceed, is lifted
    by that full: a reload.)  On 17 the primary's WAL summaries name the
    relation files that changed since the standby's last restartpoint and
    the others are not read, their changed pages copied alone: a database
    made while it was away by copying its template's files (FILE_COPY: no
    block of it in WAL) arrives too."""
    config = tmp_path / "keep.yaml"
    config.write_text("hotstandby:\n  max_slot_wal_keep_size: 32MB\n")
    assert lab.fab("configure-master", config=config).returncode == 0
    started = lab.query("master", "select pg_postmaster_start_time()")
    lose_the_slot(lab)
    psql = "sudo -u postgres psql -v ON_ERROR_STOP=1 -h /run/postgresql -Atc"
    # Every page of the accounts changed while the standby is away: the page
    # copy's batches carry them all (the rows compared below).  Autovacuum off
    # for it: vacuuming them during the copy would log each page whole after
    # the backup's start, and replay would mend a page the copy missed.
    lab.sh("master", f"{psql} 'alter table pgbench_accounts set (autovacuum_enabled = off)'")
    lab.sh("master", f"{psql} 'update pgbench_accounts set abalance = abalance + aid % 7 "
                     f"where aid % 3 = 0'")
    lab.sh("master", f"{psql} 'create database filecopied strategy file_copy'")
    lab.sh("master", f"{psql} 'create table t as select generate_series(1, 1000) n' filecopied")
    join = writing(lab, 20)
    result = lab.fab("full")
    out = join()
    assert result.returncode == 0, result.stdout + result.stderr
    assert re.search(r"standby: the primary's WAL summaries since its last restartpoint "
                     r"\([0-9A-F]+/[0-9A-F]+\) name \d+ changed relation files: the others are "
                     r"not read", result.stdout), result.stdout
    # 17: the changed pages of the files the summaries name copied alone, in
    # more than one batch (pages.batches: the pipeline ran)
    assert re.search(r"standby: copied the changed pages of \d+ relation files alone: "
                     r"[\d.]+ MB in \d+ ranges, [\d.]+ MB sent in [2-9] batches", result.stdout), \
        result.stdout
    assert "standby: online delta copy, primary running: holds an earlier copy of this " \
           "primary; slot standby lost the WAL it needs: only what differs is sent" in result.stdout
    assert "(online: what changed, --checksum)" in result.stdout
    # The backup's WAL went with the files (its switched segment not streamed whole).
    assert re.search(r"standby: sent the backup's WAL with the files \(\d+ segments? from "
                     r"[0-9A-F]{24}\)", result.stdout), result.stdout
    assert re.search(r"standby: about \d+ MB of \d+ MB to send \(the WAL written since its "
                     r"copy", result.stdout), result.stdout
    size = lab.query("master", "select sum(pg_database_size(oid))::bigint from pg_database")[0][0]
    assert copied_mb(result.stdout) < size / 1e6 / 2, result.stdout
    assert lab.query("master", "select pg_postmaster_start_time()") == started
    assert out.returncode == 0 and "number of failed transactions: 0" in out.stdout, out.stdout
    assert same_rows(lab)
    assert lab.sh("standby", f"{psql} 'select sum(n) from t' filecopied").strip() == "500500"


@pytest.mark.parametrize("lab", [DELTA_CASE["cut copy"]], indirect=True)
def test_a_cut_copy_resumes_where_it_stopped(lab):
    """A new server's copy cut midway twice, each next full taking up what
    arrived: full's own pg_basebackup (killed: what it wrote stays beside the
    data directory), then the online copy that takes it up (its rsync
    killed: nothing boots, what arrived stays, the file in progress part
    updated in place); the last full sends the rest."""
    lab.reinit("standby")
    data = f"/var/lib/postgresql/{lab.pg}/main"
    incoming = f"{data}.pg-hotstandby-incoming-*"

    # pg_basebackup once 24 MB arrived besides its first WAL segment (16 MB).
    lab.cut_basebackup(incoming, 40, "8M")
    mb = lab.APPARENT_MB
    left = int(lab.sh("standby", f"{mb} -c {incoming} | tail -1 | cut -f1"))
    assert left < 120, left   # the copy was cut, not finished
    started = lab.query("master", "select pg_postmaster_start_time()")   # configured now
    # The copy that takes it up, cut once 16 MB more arrived.
    watcher = lab.cut_when(f"[ -f {data}/.pg-hotstandby-copying ] && "
                           f"[ $({mb} {data} | cut -f1) -gt {left + 16} ]", "master", "rsync")
    cut = lab.fab("full", "--compress", "none", "--max-rate", "8M")
    watcher.join()
    out = cut.stdout
    assert cut.returncode == 1 and "COPY FAILED" in out, out + cut.stderr
    assert "standby: online delta copy, primary running: a copy by pg_basebackup was cut " \
           "short" in out, out
    assert "took up what a cut pg_basebackup copied" in out and "moved its own cluster" in out
    assert lab.sh("standby", f"ls -d {incoming} 2>/dev/null; true") == ""
    arrived = lab.sh("standby", f"{mb} {data} | cut -f1")
    assert int(arrived) > left + 16, (left, arrived)
    early = lab.fab("start-standby-then-master")   # no marker, no pg_control yet
    assert early.returncode == 1 and "standby has no standby marker" in early.stderr
    resumed = lab.fab("full", "--compress", "none")
    assert resumed.returncode == 0, resumed.stdout + resumed.stderr
    assert "its copy was cut short: only what differs is sent" in resumed.stdout
    assert "MB to send (what has not arrived" in resumed.stdout
    size = lab.query("master", "select sum(pg_database_size(oid))::bigint from pg_database")[0][0]
    print(f"cut copy: {size / 1e6:.0f} MB, {left} MB left by pg_basebackup, {int(arrived)} MB "
          f"arrived, resume {copied_mb(resumed.stdout)} MB")
    assert copied_mb(resumed.stdout) < size / 1e6 - int(arrived) / 2, resumed.stdout
    assert lab.query("master", "select pg_postmaster_start_time()") == started
    assert same_rows(lab)


def test_plan_then_rerun_changes_nothing(lab):
    planned = lab.fab("plan", "--method", "rsync")
    assert planned.returncode == 0 and "plan: no changes" in planned.stdout, planned.stdout
    again = lab.fab("full", "--method", "basebackup")
    assert again.returncode == 0 and "nothing changed" in again.stdout, again.stdout
