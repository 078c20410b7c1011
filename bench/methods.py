"""What each row of the table does, from stock servers to a streaming standby.

The hand-made rows run their commands over SSH as an admin would type them;
they are deliberately plain (each is a baseline, not a product).  Settings are
written to conf.d drop-ins, which Debian's postgresql.conf includes.
"""
import functools
import shlex
import subprocess
import time

from fabfile.steps.methods import METHODS as COPY_METHODS

from .benchlab import REPO, StreamWatch
from . import report
from .report import BASEBACKUP, FAN_OUT_OFF, GUIDE, RAW

REPMGR = "repmgr standby clone"
PASSWORD = "bench"   # the hand-made rows' replication password (lab only)


def fab_name(method):
    return f"fab full --method {method}"


class MethodFailed(Exception):
    pass


def fab_result(lab, hosts, *args, config=None, timeout=1800):
    """The product's command line from the repository root (fabric.yaml
    applies; config: a further settings file, -f); the finished process,
    stdout and stderr together in .stdout."""
    cmd = ["fab", "-S", str(lab.ssh_config), *(["-f", str(config)] if config else []),
           "-H", ",".join(hosts), *args]
    done = subprocess.run(cmd, cwd=REPO, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                          text=True, timeout=timeout)
    done.cmd = cmd
    return done


def fab(lab, hosts, *args, config=None, timeout=600):
    """fab_result's output; MethodFailed with its last line when it fails."""
    done = fab_result(lab, hosts, *args, config=config, timeout=timeout)
    if done.returncode != 0:
        raise MethodFailed(f"{shlex.join(done.cmd[3:])}: exit {done.returncode}: "
                           + last_line(done.stdout))
    return done.stdout


def last_line(text):
    lines = [line for line in text.splitlines() if line.strip()]
    return lines[-1][:300] if lines else "no output"


def wait_streaming(lab, primary, timeout, count=1):
    """Until `count` standbys stream from primary (its tunnel's port)."""
    watch = StreamWatch(lab.local_ports[primary], count)
    watch.start()
    watch.join(timeout)
    watch.stop()
    if watch.streaming_at is None:
        raise MethodFailed(f"no standby streams from {primary} after {timeout} s")


def run_fab(lab, standbys, method, extra=()):
    """The product, from the repository root so fabric.yaml applies; extra:
    further options of full (compression, rate cap)."""
    done = fab_result(lab, ["master", *standbys], "full", "--method", method, *extra)
    if done.returncode != 0:
        raise MethodFailed(f"fab exit {done.returncode}: {last_line(done.stdout)[:200]}")
    return report.parse_fab_summary(done.stdout)


def guide(lab, standbys):
    """The guide's steps, in its order, with what makes them work on a modern
    server: listen_addresses, wal_level replica, pg_hba trust for replication
    (as the guide), standby.signal + primary_conninfo; both stopped, rsync from
    the primary as root without WAL and runtime files, standby started, then
    the primary.  Into the standby's old directory as the guide does, with
    --ignore-times: rsync's quick check would otherwise keep the standby's own
    pg_control when both stopped in the same second (it then never streams)."""
    v, data, conf = lab.pg, lab.data, lab.conf
    steps = Steps()
    lab.user("master", f"printf \"listen_addresses = '*'\\nwal_level = replica\\n"
                       f"max_wal_senders = 3\\n\" > {conf}/conf.d/guide.conf && "
                       f"echo 'host replication all samenet trust' >> {conf}/pg_hba.conf")
    for s in standbys:
        lab.user(s, f"printf \"hot_standby = on\\nprimary_conninfo = 'host=master "
                    f"user=postgres'\\n\" > {conf}/conf.d/guide.conf")
    steps.done("configure")
    lab.user("master", f"pg_ctlcluster {v} main stop")
    steps.done("stop primary")
    for s in standbys:
        lab.user(s, f"pg_ctlcluster {v} main stop")
    steps.done("stop standby")
    excludes = " ".join(f"--exclude={x}" for x in (
        "/pg_wal/*", "/postmaster.pid", "/postmaster.opts", "/pg_replslot/*",
        "/pg_stat_tmp/*", "/pgsql_tmp*"))
    for s in standbys:
        lab.user("master", f"rsync -a --delete --ignore-times {excludes} "
                           f"-e 'ssh -o StrictHostKeyChecking=no' {data}/ root@{s}:{data}/")
    steps.done("rsync")
    for s in standbys:
        # -W: pg_ctl would otherwise wait its 60 s, as a standby without WAL
        # cannot accept connections before the primary is back.  pg_ctlcluster
        # still polls the port for a few seconds: that wait is the guide's.
        lab.user(s, f"install -o postgres -g postgres -m 600 /dev/null {data}/standby.signal && "
                    f"pg_ctlcluster {v} main start -- -W")
    steps.done("start standby")
    lab.user("master", f"pg_ctlcluster {v} main start")
    steps.done("start primary")
    return {"steps": steps.times}


