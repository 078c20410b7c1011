"""Switchover side by side (#25): `fab switchover` there and back, today's
bad-day way (stop the primary, `fab promote`, `fab rejoin`) and repmgr's
`standby switchover`, one after another on the same two hosts
(`inv bench --switchover`).

The hosts run PostgreSQL from its systemd unit (switchover stops and starts
units).  A client writes all along, given both hosts as an application is
(libpq's target_session_attrs=read-write): each commit a number of its own,
the acknowledged ones in a ledger that is checked on the new primary
afterwards.  The rows chain, each from the roles the previous one left:
nothing is reset between them, as on servers.
"""
import argparse
import shlex
import sys
import time
from pathlib import Path

from . import report, stats
from .benchlab import REPO, BenchLab, Probe, StreamWatch, connect, log
from .methods import PASSWORD, MethodFailed, fab, last_line, wait_streaming
from .run import machine, size_label

RESULTS = Path(__file__).resolve().parent / "results" / "switchover"
HOSTS = ("master", "standby")
SWITCHOVER, BACK, REJOIN, REPMGR = ("fab switchover", "fab switchover back",
                                    "fab promote + rejoin", "repmgr standby switchover")


def unit(lab):
    return f"postgresql@{lab.pg}-main"


def fab_switchover(lab, old, new):
    out = fab(lab, [old, new], "switchover")
    found = report.parse_switchover(out)
    return {"fab_outage": found["outage"], "steps": found["steps"], "proof": found["proof"],
            "output": out}


def promote_rejoin(lab, old, new):
    """The issue's today: the primary stopped by hand, the standby promoted,
    the old primary brought back with rejoin (a kept copy, pg_rewind)."""
    lab.user(old, f"systemctl stop {unit(lab)}")
    out = fab(lab, [old, new], "promote") + fab(lab, [new, old], "rejoin")
    return {"steps": report.parse_fab_summary(out)["steps"], "output": out}


def repmgr_setup(lab, old, new):
    """repmgr as its documentation sets it up, on the pair as it runs (not
    timed): the library preloaded (a restart of each), a repmgr superuser
    and database, /etc/repmgr.conf with the package's unit as service
    commands (sudo for postgres to run them), passwordless SSH between the
    nodes' postgres users, both nodes registered; then a dry run."""
    v, conf = lab.pg, lab.conf
    sudo = ", ".join(f"/usr/bin/systemctl {a} {unit(lab)}"
                     for a in ("start", "stop", "restart", "reload"))
    for n, host in enumerate((old, new), 1):
        lab.root(host, f"echo \"shared_preload_libraries = 'repmgr'\" > {conf}/conf.d/repmgr.conf"
                       f" && printf 'host repmgr repmgr samenet scram-sha-256\\nhost replication "
                       f"repmgr samenet scram-sha-256\\n' >> {conf}/pg_hba.conf && "
                       f"echo 'postgres ALL=(root) NOPASSWD: {sudo}' > /etc/sudoers.d/repmgr && "
                       f"chmod 440 /etc/sudoers.d/repmgr")
        lab.root(host, "printf '%s\\n' " + " ".join(shlex.quote(line) for line in (
            f"node_id={n}", f"node_name='{host}'",
            f"conninfo='host={host} user=repmgr dbname=repmgr connect_timeout=2'",
            f"data_directory='{lab.data}'", f"pg_bindir='/usr/lib/postgresql/{v}/bin'",
            "use_replication_slots=yes",
            *(f"service_{a}_command='sudo /usr/bin/systemctl {a} {unit(lab)}'"
              for a in ("start", "stop", "restart", "reload")))) + " > /etc/repmgr.conf")
        lab.postgres(host, f"umask 077 && echo '*:*:*:repmgr:{PASSWORD}' > ~/.pgpass && "
                           "mkdir -p ~/.ssh && (test -f ~/.ssh/id_ed25519 || "
                           "ssh-keygen -q -t ed25519 -N '' -f ~/.ssh/id_ed25519)")
    for host, other in ((old, new), (new, old)):
        key = lab.root(other, "cat ~postgres/.ssh/id_ed25519.pub").strip()
        lab.postgres(host, f"echo {shlex.quote(key)} >> ~/.ssh/authorized_keys && "
                           f"ssh-keyscan {other} 2>/dev/null >> ~/.ssh/known_hosts")
    # The primary first: the standby's restart then finds it.
    for host in (old, new):
        lab.root(host, f"systemctl restart {unit(lab)}")
    lab.wait_ready(60, hosts=[old, new])
    lab.psql(old, f"CREATE ROLE repmgr SUPERUSER REPLICATION LOGIN PASSWORD '{PASSWORD}'")
    lab.psql(old, "CREATE DATABASE repmgr OWNER repmgr")
    lab.postgres(old, "repmgr -f /etc/repmgr.conf primary register")
    wait_streaming(lab, old, 60)
    lab.postgres(new, "repmgr -f /etc/repmgr.conf standby register")
    for host, other in ((old, new), (new, old)):
        lab.postgres(host, f"ssh -o BatchMode=yes {other} true")
    dry = lab.postgres(new, "repmgr -f /etc/repmgr.conf standby switchover --dry-run 2>&1",
                       check=False)
    log("  repmgr standby switchover --dry-run:\n    " + dry.stdout.strip().replace("\n", "\n    "))
    if dry.returncode != 0:
        raise MethodFailed("repmgr standby switchover --dry-run: " + last_line(dry.stdout))


