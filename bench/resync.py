"""A standby brought back after its slot lost its WAL (#22), beside a fresh
copy of the same data, in one run (`inv bench --resync`).

The pair is made by `fab full` (which configures the primary: no later row
needs a restart).  The standby is stopped; on the primary 5% of the main
table's rows are updated in one range and 5% appended (bench/dataset.py),
and WAL is written past max_slot_wal_keep_size until the standby's slot is
`lost`.  Both hosts are saved so, and every row starts from that state:

- the fresh copy (the baseline): `fab full --method basebackup`;
- `fab full` with its defaults: what auto picks (the online delta copy);
- on 17 and later, the same with the primary's WAL summaries off
  (`summarize_wal`, by ALTER SYSTEM): every file compared, as before 17;
- a copy cut at half, then resumed: the standby emptied (a fresh cluster,
  as a new server), `fab full --method rsync` killed once the primary has
  sent half the fresh copy's bytes, then `fab full`, measured;
- the same with `fab full`'s default copy (pg_basebackup for a new server),
  which the next `fab full` takes up.

Measured around each: bytes out of the primary's network interface, the
time until the standby streams, a client committing every 10 ms all along
(longest gap, failed commits), the primary's postmaster start time.
"""
import argparse
import shlex
import sys
import threading
import time
from pathlib import Path

from . import dataset, net, report, stats
from .benchlab import REPO, BenchLab, Probe, StreamWatch, log
from .methods import MethodFailed, fab, fab_result, last_line, wait_streaming
from .report import (RESYNC_DELTA, RESYNC_DELTA_UNSUMMARIZED, RESYNC_FRESH, RESYNC_RESUMED,
                     RESYNC_RESUMED_DEFAULT)
from .run import machine, size_label

RESULTS = Path(__file__).resolve().parent / "results" / "resync"
HOSTS = ("master", "standby")
PROJECT = "pg-hotstandby-resbench"    # a lab of its own, beside any other bench lab
LOST = "/var/tmp/bench-lost.tar"       # both hosts: the slot lost, the standby stopped
SLOT_CAP = "64MB"
SHARE = 0.05
CUT_AT = 0.5
# Each row: the command measured, and the command cut before it (None: no cut).
ROWS = {RESYNC_FRESH: (["--method", "basebackup"], None),
        RESYNC_DELTA: ([], None),
        RESYNC_DELTA_UNSUMMARIZED: ([], None),
        RESYNC_RESUMED: ([], ["--method", "rsync"]),
        RESYNC_RESUMED_DEFAULT: ([], [])}


def postmaster_start(lab):
    return lab.psql("master", "SELECT pg_postmaster_start_time()").strip()


def slot_status(lab):
    return lab.psql("master", "SELECT wal_status FROM pg_replication_slots "
                              "WHERE slot_name = 'standby'").strip() or None


def lose_the_slot(lab, args):
    """The standby stopped; the primary's data changed (dataset.change_command)
    and WAL written until the standby's slot is lost (the primary's
    max_slot_wal_keep_size small).  Returns the MB of WAL written since the
    standby stopped."""
    lab.root("standby", f"pg_ctlcluster {lab.pg} main stop -m fast")
    stopped_at = current_lsn(lab)
    lab.postgres("master", dataset.change_command(args.dataset, args.scale, SHARE))
    for _ in range(40):
        lab.psql("master", "CHECKPOINT")
        if slot_status(lab) == "lost":
            break
        # WAL that leaves no data behind: nothing more for a copy to send.
        lab.psql("master", "CREATE TABLE bench_wal AS SELECT repeat('x', 1000) AS x "
                           "FROM generate_series(1, 30000); DROP TABLE bench_wal; "
                           "SELECT pg_switch_wal()")
    else:
        raise MethodFailed(f"slot standby still {slot_status(lab)} after writing WAL")
    return round(float(lab.psql("master", f"SELECT pg_wal_lsn_diff(pg_current_wal_lsn(), "
                                          f"'{stopped_at}')")) / 1e6)


class Cutter(threading.Thread):
    """Kills the copying programs on both hosts once the primary has sent
    `limit` bytes more than when it started."""

    def __init__(self, lab, limit):
        super().__init__(daemon=True)
        self.lab, self.limit = lab, limit
        self.start_bytes = lab.link_bytes(["master"], "tx")
        self.cut_at, self.stopping = None, threading.Event()

    def run(self):
        while not self.stopping.is_set():
            if self.lab.link_bytes(["master"], "tx") - self.start_bytes >= self.limit:
                self.cut_at = time.monotonic()
                self.lab.parallel(list(HOSTS), lambda host: self.lab.root(
                    host, "pkill -x rsync; pkill -x pg_basebackup; true"))
                return
            self.stopping.wait(0.1)

    def stop(self):
        self.stopping.set()
        self.join(10)


