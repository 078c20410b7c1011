"""The order of runs, the measurement around each, and the outputs.

`python -m bench --help` (or `inv bench`).  Each run starts from stock servers
(benchlab.BenchLab.reset); repetitions are interleaved (rep 1 of every method,
then rep 2...) so a slow spell of this shared machine hits all methods alike.
"""
import argparse
import datetime
import json
import os
import platform
import shlex
import subprocess
import sys
import time
import traceback
from pathlib import Path

from fabfile.settings import setting

from . import net, report, stats
from .benchlab import BENCH_DIR, BenchLab, Probe, RateWatch, StreamWatch, log
from .dataset import DATASETS
from .methods import (COPY_METHODS, METHODS, NO_STREAMING, OPTION_ROWS, SETUP, MethodFailed,
                      fab_name)
from .report import BASEBACKUP, FAN_OUT_OFF, GUIDE, RAW

RESULTS = BENCH_DIR / "results"
QUICK_RESULTS = RESULTS / "tmp"      # git-ignored: quick runs are not the record
# Each dataset's record: pgbench's in results/, the realistic one beside it.
DATASET_RESULTS = {"pgbench": RESULTS, "realistic": RESULTS / "realistic"}
# full's default method, as the product's defaults say.
FAB_METHODS = tuple(COPY_METHODS)
DEFAULT_METHOD = fab_name(setting("method").default)
SCALE_MB = 15   # pgbench data per scale unit, with indexes: for labels only


def size_label(mb):
    return f"{mb / 1000:.1f} GB" if mb >= 1000 else f"{mb} MB"


def measure(lab, method, standbys, stream_timeout=300):
    """One run from stock servers: the method's wall time until `standbys`
    stream, the probe's longest gap and failures over the whole run, bytes
    received by the standbys."""
    lab.parallel(["master", *standbys], lab.reset)
    lab.wait_ready(60, hosts=["master", *standbys])
    if method in SETUP:
        try:
            SETUP[method](lab, standbys)
        except MethodFailed as exc:
            return {"error": f"setup: {exc}"}
    before, sent_before = lab.link_bytes(standbys), lab.link_bytes(["master"], "tx")
    probe = Probe(lab.local_port)
    watch = StreamWatch(lab.local_port, len(standbys))
    # Sampling costs a docker exec per half second: only where a cap is measured.
    rates = RateWatch(lab, standbys) if report.rate_cap(method) else None
    probe.start()
    if rates:
        rates.start()
    time.sleep(0.5)     # the probe commits steadily before the clock starts
    start = time.monotonic()
    if method not in NO_STREAMING:
        watch.start()
    rep = {}
    try:
        rep.update(METHODS[method](lab, standbys) or {})
        done = time.monotonic()
        if method in NO_STREAMING:
            streaming = done
        else:
            watch.join(stream_timeout)
            streaming = watch.streaming_at
            if streaming is None:
                raise MethodFailed(f"no standby streaming {stream_timeout} s after the run")
        end = max(done, streaming)
        rep["time"] = streaming - start
        rep["command_time"] = done - start
    except Exception as exc:    # a failed run is a row's note, not the end of the benchmark
        end = time.monotonic()
        rep["error"] = str(exc).strip().splitlines()[-1][:300] if str(exc).strip() else repr(exc)
        if not isinstance(exc, (MethodFailed,)):
            traceback.print_exc()
    finally:
        watch.stop()
        time.sleep(0.2)
        probe.stop()
        if rates:
            rates.stop()
            rep["copy_rate"] = stats.busy_rate(rates.samples)
    rep["gap"], rep["failed"] = stats.write_gaps(probe.successes, probe.failures, start, end)
    rep["bytes"] = lab.link_bytes(standbys) - before
    rep["primary_bytes"] = lab.link_bytes(["master"], "tx") - sent_before
    return rep


def machine():
    def out(cmd):
        try:
            return subprocess.run(cmd, capture_output=True, text=True, shell=True).stdout.strip()
        except OSError:
            return "?"
    return {
        "date": datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%d %H:%M UTC"),
        "host": platform.node(),
        "kernel": platform.release(),
        "cpu": out("grep -m1 'model name' /proc/cpuinfo | cut -d: -f2"),
        "cores": os.cpu_count(),
        "memory": out("free -g | awk '/Mem:/ {print $2 \" GB\"}'"),
        "docker": out("docker version --format '{{.Server.Version}}'"),
        "storage": out("docker info --format '{{.Driver}}'"),
    }


def details(results):
    """The issue's targets, met or missed by how much, and where the time goes."""
    text = ("Targets of issues #7 and #15 (reported, not enforced):\n\n"
            + "\n".join(report.targets(results, DEFAULT_METHOD)))
    steps = report.where_time_goes(results)
    if steps:
        text += "\n\nWhere the time goes (median seconds per step):\n\n" + "\n".join(steps)
    return text