class Steps:
    """Wall time of each step of a hand-made row: where the time goes."""

    def __init__(self):
        self.times, self.last = {}, time.monotonic()

    def done(self, name):
        now = time.monotonic()
        self.times[name] = round(now - self.last, 2)
        self.last = now


def _expert_primary(lab, standbys, role, extra_conf="", extra_hba=""):
    """What the hand-made pg_basebackup and repmgr rows do on the primary:
    listen on the network (a restart), a replication role with a password,
    pg_hba for it from the lab's network."""
    v, conf = lab.pg, lab.conf
    superuser = " SUPERUSER" if role == "repmgr" else ""
    lab.user("master", f"printf \"listen_addresses = '*'\\n{extra_conf}\" "
                       f"> {conf}/conf.d/bench.conf && "
                       f"echo 'host replication {role} samenet scram-sha-256' >> {conf}/pg_hba.conf"
                       + (f" && echo {extra_hba!r} >> {conf}/pg_hba.conf" if extra_hba else ""))
    lab.psql("master", f"CREATE ROLE {role} REPLICATION LOGIN{superuser} PASSWORD '{PASSWORD}'")
    lab.user("master", f"pg_ctlcluster {v} main restart")


def _passfile(lab, host, line):
    lab.postgres(host, f"umask 077 && echo '{line}' > ~/.pgpass")


def basebackup(lab, standbys):
    """What an expert types: pg_basebackup on the standby against the running
    primary, WAL streamed, -R for the standby settings, fast checkpoint."""
    v, data = lab.pg, lab.data
    _expert_primary(lab, standbys, "replicator")
    for s in standbys:
        _passfile(lab, s, f"master:5432:replication:replicator:{PASSWORD}")
        lab.user(s, f"pg_ctlcluster {v} main stop && rm -rf {data}")
        lab.postgres(s, f"pg_basebackup -h master -U replicator -D {data} -X stream -R "
                        f"-c fast")
        lab.user(s, f"pg_ctlcluster {v} main start")
    return {}


