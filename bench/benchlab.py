"""The benchmark's own lab (Compose project pg-hotstandby-bench, files in
.lab/bench): NET_ADMIN for tc, repmgr in the image, a snapshot of each host's
stock PostgreSQL to return to between runs, the probe and the streaming poll.

Every run starts from stock servers: the hosts' PostgreSQL directories
(/etc/postgresql, /var/lib/postgresql: data, configs, postgres's home with its
.ssh and passfiles) are restored from a tar snapshot taken when the host was
fresh (the primary: fresh plus the pgbench data), and whatever a method left
elsewhere is removed.  That is much faster than recreating containers on this
machine's fuse-overlayfs and gives the same servers.
"""
import shlex
import shutil
import socket
import subprocess
import sys
import tempfile
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import psycopg2

BENCH_DIR = Path(__file__).resolve().parent
REPO = BENCH_DIR.parent
sys.path.insert(0, str(REPO / "docker"))
import lab as labkit  # noqa: E402

from . import dataset, net  # noqa: E402

quote = shlex.quote

PROJECT = "pg-hotstandby-bench"
LAB_DIR = REPO / ".lab" / "bench"
DEB_DIR = LAB_DIR / "debs"
BENCH_COMPOSE = labkit.DOCKER_DIR / "compose.bench.yml"
STOCK = "/var/tmp/bench-stock.tar"
WITH_DATA = "/var/tmp/bench-data.tar"     # the primary: stock plus the dataset
# Left by the methods outside the snapshotted directories.
LEFTOVERS = "/var/backups/pg-hotstandby /etc/repmgr.conf /var/tmp/rawcopy"


def bench_image(pg, init="plain"):
    # The plain image keeps its first name: the copy rows' results name it.
    return f"pg-hotstandby-bench:{pg}-debian" + ("" if init == "plain" else f"-{init}")


def log(text):
    print(text, flush=True)