def dataset_line(meta):
    ratios = "; ".join(
        f"{size}: " + ", ".join(f"{program} {ratio}x" if ratio else f"{program} not measured"
                                for program, ratio in found.items())
        for size, found in meta.get("ratios", {}).items())
    return (f"Dataset: {meta.get('dataset', 'pgbench')} (bench/dataset.py); its data directory "
            f"without WAL compresses (measured on this machine) {ratios or 'unmeasured'}.\n\n")


def write_outputs(results, folder, meta):
    folder.mkdir(parents=True, exist_ok=True)
    table = report.markdown(results)
    m = meta["machine"]
    header = (f"# pg-hotstandby benchmark\n\n"
              f"Command: `{meta['command']}`  \n"
              f"Ran {m['date']} on {m['host']}: {m['cpu']}, {m['cores']} cores, {m['memory']}, "
              f"kernel {m['kernel']}, Docker {m['docker']} ({m['storage']}); "
              f"PostgreSQL {meta['pg']} (Debian packages) in the lab's containers; "
              f"link limit {', '.join(meta['bandwidths'])} (tc tbf on each host's eth0; SSH "
              f"measured " + ", ".join(f"{k}: {v} MB/s" for k, v in meta["link_rates"].items())
              + "); "
              f"{meta['reps']} repetition(s) of the main rows (largest size, first link, one "
              f"standby), {meta['other_reps']} of the others; wall time {meta['wall_time']:.0f} s.\n\n"
              f"Figures are medians [min–max]. \"until streaming\": from the first command "
              f"until the primary lists the standby(s) as streaming. \"longest write gap\": "
              f"longest time between two successful commits of a probe committing every 10 ms "
              f"to the primary. Baselines (guide by hand, raw copy, bare pg_basebackup) are "
              f"from the same data size and link in this run. The machine is shared and noisy: "
              f"compare rows of one run, not runs.\n\n" + dataset_line(meta))
    (folder / "results.md").write_text(header + table + "\n\n" + details(results) + "\n")
    (folder / "results.json").write_text(json.dumps({"meta": meta, "results": results},
                                                    indent=1))
    try:
        report.chart(results, folder / "results.png")
    except ImportError:
        log("no chart: matplotlib is not installed (pip install -r requirements.txt)")
    return table