def repmgr(lab, standbys):
    """repmgr's quick start: a repmgr superuser and database, the library
    preloaded (same restart as listen_addresses), primary register, then on
    the standby `standby clone`, start, `standby register`."""
    if lab.repmgr is not None:
        raise MethodFailed(lab.repmgr)
    v, data, conf = lab.pg, lab.data, lab.conf
    _expert_primary(lab, standbys, "repmgr", "shared_preload_libraries = 'repmgr'\\n",
                    "host repmgr repmgr samenet scram-sha-256")
    lab.psql("master", "CREATE DATABASE repmgr OWNER repmgr")
    hosts = ["master", *standbys]
    for n, host in enumerate(hosts, 1):
        _passfile(lab, host, f"*:*:*:repmgr:{PASSWORD}")
        lab.user(host, f"printf \"node_id={n}\\nnode_name='{host}'\\n"
                       f"conninfo='host={host} user=repmgr dbname=repmgr'\\n"
                       f"data_directory='{data}'\\n\" > /etc/repmgr.conf")
    lab.postgres("master", "repmgr -f /etc/repmgr.conf primary register")
    for s in standbys:
        # standby register connects to the standby by its conninfo.
        lab.user(s, f"echo \"listen_addresses = '*'\" > {conf}/conf.d/bench.conf && "
                    f"echo 'host repmgr repmgr samenet scram-sha-256' >> {conf}/pg_hba.conf && "
                    f"pg_ctlcluster {v} main stop")
        lab.postgres(s, "repmgr -h master -U repmgr -d repmgr -f /etc/repmgr.conf "
                        "standby clone -F --fast-checkpoint")
        lab.user(s, f"pg_ctlcluster {v} main start")
        lab.postgres(s, "repmgr -f /etc/repmgr.conf standby register")
    return {}


def raw_copy(lab, standbys):
    """The best any copy can do between these hosts: the data directory
    (without WAL, as the copies above) streamed with tar over SSH, primary
    running.  Not a usable standby: the yardstick for copy time."""
    for s in standbys:
        # tar exits 1 when a file changed while read: expected on a running primary.
        lab.user("master", f"tar -C {lab.data} --exclude='./pg_wal/*' -cf - . | "
                           f"ssh -o StrictHostKeyChecking=no root@{s} "
                           f"'mkdir -p /var/tmp/rawcopy && tar -C /var/tmp/rawcopy -xf -'; test ${{PIPESTATUS[1]}} = 0")
    return {}


def configured_primary(lab, standbys):
    """Before the clock: a first `full` (basebackup) configures the primary,
    then the standbys go back to stock.  Measures the rerun case the issue
    targets: no restart-requiring setting changes, so no failed commit."""
    run_fab(lab, standbys, "basebackup")
    lab.parallel(standbys, lab.reset)
    lab.wait_ready(60, hosts=standbys)


BASEBACKUP_CONFIGURED = "fab full --method basebackup, primary configured"
# The default rows above compress as the product's default says (auto) and fan
# out (auto); these rows set each other choice, the rate cap and no fan-out (#15).
OPTION_ROWS = {f"fab full --compress {choice}": ("basebackup", ["--compress", choice])
              for choice in ("none", "lz4", "zstd:3")}
OPTION_ROWS["fab full --method rsync --compress none"] = ("rsync", ["--compress", "none"])
OPTION_ROWS["fab full --max-rate 50M"] = ("basebackup", ["--max-rate", "50M"])
# The cap alone: compressing may itself be slower than the cap.
OPTION_ROWS["fab full --compress none --max-rate 50M"] = ("basebackup", ["--compress", "none",
                                                                        "--max-rate", "50M"])
# Several standbys: each copied from the primary (FAN_OUT_OFF), and, without
# compression, the case where the primary's link is what limits.
OPTION_ROWS["fab full" + FAN_OUT_OFF] = ("basebackup", ["--fan-out", "off"])
OPTION_ROWS["fab full --compress none" + FAN_OUT_OFF] = ("basebackup", ["--compress", "none",
                                                                      "--fan-out", "off"])

METHODS = {
    GUIDE: guide,
    **{fab_name(name): functools.partial(run_fab, method=name) for name in COPY_METHODS},
    BASEBACKUP: basebackup,
    REPMGR: repmgr,
    BASEBACKUP_CONFIGURED: lambda lab, s: run_fab(lab, s, "basebackup"),
    **{name: functools.partial(run_fab, method=method, extra=extra)
       for name, (method, extra) in OPTION_ROWS.items()},
    RAW: raw_copy,
}
# Run after the reset to stock, before the clock starts.
SETUP = {BASEBACKUP_CONFIGURED: configured_primary}
# Rows that end with no standby to wait for.
NO_STREAMING = {RAW}