def cut_copy(lab, args, limit):
    """Empty the standby (a fresh cluster from initdb, as a new server), run
    `fab full ARGS` and kill its copy at `limit` bytes; what that run sent."""
    data = lab.data
    lab.root("standby", f"pg_ctlcluster {lab.pg} main stop -m fast >/dev/null 2>&1; "
                        f"rm -rf {data} && runuser -u postgres -- "
                        f"/usr/lib/postgresql/{lab.pg}/bin/initdb --no-sync -D {data} >/dev/null")
    cutter = Cutter(lab, limit)
    started = time.monotonic()
    cutter.start()
    done = fab_result(lab, list(HOSTS), "full", *args)
    cutter.stop()
    sent = lab.link_bytes(["master"], "tx") - cutter.start_bytes
    if cutter.cut_at is None:
        raise MethodFailed(f"the copy to cut ended before {limit / 1e6:.0f} MB "
                           f"(exit {done.returncode})")
    return {"bytes": sent, "time": time.monotonic() - started, "code": done.returncode,
            "how": "fab " + shlex.join(["full", *args]) + ": rsync and pg_basebackup killed "
                   f"after {(cutter.cut_at - started):.1f} s",
            "output": done.stdout}


def measure(lab, args, stream_timeout=300):
    """`fab full ARGS` from the state the row prepared, the client writing all
    along; the clock until the standby streams."""
    probe = Probe(lab.local_port)
    watch = StreamWatch(lab.local_port, 1)
    sent = lab.link_bytes(["master"], "tx")
    lsn = current_lsn(lab)
    probe.start()
    time.sleep(0.5)     # the client commits steadily before the clock starts
    start = time.monotonic()
    watch.start()
    rep = {}
    try:
        done = fab_result(lab, list(HOSTS), "full", *args)
        finished = time.monotonic()
        rep["output"] = done.stdout
        rep.update(report.parse_copy(done.stdout))
        rep["steps"] = report.parse_fab_summary(done.stdout)["steps"]
        if done.returncode != 0:
            raise MethodFailed(f"fab exit {done.returncode}: " + last_line(done.stdout))
        watch.join(stream_timeout)
        if watch.streaming_at is None:
            raise MethodFailed(f"no standby streaming {stream_timeout} s after the run")
        end = max(finished, watch.streaming_at)
        rep["time"], rep["command_time"] = watch.streaming_at - start, finished - start
    except Exception as exc:    # a failed row is the row's note
        end = time.monotonic()
        rep["error"] = str(exc).strip().splitlines()[-1][:300] if str(exc).strip() else repr(exc)
    finally:
        watch.stop()
        time.sleep(0.2)
        probe.stop()
    rep["gap"], rep["failed"] = stats.write_gaps(probe.successes, probe.failures, start, end)
    rep["primary_bytes"] = lab.link_bytes(["master"], "tx") - sent
    rep["wal_bytes"] = float(lab.psql("master", f"SELECT pg_wal_lsn_diff(pg_current_wal_lsn(), "
                                                f"'{lsn}')"))
    return rep


def current_lsn(lab):
    return lab.psql("master", "SELECT pg_current_wal_lsn()").strip()


def background_rate(lab, seconds=5):
    """kB/s out of the primary with only the writing client at work."""
    probe = Probe(lab.local_port)
    probe.start()
    time.sleep(0.5)
    before = lab.link_bytes(["master"], "tx")
    time.sleep(seconds)
    rate = (lab.link_bytes(["master"], "tx") - before) / seconds / 1e3
    probe.stop()
    return round(rate, 1)


def run_row(lab, name, baseline_bytes):
    """One run of a row from the saved state; the cut first where it has one."""
    lab.parallel(list(HOSTS), lambda h: lab.restore(h, LOST, start=h == "master"))
    lab.wait_ready(60, hosts=["master"])
    args, cut_args = ROWS[name]
    if name == RESYNC_DELTA_UNSUMMARIZED:   # over configure-master's conf.d file
        lab.psql("master", "ALTER SYSTEM SET summarize_wal = off")
        lab.psql("master", "SELECT pg_reload_conf()")
    before = {"slot": slot_status(lab), "postmaster": postmaster_start(lab)}
    cut = None
    if cut_args is not None:
        if not baseline_bytes:
            return {"error": "no fresh copy measured: nothing to cut at half of"}
        try:
            cut = cut_copy(lab, cut_args, CUT_AT * baseline_bytes)
        except Exception as exc:
            return {"error": f"the cut: {str(exc).strip().splitlines()[-1][:300]}"}
    rep = measure(lab, args)
    rep["slot_before"], rep["cut"] = before["slot"], cut
    rep["restarted"] = postmaster_start(lab) != before["postmaster"]
    return rep