def main(argv=None):
    parser = argparse.ArgumentParser(prog="python -m bench", description=__doc__)
    parser.add_argument("--quick", action="store_true",
                        help="about 100 MB, one repetition, results in bench/results/tmp")
    parser.add_argument("--scales", help="pgbench scales, comma-separated (70 ≈ 1 GB); "
                                         "default 7,70, quick 7")
    parser.add_argument("--reps", type=int,
                        help="repetitions of the main rows: every method at the largest "
                             "size on the first link (default 3, quick 1)")
    parser.add_argument("--other-reps", type=int, default=1,
                        help="repetitions of the other rows: smaller sizes, further links, "
                             "more standbys (default 1)")
    parser.add_argument("--bandwidth", default="1gbit,unlimited",
                        help="link limits, comma-separated; the first is the main one, the "
                             "others run at the largest size only (default 1gbit,unlimited)")
    parser.add_argument("--other-methods",
                        help="the rows at smaller sizes and further links (default: the "
                             "guide, each fab method and the raw copy)")
    parser.add_argument("--standbys", default="1,3",
                        help="standby counts for the scaling rows, at the largest size on "
                             "the main link (default 1,3)")
    parser.add_argument("--scaling", help="the rows run with more standbys, comma-separated "
                                          f"(default: {DEFAULT_METHOD}, fab full{FAN_OUT_OFF})")
    parser.add_argument("--methods", help="the main rows, comma-separated names "
                                          f"(default all: {', '.join(METHODS)})")
    parser.add_argument("--dataset", choices=DATASETS, default="pgbench",
                        help="pgbench's tables, or realistic ones (hashes, random numbers, "
                             "JSON-like text: about 2-3x with zstd); default pgbench")
    parser.add_argument("--pg", type=int, default=15, help="PostgreSQL major (default 15)")
    parser.add_argument("--out", help="results folder (default bench/results, quick: "
                                      "bench/results/tmp)")
    parser.add_argument("--keep", action="store_true", help="leave the bench lab running")
    args = parser.parse_args(argv)

    scales = [int(s) for s in (args.scales or ("7" if args.quick else "7,70")).split(",")]
    reps = args.reps or (1 if args.quick else 3)
    links = [net.parse_rate(b) for b in args.bandwidth.split(",")]
    counts = sorted({int(n) for n in args.standbys.split(",")} | {1})
    methods = args.methods.split(",") if args.methods else list(METHODS)
    scaling = args.scaling.split(",") if args.scaling else [DEFAULT_METHOD,
                                                             "fab full" + FAN_OUT_OFF]
    unknown = [m for m in methods + scaling if m not in METHODS]
    if unknown:
        parser.error(f"unknown methods {unknown}; known: {list(METHODS)}")
    others = (args.other_methods.split(",") if args.other_methods else
              [m for m in dict.fromkeys((GUIDE, DEFAULT_METHOD, *map(fab_name, FAB_METHODS),
                                         *OPTION_ROWS, BASEBACKUP, RAW))
               if m in methods and not m.endswith(FAN_OUT_OFF)])
    out = Path(args.out) if args.out else (QUICK_RESULTS if args.quick else
                                           DATASET_RESULTS[args.dataset])

    started = time.monotonic()
    lab = BenchLab(pg=args.pg, standbys=max(counts))
    results, link_rates, ratios = [], {}, {}
    try:
        lab.down()      # a bench lab left over from an interrupted run
        lab.up(log=log)
        lab.prepare()
        lab.open_tunnel()
        for scale in scales:
            mb = lab.load(scale, args.dataset)
            ratios[size_label(mb)] = lab.compression_ratios()
            log(f"== {args.dataset} at scale {scale}: primary data directory {size_label(mb)}; "
                f"compresses " + ", ".join(f"{p} {r}x" for p, r in
                                           ratios[size_label(mb)].items()) + " ==")
            largest = scale == max(scales)
            for index, bits in enumerate(links):
                # The link comparison is made once, at the largest size.
                if index > 0 and not largest:
                    continue
                main = index == 0 and largest
                lab.set_link(bits)
                rate = lab.link_check()
                link_rates[net.label(bits)] = round(rate)
                log(f"-- link {net.label(bits)}: SSH moves {rate:.0f} MB/s primary -> standby --")
                # Fan-out off is the default with one standby: scaling rows only.
                runs = [(m, 1) for m in (methods if main else others)
                        if not m.endswith(FAN_OUT_OFF)]
                if main:
                    # Scaling with standby count: the default method (fan-out),
                    # and each standby copied from the primary.
                    runs += [(m, n) for n in counts if n > 1 for m in scaling if m in methods]
                rows = {}
                for rep in range(max(reps, args.other_reps) if main else args.other_reps):
                    for method, n in runs:
                        if rep >= (reps if main and n == 1 else args.other_reps):
                            continue
                        if (method, n) not in rows:
                            rows[method, n] = {
                                "method": method, "standbys": n, "scale": scale, "mb": mb,
                                "size_label": size_label(mb), "bandwidth": net.label(bits),
                                "reps": []}
                            results.append(rows[method, n])
                        row = rows[method, n]
                        if method == "repmgr standby clone" and lab.repmgr:
                            row["skipped"] = lab.repmgr
                            continue
                        standbys = lab.hosts[1:n + 1]
                        r = measure(lab, method, standbys)
                        row["reps"].append(r)
                        log(f"  {method} ({n} standby{'s' if n > 1 else ''}, {net.label(bits)}, "
                            f"rep {rep + 1}): " + (f"FAILED {r['error']}" if r.get("error") else
                            f"{'copied in' if method in NO_STREAMING else 'streaming after'} "
                            f"{r['time']:.1f} s, longest write gap "
                            f"{r['gap']:.2f} s, {r['failed']} failed commits, "
                            f"{r['bytes'] / 1e6:.0f} MB"))
    finally:
        # Whatever was measured is written, even when a run broke the lab.
        lab.close_tunnel()
        if not args.keep:
            lab.down()
        report_run(results, out, args, argv, links, reps, link_rates, ratios, started)
    return 0


def report_run(results, out, args, argv, links, reps, link_rates, ratios, started):
    meta = {"command": shlex.join(["inv", "bench", *argv]) if argv is not None
            else shlex.join(["python3", "-m", "bench", *sys.argv[1:]]),
            "machine": machine(), "pg": args.pg, "bandwidths": [net.label(b) for b in links],
            "dataset": args.dataset, "ratios": ratios,
            "reps": reps, "other_reps": args.other_reps, "link_rates": link_rates,
            "wall_time": time.monotonic() - started}
    table = write_outputs(results, out, meta)
    print("\n" + dataset_line(meta) + table + "\n\n" + details(results) + "\n")
    log(f"results: {out}/results.md, results.png, results.json; "
        f"wall time {meta['wall_time']:.0f} s")


if __name__ == "__main__":
    sys.exit(main())