def repmgr_switchover(lab, old, new):
    done = lab.postgres(new, "repmgr -f /etc/repmgr.conf standby switchover 2>&1", check=False)
    if done.returncode != 0:
        log("  repmgr standby switchover:\n    " + done.stdout.strip().replace("\n", "\n    "))
        raise MethodFailed(f"repmgr exit {done.returncode}: " + last_line(done.stdout))
    return {"output": done.stdout}


ROWS = {SWITCHOVER: fab_switchover, BACK: fab_switchover, REJOIN: promote_rejoin,
        REPMGR: repmgr_switchover}
SETUP = {REPMGR: repmgr_setup}


def kept_bytes(lab):
    """Bytes in data directory copies kept beside the data directories
    (rejoin keeps one before pg_rewind), on every host."""
    total = 0
    for host in HOSTS:
        out = lab.root(host, f"du -sb {lab.data}.pg-hotstandby-* 2>/dev/null | cut -f1 || true")
        total += sum(int(n) for n in out.split())
    return total


def measure(lab, name, old, new, first, stream_timeout=120):
    """One row: the clock from the command's start until `new` is the primary
    and `old` streams from it; the writer all along, its numbers from `first`."""
    probe = Probe([lab.address(h) for h in HOSTS], ledger=first)
    watch = StreamWatch(lab.local_ports[new], 1)
    kept, moved = kept_bytes(lab), lab.link_bytes(HOSTS)
    probe.start()
    time.sleep(1)   # the writer commits steadily before the clock starts
    start = time.monotonic()
    watch.start()
    rep = {}
    try:
        rep.update(ROWS[name](lab, old, new) or {})
        done = time.monotonic()
        watch.join(stream_timeout)
        if watch.streaming_at is None:
            raise MethodFailed(f"{old} does not stream from {new} {stream_timeout} s after the "
                               "command")
        end = max(done, watch.streaming_at)
        rep["time"], rep["command_time"] = end - start, done - start
        time.sleep(1)   # the writer goes on against the new primary
    except Exception as exc:   # a failed row is the row's note
        end = time.monotonic()
        rep["error"] = str(exc).strip().splitlines()[-1][:400] if str(exc).strip() else repr(exc)
    finally:
        watch.stop()
        probe.stop()
    rep["gap"], rep["failed"] = stats.write_gaps(probe.successes, probe.failures, start, end)
    rep["acked"] = len(probe.acked)
    rep["errors"] = [(round(t - start, 3), kind) for t, kind in probe.errors]
    rep["lost"] = lost_on(lab, probe.acked)
    rep["kept_bytes"] = kept_bytes(lab) - kept
    rep["bytes"] = lab.link_bytes(HOSTS) - moved
    return rep


def lost_on(lab, acked):
    """Acknowledged numbers missing on whichever host takes writes now; None
    when none does."""
    try:
        db = connect([lab.address(h) for h in HOSTS], timeout=5)
    except Exception:
        return None
    with db, db.cursor() as cur:
        cur.execute("SELECT id FROM bench_ledger WHERE id = ANY(%s)", (acked,))
        found = [r[0] for r in cur.fetchall()]
    db.close()
    return stats.lost(acked, found)


