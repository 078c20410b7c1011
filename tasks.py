"""Developer tasks (`./dev inv --list`): the Docker lab, the tests, the demo.

The product's own tasks are in fabfile/ and run with `fab`.  Python is called
as sys.executable, the one running inv (.venv's under ./dev): a system's
python3 may have no `python` beside it.
"""
import shlex
import sys
from pathlib import Path

from invoke import Collection, task

ROOT = Path(__file__).resolve().parent
PYTHON = shlex.quote(sys.executable)

sys.path.insert(0, str(ROOT / "docker"))
import lab as labkit  # noqa: E402


def _lab(c, pg=None, standbys=None, layout=None, shared_sysid=None, init=None):
    cfg = c.config.lab
    return labkit.Lab(pg=int(pg or cfg.pg), standbys=int(standbys or cfg.standbys),
                      layout=layout or cfg.layout, init=init or cfg.init,
                      shared_sysid=bool(shared_sysid or cfg.shared_sysid))


INIT_HELP = ("systemd (PID 1, PostgreSQL run by its unit, as on servers) or plain "
             "(no service manager)")


@task(help={"pg": "PostgreSQL major: 13, 15, 17 or 18",
            "layout": "debian (pg_ctlcluster, /etc/postgresql) or generic (RHEL-style: "
                      "configs in /var/lib/pgsql/V/data, unit postgresql-V)",
            "init": INIT_HELP})
def build(c, pg=None, layout=None, init=None):
    """Build the lab's host image (base image from Debian's mirror, cached)."""
    labkit.build(int(pg or c.config.lab.pg), layout or c.config.lab.layout,
                 init or c.config.lab.init)


@task(help={"pg": "PostgreSQL major: 13, 15, 17 or 18",
            "standbys": "number of standby hosts, 1 to 3",
            "layout": "debian or generic",
            "init": INIT_HELP,
            "shared_sysid": "give every host one system identifier, as hosts cloned from one VM image"})
def up(c, pg=None, standbys=None, layout=None, shared_sysid=False, init=None):
    """Start the lab (building what is missing) and write .lab/ssh_config."""
    lab = _lab(c, pg, standbys, layout, shared_sysid, init)
    lab.up()
    hosts = ",".join(lab.hosts)
    print(f"  ssh -F .lab/ssh_config master\n"
          f"  fab -S .lab/ssh_config -H {hosts} full")


@task
def down(c):
    """Remove the lab's hosts, network and volumes."""
    labkit.Lab().down()
    print("lab down")


@task(default=True, help={"k": "only tests matching this pytest -k expression"})
def test_all(c, k=None):
    """Run every test CI runs: unit tests, then the lab tests in Docker."""
    with c.cd(shlex.quote(str(ROOT))):
        c.run(f"{PYTHON} -m pytest -ra --durations=10 tests"
              + (f" -k {shlex.quote(k)}" if k else ""), pty=False)


@task
def unit(c):
    """Run the tests that need no Docker."""
    with c.cd(shlex.quote(str(ROOT))):
        c.run(f"{PYTHON} -m pytest -ra tests/unit", pty=False)


@task(help={"pg": "PostgreSQL major: 13, 15, 17 or 18"})
def demo(c, pg=None):
    """Start the lab and run `fab ... full` against it (`./dev inv demo` installs Fabric)."""
    lab = _lab(c, pg)
    lab.up()
    # fab of the Python running inv, found whether or not its bin/ is on PATH.
    c.run(f"{PYTHON} -m fabric -S {shlex.quote(str(lab.ssh_config))} "
          f"-H {','.join(lab.hosts)} full", pty=False)


@task(auto_shortflags=False, help={"quick": "about 100 MB, one repetition (under 10 minutes); results in bench/results/tmp",
            "scales": "pgbench scales, comma-separated (70 is about 1 GB); default 7,70",
            "reps": "repetitions of the main rows, every method at the largest size on the "
                    "first link (default 3, quick 1)",
            "other_reps": "repetitions of the other rows (default 1)",
            "bandwidth": "link limits between hosts, comma-separated, the first the main one "
                         "(the others at the largest size only): 1gbit, 500mbit, unlimited "
                         "(default 1gbit,unlimited)",
            "standbys": "standby counts for the scaling rows (default 1,3)",
            "methods": "the main rows (names as in the table), comma-separated",
            "other_methods": "the rows at smaller sizes and further links, comma-separated",
            "pg": "PostgreSQL major (default 15; repmgr only where apt can fetch it)",
            "dataset": "pgbench (default) or realistic (hashes, random numbers, JSON-like "
                       "text: about 2-3x with zstd); realistic results go to "
                       "bench/results/realistic",
            "keep": "leave the bench lab running afterwards",
            "switchover": "instead of the copies: switchover there and back, promote + "
                          "rejoin and repmgr's standby switchover under a writing client "
                          "(#25; --scales: the one pgbench scale, default 5; --reps: rounds of "
                          "the fab rows, default 3); results in bench/results/switchover",
            "resync": "instead of the copies: a standby whose slot lost its WAL after 5% of "
                      "rows changed and 5% appended, brought back by fab full (defaults: the "
                      "online delta copy) beside a fresh copy, and copies cut at half then "
                      "resumed, under a writing client (#22; --scales: the one scale, default "
                      "70; --dataset: default realistic; --bandwidth: one link, default 1gbit; "
                      "--reps: runs of each row, default 1; own Compose project "
                      "pg-hotstandby-resbench); results in bench/results/resync"})
def bench(c, quick=False, scales=None, reps=None, other_reps=None, bandwidth=None,
          standbys=None, methods=None, other_methods=None, pg=None, keep=False, dataset=None,
          switchover=False, resync=False):
    """Benchmark downtime and time to streaming beside the alternatives (#7).

    Runs on its own lab (Compose project pg-hotstandby-bench, .lab/bench;
    --resync: pg-hotstandby-resbench), brought down afterwards unless --keep."""
    if resync:
        from bench import resync as resync_bench
        argv = [name for flag, value in (("--scales", scales), ("--reps", reps),
                                         ("--dataset", dataset), ("--bandwidth", bandwidth),
                                         ("--pg", pg)) if value
                for name in (flag, str(value))]
        resync_bench.main(argv + (["--keep"] if keep else []))
        return
    if switchover:
        from bench import switchover as switch
        argv = [*(["--scales", str(scales)] if scales else []),
                *(["--reps", str(reps)] if reps else []),
                *(["--pg", str(pg)] if pg else []), *(["--keep"] if keep else [])]
        switch.main(argv)
        return
    from bench.run import main
    argv = ["--quick"] if quick else []
    for name, value in (("--scales", scales), ("--reps", reps), ("--other-reps", other_reps),
                        ("--bandwidth", bandwidth), ("--standbys", standbys),
                        ("--methods", methods), ("--other-methods", other_methods),
                        ("--pg", pg), ("--dataset", dataset)):
        if value is not None:
            argv += [name, str(value)]
    if keep:
        argv.append("--keep")
    main(argv)


lab_ns = Collection("lab", build, up, down)
test_ns = Collection("test", test_all, unit)
ns = Collection(lab_ns, test_ns, demo, bench)
ns.configure({"lab": {"pg": 15, "standbys": 1, "layout": "debian", "init": "systemd",
                     "shared_sysid": False}})