def main(argv=None):
    parser = argparse.ArgumentParser(prog="python -m bench.resync", description=__doc__)
    parser.add_argument("--scales", dest="scale", type=int, default=70,
                        help="the dataset's scale, one (default 70: a data directory of about "
                             "1.1 GB without WAL)")
    parser.add_argument("--dataset", choices=dataset.DATASETS, default="realistic",
                        help="realistic (default) or pgbench (bench/dataset.py)")
    parser.add_argument("--reps", type=int, default=1, help="runs of each row (default 1)")
    parser.add_argument("--bandwidth", default="1gbit",
                        help="the link limit between hosts (default 1gbit, as the copy "
                             "benchmark's main link; unlimited for none)")
    parser.add_argument("--pg", type=int, default=15, help="PostgreSQL major (default 15)")
    parser.add_argument("--out", help=f"results folder (default {RESULTS.relative_to(REPO)})")
    parser.add_argument("--keep", action="store_true", help="leave the bench lab running")
    args = parser.parse_args(argv)
    out = Path(args.out) if args.out else RESULTS
    bits = net.parse_rate(args.bandwidth)
    started = time.monotonic()
    lab = BenchLab(pg=args.pg, standbys=1, project=PROJECT)
    results = [{"method": name, "reps": []} for name in ROWS
               if name != RESYNC_DELTA_UNSUMMARIZED or args.pg >= 17]
    meta = {"pg": args.pg, "dataset": args.dataset, "scale": args.scale, "reps": args.reps,
            "bandwidth": net.label(bits), "slot_cap": SLOT_CAP,
            "changed": f"{SHARE:.0%} of the main table's rows updated in one range and "
                       f"{SHARE:.0%} appended"}
    try:
        lab.down()      # a lab left over from an interrupted run
        lab.up(log=log)
        lab.prepare()
        lab.open_tunnel()
        lab.set_link(bits)
        meta["link_rate"] = round(lab.link_check())
        meta["data"] = size_label(lab.load(args.scale, args.dataset))
        log(f"== {args.dataset} at scale {args.scale}: primary data directory {meta['data']}; "
            f"link {meta['bandwidth']}, SSH {meta['link_rate']} MB/s ==")
        keep_file = lab.lab_dir / "slot-cap.yaml"
        keep_file.write_text(f"hotstandby:\n  max_slot_wal_keep_size: {SLOT_CAP}\n")
        try:
            fab(lab, list(HOSTS), "full")
        except MethodFailed as exc:
            # Seen at 100mbit: the smoke test ran while the new standby was
            # still catching up.  Said in the results; the pair is made once
            # it streams.
            meta["setup_note"] = f"the first full failed ({exc}); the standby streamed later"
            log(f"  {meta['setup_note']}")
        wait_streaming(lab, "master", 300)
        # The cap only now: WAL written during a long first copy must not cost
        # the new standby its slot (at 100mbit it did: "the primary recycled
        # WAL the standby still needs").
        fab(lab, list(HOSTS), "configure-master", config=keep_file)
        meta["wal_since_mb"] = lose_the_slot(lab, args)
        meta["data_after"] = lab.root("master", f"du -sm {lab.data} | cut -f1").strip() + " MB"
        log(f"  standby stopped, {meta['changed']}, {meta['wal_since_mb']} MB of WAL since: "
            f"slot {slot_status(lab)}")
        meta["background_kb_s"] = background_rate(lab)
        lab.parallel(list(HOSTS), lambda h: lab.snapshot(h, LOST, start=False))
        for rep in range(args.reps):
            for row in results:
                base = report.resync_baseline(results)
                r = run_row(lab, row["method"], report.median(base, "primary_bytes"))
                row["reps"].append(r)
                log(f"  {row['method']} (run {rep + 1}): "
                    + (f"FAILED {r['error']}; " if r.get("error") else
                       f"streaming after {r['time']:.1f} s, ")
                    + (f"sent {r['primary_bytes'] / 1e6:.0f} MB, longest write gap "
                       f"{r['gap']:.2f} s, {r['failed']} failed commits, primary "
                       f"{'RESTARTED' if r['restarted'] else 'not restarted'}; "
                       f"{r.get('way')}" if "primary_bytes" in r else ""))
    finally:
        lab.close_tunnel()
        if not args.keep:
            lab.down()
        meta.update({"command": shlex.join(["inv", "bench", "--resync", *argv]) if argv
                     is not None else shlex.join(["python3", "-m", "bench.resync",
                                                  *sys.argv[1:]]),
                     "machine": machine(), "wall_time": time.monotonic() - started})
        for key in ("link_rate", "data", "wal_since_mb", "background_kb_s"):
            meta.setdefault(key, "?")
        text = report.write_resync(results, out, meta)
        print("\n" + text)
        log(f"results: {out}/results.md, results.json; wall time {meta['wall_time']:.0f} s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