def set_up(lab, scale):
    """The pair: data on master, the ledger's table, a standby made by fab;
    the writing client let in from this machine (as an application server)."""
    for host in HOSTS:
        lab.root(host, f"echo 'host postgres lab samenet scram-sha-256' >> {lab.conf}/pg_hba.conf"
                       f" && pg_ctlcluster {lab.pg} main reload")
    lab.psql("master", "CREATE TABLE bench_ledger (id bigint PRIMARY KEY, "
                       "at timestamptz NOT NULL DEFAULT now())")
    lab.psql("master", "GRANT ALL ON bench_ledger TO lab")
    lab.postgres("master", f"pgbench -i -q -s {int(scale)} postgres 2>&1 | tail -1")
    size = int(lab.root("master", f"du -sm {lab.data} | cut -f1").split()[0])
    fab(lab, list(HOSTS), "full")
    for host in HOSTS:
        lab.open_tunnel(host)
    wait_streaming(lab, "master", 60)
    return size


def main(argv=None):
    parser = argparse.ArgumentParser(prog="python -m bench.switchover", description=__doc__)
    parser.add_argument("--scales", dest="scale", type=int, default=5,
                        help="the pgbench scale of the primary's data, one (default 5: a data "
                             "directory of about 180 MB with its WAL): what a kept copy copies")
    parser.add_argument("--reps", type=int, default=3,
                        help="rounds of the fab rows (default 3); repmgr's row runs once, last")
    parser.add_argument("--pg", type=int, default=15, help="PostgreSQL major (default 15)")
    parser.add_argument("--out", help=f"results folder (default {RESULTS.relative_to(REPO)})")
    parser.add_argument("--keep", action="store_true", help="leave the bench lab running")
    args = parser.parse_args(argv)
    out = Path(args.out) if args.out else RESULTS
    started = time.monotonic()
    lab = BenchLab(pg=args.pg, standbys=1, init="systemd")
    results, mb = [], None
    try:
        lab.down()
        lab.up(log=log)
        mb = set_up(lab, args.scale)
        log(f"== switchover: master streams to standby, primary data directory "
            f"{size_label(mb)} ==")
        rows = {name: {"method": name, "reps": []} for name in ROWS}
        results = list(rows.values())
        roles = list(HOSTS)
        # Round after round of the fab rows, each from the roles the last
        # left; repmgr's row last and once: what it sets up stays.
        plan = [name for _ in range(args.reps) for name in ROWS if name != REPMGR] + [REPMGR]
        for number, name in enumerate(plan):
            old, new = roles
            row = rows[name]
            if name == REPMGR and lab.repmgr:
                row["skipped"] = lab.repmgr
                continue
            try:
                if name in SETUP:
                    SETUP[name](lab, old, new)
            except Exception as exc:
                row["reps"].append({"error": f"setup: {str(exc).strip().splitlines()[-1][:400]}"})
                log(f"  {name}: setup FAILED {row['reps'][-1]['error']}")
                continue
            r = measure(lab, name, old, new, first=number * 10**7)
            r["from"], r["to"] = old, new
            row["reps"].append(r)
            log(f"  {name} ({old} -> {new}): " + (f"FAILED {r['error']}; " if r.get("error")
                                                    else f"{r['time']:.1f} s, ")
                + f"longest write gap {r['gap']:.2f} s, {r['failed']} failed commits, "
                  f"{r['lost']} of {r['acked']} acknowledged lost, "
                  f"{r['kept_bytes'] / 1e6:.0f} MB kept copies, {r['bytes'] / 1e6:.1f} MB on "
                  f"the link")
            if r.get("error"):
                # The roles are unknown now: what ran is reported.
                for later in results:
                    if not later["reps"]:
                        later["skipped"] = f"not reached: {name} failed"
                break
            roles = [new, old]
    finally:
        lab.close_tunnel()
        if not args.keep:
            lab.down()
        meta = {"command": shlex.join(["inv", "bench", "--switchover",
                                       *(sys.argv[1:] if argv is None else argv)]),
                "machine": machine(), "pg": args.pg, "scale": args.scale,
                "data": size_label(mb) if mb else None, "reps": args.reps,
                "wall_time": time.monotonic() - started}
        table = report.write_switchover(results, out, meta)
        print("\n" + table)
        log(f"results: {out}/results.md, results.json; wall time {meta['wall_time']:.0f} s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