class BenchLab(labkit.Lab):
    def __init__(self, pg=15, standbys=1, init="plain", project=PROJECT):
        # Plain hosts for the copy rows: they start servers as their own
        # scripts say.  systemd for switchover, which stops and starts units.
        # project: another name gives a lab of its own (its files in .lab/NAME).
        super().__init__(pg=pg, standbys=standbys, project=project,
                         lab_dir=LAB_DIR if project == PROJECT else REPO / ".lab" / project,
                         init=init)
        self.repmgr = None          # None when available, else why not
        self.tunnels = {}           # host -> ssh -L process
        self.local_ports = {}       # host -> its PostgreSQL's port on this machine
        self.loaded = False

    @property
    def local_port(self):
        return self.local_ports.get("master")

    @property
    def compose_files(self):
        return super().compose_files[:1] + [BENCH_COMPOSE] + super().compose_files[1:]

    @property
    def version(self):
        return self.pg

    @property
    def data(self):
        return f"/var/lib/postgresql/{self.pg}/main"

    @property
    def conf(self):
        return f"/etc/postgresql/{self.pg}/main"

    def env(self):
        env = super().env()
        env["LAB_BENCH_IMAGE"] = bench_image(self.pg, self.init)
        return env

    def build(self, log=log):
        super().build(log=log)
        self.repmgr = fetch_repmgr(self.pg)
        with tempfile.TemporaryDirectory() as ctx:
            shutil.copy(BENCH_DIR / "docker" / "Dockerfile", ctx)
            debs = Path(ctx) / "debs"
            debs.mkdir()
            if self.repmgr is None:
                for deb in DEB_DIR.glob(f"*{self.pg}*.deb"):
                    shutil.copy(deb, debs)
                for deb in DEB_DIR.glob("repmgr-common_*.deb"):
                    shutil.copy(deb, debs)
            labkit._run(["docker", "build", "-q", "--force-rm", "--build-arg",
                         f"LAB_IMAGE={labkit.image_tag(self.pg, 'debian', self.init)}",
                         "-t", bench_image(self.pg, self.init), ctx])
        log(f"image {bench_image(self.pg, self.init)}: ready"
            + ("" if self.repmgr is None else f" (no repmgr: {self.repmgr})"))

    # Running things on hosts.  The harness uses docker exec (no SSH
    # overhead in its own bookkeeping); the methods go through SSH as a user.
    def root(self, host, command, check=True):
        done = labkit._run(["docker", "exec", self.container(host), "bash", "-c", command],
                           check=check)
        return done.stdout

    def user(self, host, command, check=True):
        """A command as root through the host's sshd (sudo), as an admin types it."""
        return self.ssh(host, "sudo bash -c " + quote(command), check=check)

    def postgres(self, host, command, check=True):
        return self.ssh(host, "sudo -u postgres bash -c " + quote(command), check=check)

    def psql(self, host, sql):
        return self.postgres(host, f"psql -qAtX -v ON_ERROR_STOP=1 -c {quote(sql)}").stdout

    def parallel(self, hosts, fn):
        with ThreadPoolExecutor(len(hosts)) as pool:
            return list(pool.map(fn, hosts))

    # Set up once per lab.
    def prepare(self):
        """Root on the primary may ssh to each standby as root (the guide's
        rsync and the raw copy); each host's stock state is snapshotted."""
        pub = self.root("master", "test -f /root/.ssh/id_ed25519 || ssh-keygen -q -t ed25519 "
                                  "-N '' -f /root/.ssh/id_ed25519; cat /root/.ssh/id_ed25519.pub")
        for host in self.hosts[1:]:
            self.root(host, f"install -d -m 700 /root/.ssh && echo {quote(pub.strip())} "
                            ">> /root/.ssh/authorized_keys")
        self.parallel(self.hosts, self.snapshot)
        self.loaded = False

    def snapshot(self, host, path=STOCK, start=True):
        """The host's PostgreSQL directories into a tar file, the server
        stopped for it (if it ran) and started again unless not `start`."""
        self.root(host, f"(! pg_ctlcluster {self.pg} main status >/dev/null || "
                        f"pg_ctlcluster {self.pg} main stop) && "
                        f"tar -C / -cf {path} etc/postgresql var/lib/postgresql"
                        + (f" && pg_ctlcluster {self.pg} main start" if start else ""))

    def load(self, scale, kind="pgbench"):
        """Give the primary a dataset (bench/dataset.py) of this scale (from
        its stock state) plus the probe's table, and make that its snapshot."""
        self.loaded = False
        self.reset("master")
        self.postgres("master", "createdb bench && " + dataset.load_command(kind, scale))
        self.postgres("master", "psql -qX -c 'CREATE TABLE bench_probe (at timestamptz)' && "
                                "psql -qX -c CHECKPOINT")
        self.snapshot("master", WITH_DATA)
        self.loaded = True
        size = self.root("master", f"du -sm {self.data} | cut -f1")
        return int(size.split()[0])

    def compression_ratios(self, programs=("zstd -1", "lz4 -1")):
        """{program: raw bytes / compressed bytes} of the primary's data
        directory as a copy sends it (without WAL), compressed here by the
        zstd and lz4 commands; None for a program this machine lacks."""
        found = [p for p in programs if shutil.which(p.split()[0])]
        tar = subprocess.Popen(["docker", "exec", self.container("master"), "tar", "-C",
                                self.data, "--exclude=./pg_wal/*", "-cf", "-", "."],
                               stdout=subprocess.PIPE, stderr=subprocess.DEVNULL)
        packers = [subprocess.Popen(p.split() + ["-c"], stdin=subprocess.PIPE,
                                    stdout=subprocess.PIPE) for p in found]
        packed = [0] * len(packers)

        def count(index):
            for chunk in iter(lambda: packers[index].stdout.read(1 << 20), b""):
                packed[index] += len(chunk)
        counters = [threading.Thread(target=count, args=(i,)) for i in range(len(packers))]
        for t in counters:
            t.start()
        raw = 0
        for chunk in iter(lambda: tar.stdout.read(1 << 20), b""):
            raw += len(chunk)
            for packer in packers:
                packer.stdin.write(chunk)
        tar.wait()
        for packer, t in zip(packers, counters):
            packer.stdin.close()
            t.join()
            packer.wait()
        ratios = dict.fromkeys(programs)
        ratios.update({p: round(raw / n, 2) for p, n in zip(found, packed) if n})
        return ratios

    def reset(self, host):
        """Back to the snapshot: stock servers (the primary with its data)."""
        self.restore(host, WITH_DATA if host == "master" and self.loaded else STOCK)

    def restore(self, host, snapshot, start=True):
        """The host's PostgreSQL directories as in a snapshot (whatever runs
        of PostgreSQL and the copies killed first), its server started unless
        not `start`."""
        self.root(host, f"pkill -x rsync; pkill -x pg_basebackup; pkill -x repmgr; "
                        f"pg_ctlcluster {self.pg} main stop -m immediate >/dev/null 2>&1; "
                        f"pkill -9 -u postgres; "
                        f"rm -rf /etc/postgresql /var/lib/postgresql {LEFTOVERS} && "
                        f"tar -C / -xpf {snapshot} && sync && "
                        f"install -d -o postgres -g postgres -m 2775 /run/postgresql"
                        + (f" && pg_ctlcluster {self.pg} main start" if start else ""))

    def reset_all(self):
        self.parallel(self.hosts, self.reset)
        self.wait_ready(60)

    def set_link(self, bits):
        for host in self.hosts:
            self.root(host, net.tc_command(bits))

    def link_check(self, megabytes=200):
        """MB/s that SSH moves from the primary to the standby now: proves the
        limit took effect (printed with the results)."""
        started = time.monotonic()
        self.root("master", f"head -c {megabytes * 10**6} /dev/zero | ssh -o "
                            f"StrictHostKeyChecking=no root@standby 'cat >/dev/null'")
        return megabytes / (time.monotonic() - started)

    def link_bytes(self, hosts, direction="rx"):
        """Bytes the hosts received (or sent: direction "tx") on the lab's link."""
        return sum(int(self.root(h, f"cat /sys/class/net/eth0/statistics/{direction}_bytes"))
                   for h in hosts)

    # A host's PostgreSQL port on this machine, through SSH: a stock server
    # listens on localhost only, and the tunnel keeps working across its restarts.
    def open_tunnel(self, host="master"):
        with socket.socket() as s:
            s.bind(("127.0.0.1", 0))
            port = s.getsockname()[1]
        self.tunnels[host] = subprocess.Popen(
            ["ssh", "-F", str(self.ssh_config), "-N", "-o", "ExitOnForwardFailure=yes",
             "-L", f"127.0.0.1:{port}:127.0.0.1:5432", host])
        self.local_ports[host] = port
        deadline = time.monotonic() + 20
        while True:
            try:
                connect(port).close()
                return port
            except psycopg2.OperationalError:
                if time.monotonic() > deadline or self.tunnels[host].poll() is not None:
                    raise labkit.LabError(f"no SQL through the SSH tunnel to {host}")
                time.sleep(0.2)

    def address(self, host):
        """The host's address on the lab's network, which this machine reaches."""
        return labkit._run(["docker", "inspect", "-f", "{{range .NetworkSettings.Networks}}"
                            "{{.IPAddress}}{{end}}", self.container(host)]).stdout.strip()

    def close_tunnel(self):
        for tunnel in self.tunnels.values():
            tunnel.terminate()
            tunnel.wait(10)
        self.tunnels, self.local_ports = {}, {}


def connect(port, timeout=1):
    """port: one server's on this machine (a tunnel); or the hosts' addresses
    on the lab's network (a list): libpq tries each in turn for the one that
    takes writes, as an application given all hosts does.  Not through the
    tunnels: a tunnel accepts while its server is down, and libpq then does
    not go on to the next host as it does on a refused connection."""
    if isinstance(port, (list, tuple)):
        where = {"host": ",".join(port), "port": 5432, "target_session_attrs": "read-write"}
    else:
        where = {"host": "127.0.0.1", "port": port}
    db = psycopg2.connect(**where, user="lab", password="lab", dbname="postgres",
                          connect_timeout=timeout)
    db.autocommit = True
    return db


def fetch_repmgr(pg):
    """Download Debian's repmgr packages for this major with apt on the
    machine; None when they are there, else the reason they are not."""
    DEB_DIR.mkdir(parents=True, exist_ok=True)
    if list(DEB_DIR.glob(f"postgresql-{pg}-repmgr_*.deb")):
        return None
    if not shutil.which("apt-get"):
        return "no apt-get on this machine to fetch Debian's repmgr packages"
    done = subprocess.run(["apt-get", "download", f"postgresql-{pg}-repmgr", "repmgr-common"],
                          cwd=DEB_DIR, capture_output=True, text=True)
    if done.returncode != 0:
        return (f"postgresql-{pg}-repmgr not in this machine's apt sources "
                f"(the lab image is Debian {labkit.SUITES[pg]})")
    return None


class Probe(threading.Thread):
    """A client committing one row to the primary every 10 ms, reconnecting
    at once after a failure; it records when each commit succeeded or failed.
    With ledger (the first number), each row is a number of its own (table
    bench_ledger), and `acked` lists those whose commit the server
    acknowledged; `errors` has each new kind of failure, when it began."""
    INTERVAL = 0.01

    def __init__(self, port, ledger=None):
        super().__init__(daemon=True)
        self.port, self.ledger = port, ledger
        self.successes, self.failures, self.acked, self.errors = [], [], [], []
        self.stopping = threading.Event()

    def run(self):
        db, tick = None, time.monotonic()
        while not self.stopping.is_set():
            try:
                if db is None:
                    db = connect(self.port)
                with db.cursor() as cur:
                    if self.ledger is not None:
                        # Autocommit: execute returns once the commit is acknowledged.
                        self.ledger += 1
                        cur.execute("INSERT INTO bench_ledger VALUES (%s)", (self.ledger,))
                        self.acked.append(self.ledger)
                    else:
                        cur.execute("INSERT INTO bench_probe VALUES (now())")
                self.successes.append(time.monotonic())
            except psycopg2.Error as exc:
                self.failures.append(time.monotonic())
                # Every line: with several hosts, libpq says why each one failed.
                kind = " | ".join(str(exc).split("\n")).strip()[:400] or repr(exc)
                if not self.errors or self.errors[-1][1] != kind:
                    self.errors.append((self.failures[-1], kind))
                if db is not None:
                    try:
                        db.close()
                    except psycopg2.Error:
                        pass
                db = None
            # A fixed cadence; after a slow attempt (a connect timing out)
            # the next one starts at once rather than in a burst.
            tick = max(tick + self.INTERVAL, time.monotonic())
            time.sleep(max(0.0, tick - time.monotonic()))
        if db is not None:
            db.close()

    def stop(self):
        self.stopping.set()
        if self.ident is not None:
            self.join(10)


class StreamWatch(threading.Thread):
    """Polls the primary's pg_stat_replication; notes the first moment
    `count` standbys are in state streaming."""

    def __init__(self, port, count):
        super().__init__(daemon=True)
        self.port, self.count = port, count
        self.streaming_at = None
        self.stopping = threading.Event()

    def run(self):
        db = None
        while not self.stopping.is_set() and self.streaming_at is None:
            try:
                if db is None:
                    db = connect(self.port)
                with db.cursor() as cur:
                    # pg_basebackup's own WAL stream shows as 'streaming' from
                    # the start of a copy, whatever its application_name; only a
                    # standby reports a replayed position.
                    cur.execute("SELECT count(*) FROM pg_stat_replication "
                                "WHERE state = 'streaming' AND replay_lsn IS NOT NULL")
                    if cur.fetchone()[0] >= self.count:
                        self.streaming_at = time.monotonic()
            except psycopg2.Error:
                db = None
            time.sleep(0.05)
        if db is not None:
            db.close()

    def stop(self):
        self.stopping.set()
        if self.ident is not None:     # never started: the raw copy's row
            self.join(10)


class RateWatch(threading.Thread):
    """Samples the bytes the standbys received every half second: the
    copy's rate on the wire while it moves data (stats.busy_rate)."""
    INTERVAL = 0.5

    def __init__(self, lab, hosts):
        super().__init__(daemon=True)
        self.lab, self.hosts = lab, hosts
        self.samples = []
        self.stopping = threading.Event()

    def run(self):
        while not self.stopping.is_set():
            self.samples.append((time.monotonic(), self.lab.link_bytes(self.hosts)))
            self.stopping.wait(self.INTERVAL)

    def stop(self):
        self.stopping.set()
        if self.ident is not None:
            self.join(10)
