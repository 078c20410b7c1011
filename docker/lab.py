"""The Docker lab: build images without a registry, start hosts, describe them.

Shared by the developer tasks (tasks.py) and the test fixtures (tests/conftest.py).
Pure helpers (ssh_config text, Compose detection, image names) are unit-tested;
the rest drives docker and docker compose.
"""
import os
import shutil
import subprocess
import time
from dataclasses import dataclass, field
from pathlib import Path

DOCKER_DIR = Path(__file__).resolve().parent
REPO = DOCKER_DIR.parent
LAB_DIR = REPO / ".lab"
COMPOSE_FILE = DOCKER_DIR / "compose.yml"
# Standbys on a 200 MB file system of their own that a test can remount
# read-only: the full and read-only standby disks.
SMALL_DISK_FILE = DOCKER_DIR / "compose.small-disk.yml"
# Hosts whose PID 1 is systemd: what systemd needs in a container.
SYSTEMD_FILE = DOCKER_DIR / "compose.systemd.yml"

# The one PostgreSQL major each Debian suite carries.
SUITES = {13: "bullseye", 15: "bookworm", 17: "trixie", 18: "sid"}
LAYOUTS = ("debian", "generic")
# systemd runs PostgreSQL from its unit, as on servers; plain: no service
# manager (containers, some VMs), the server started by hand.
INITS = ("systemd", "plain")
# Suites whose systemd cannot be PID 1 here: Docker on this kind of machine
# gives containers cgroup v1, and systemd dropped it (sid's 262 exits at once).
NO_SYSTEMD = {18: "Debian sid's systemd no longer runs on cgroup v1, which Docker gives "
                  "containers on this machine"}
HOSTS = ("master", "standby", "standby2", "standby3")
PROJECT = "pg-hotstandby-lab"


class LabError(Exception):
    pass


def compose_command(which=shutil.which, probe=None):
    """The Compose command line prefix: v2 plugin if present, else v1."""
    def plugin_works():
        return subprocess.run(["docker", "compose", "version"],
                              capture_output=True).returncode == 0
    probe = probe or plugin_works
    if which("docker") and probe():
        return ["docker", "compose"]
    if which("docker-compose"):
        return ["docker-compose"]
    raise LabError("no Compose tool: install the docker compose plugin or docker-compose")


def base_tag(pg):
    return f"pg-hotstandby-base:{SUITES[pg]}-systemd"


def image_tag(pg, layout, init="systemd"):
    return f"pg-hotstandby-lab:{pg}-{layout}-{init}"


def host_names(standbys):
    if not 1 <= standbys <= len(HOSTS) - 1:
        raise LabError(f"--standbys must be 1 to {len(HOSTS) - 1}")
    return list(HOSTS[: standbys + 1])


def render_ssh_config(ports, key_path, known_hosts, user="admin"):
    """ssh_config text with one Host entry per lab host ({name: port}); host
    keys checked against the lab's own known_hosts, as on real servers."""
    blocks = []
    for name, port in ports.items():
        blocks.append(
            f"Host {name}\n"
            f"    HostName 127.0.0.1\n"
            f"    Port {port}\n"
            f"    User {user}\n"
            f"    IdentityFile {key_path}\n"
            f"    IdentitiesOnly yes\n"
            f"    StrictHostKeyChecking yes\n"
            f"    UserKnownHostsFile {known_hosts}\n"
            f"    LogLevel ERROR\n")
    return "\n".join(blocks)


def render_known_hosts(ports, keys):
    """known_hosts lines for each host whose public keys ({name: the text of
    its ssh_host_*_key.pub files}) were read: filed under its published port
    and under its name on the lab network (port 22, what a jump host reaches)."""
    lines = []
    for name, port in ports.items():
        for pub in keys.get(name, "").splitlines():
            keytype, blob = pub.split()[:2]
            lines.append(f"[127.0.0.1]:{port},{name} {keytype} {blob}\n")
    return "".join(lines)


def parse_port(text):
    """`docker compose port` prints 127.0.0.1:49153 (v1 and v2 alike)."""
    line = text.strip().splitlines()[-1] if text.strip() else ""
    host, _, port = line.rpartition(":")
    if not port.isdigit():
        raise LabError(f"unexpected port output: {text!r}")
    return int(port)


def _run(cmd, env=None, check=True):
    done = subprocess.run(cmd, env=env, capture_output=True, text=True)
    if check and done.returncode != 0:
        raise LabError(f"{' '.join(cmd)} failed: {(done.stderr or done.stdout).strip()[-2000:]}")
    return done


def build(pg, layout, init="systemd", log=print):
    """Build the base image (cached by tag) and the host image (layer cache)."""
    if pg not in SUITES:
        raise LabError(f"--pg must be one of {sorted(SUITES)}")
    if layout not in LAYOUTS:
        raise LabError(f"--layout must be one of {LAYOUTS}")
    if init not in INITS:
        raise LabError(f"--init must be one of {INITS}")
    if init == "systemd" and pg in NO_SYSTEMD:
        raise LabError(f"PostgreSQL {pg}'s hosts cannot run systemd here ({NO_SYSTEMD[pg]}): "
                       "use --init plain")
    started = time.monotonic()
    build_base(pg, log)
    _run(["docker", "build", "-q", "--force-rm", "--build-arg", f"BASE={base_tag(pg)}",
          "--build-arg", f"LAYOUT={layout}", "--build-arg", f"INIT={init}",
          "-t", image_tag(pg, layout, init), str(DOCKER_DIR)])
    log(f"image {image_tag(pg, layout, init)}: ready ({time.monotonic() - started:.0f} s)")


def build_base(pg, log):
    """The base image (debootstrap, about two minutes once per suite): its
    progress lines are passed to log as they come, so a first run says what it
    builds and shows that it moves."""
    proc = subprocess.Popen(["bash", str(DOCKER_DIR / "build-base.sh"), SUITES[pg], base_tag(pg)],
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    lines = []
    for line in proc.stdout:
        lines.append(line.rstrip())
        log(line.rstrip())
    if proc.wait() != 0:
        raise LabError(f"building {base_tag(pg)} failed: " + "\n".join(lines[-20:]))


def ensure_key(lab_dir=LAB_DIR):
    key = lab_dir / "id_ed25519"
    if not key.exists():
        lab_dir.mkdir(parents=True, exist_ok=True)
        _run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-C", "pg-hotstandby-lab",
              "-f", str(key)])
    return key


@dataclass
class Lab:
    """One running lab: a Compose project of hosts from one image (the
    standbys from another major's image when standby_pg says so)."""
    pg: int = 15
    layout: str = "debian"
    standbys: int = 1
    shared_sysid: bool = False
    standby_pg: int = None
    small_disk: bool = False
    init: str = "systemd"
    project: str = PROJECT
    lab_dir: Path = LAB_DIR
    ports: dict = field(default_factory=dict)
    host_keys: dict = field(default_factory=dict)   # name -> its ssh_host_*_key.pub text

    @property
    def hosts(self):
        return host_names(self.standbys)

    @property
    def ssh_config(self):
        return self.lab_dir / "ssh_config"

    @property
    def known_hosts(self):
        return self.lab_dir / "known_hosts"

    @property
    def majors(self):
        return sorted({self.pg, self.standby_pg or self.pg})

    @property
    def compose_files(self):
        return [COMPOSE_FILE] + ([SYSTEMD_FILE] if self.init == "systemd" else []) \
            + ([SMALL_DISK_FILE] if self.small_disk else [])

    def build(self, log=print):
        for pg in self.majors:
            build(pg, self.layout, self.init, log=log)

    def env(self):
        env = dict(os.environ)
        env.update(LAB_IMAGE=image_tag(self.pg, self.layout, self.init),
                   LAB_STANDBY_IMAGE=image_tag(self.standby_pg or self.pg, self.layout,
                                               self.init),
                   LAB_SHARED_SYSID="1" if self.shared_sysid else "0",
                   LAB_AUTHORIZED_KEY=str(ensure_key(self.lab_dir)) + ".pub")
        return env

    def compose(self, *args, check=True):
        files = [arg for f in self.compose_files for arg in ("-f", str(f))]
        cmd = compose_command() + files + ["-p", self.project, *args]
        return _run(cmd, env=self.env(), check=check)

    def up(self, timeout=120, log=print):
        self.build(log=log)
        self.compose("up", "-d", *self.hosts)
        self.refresh_ports()
        self.wait_ready(timeout)
        log(f"lab up: PostgreSQL {self.pg} ({self.layout} layout, {self.init}) on "
            f"{', '.join(self.hosts)}; ssh_config in {self.ssh_config}")

    def refresh_ports(self):
        self.ports = {h: parse_port(self.compose("port", h, "22").stdout) for h in self.hosts}
        self.write_ssh_config()

    def write_ssh_config(self):
        self.ssh_config.write_text(render_ssh_config(self.ports, ensure_key(self.lab_dir),
                                                     self.known_hosts))
        self.known_hosts.write_text(render_known_hosts(self.ports, self.host_keys))

    def read_host_keys(self, host):
        """The host's public keys, read through Docker (a channel that needs no
        trust) once sshd runs: the keys are made at first boot, before it."""
        done = _run(["docker", "exec", self.container(host), "sh", "-c",
                     "pgrep -x sshd >/dev/null && cat /etc/ssh/ssh_host_*_key.pub"], check=False)
        if done.returncode == 0 and done.stdout.strip():
            self.host_keys[host] = done.stdout
            self.write_ssh_config()
        return host in self.host_keys

    def ready(self, host):
        """sshd answers (its keys known), PostgreSQL accepts connections and the
        host's boot work is done (the tests' SQL role exists)."""
        if host not in self.host_keys and not self.read_host_keys(host):
            return False
        return self.ssh(host, "pg_isready -q -h /run/postgresql && test -e /opt/lab/harness-role",
                        check=False).returncode == 0

    def pg_port(self, host):
        return parse_port(self.compose("port", host, "5432").stdout)

    def ssh(self, host, command, check=True):
        """Run a command on a lab host through its sshd, as a user would."""
        return _run(["ssh", "-F", str(self.ssh_config), host, command], check=check)

    def wait_ready(self, timeout=120, hosts=None):
        """Wait until sshd and PostgreSQL answer on every host."""
        deadline = time.monotonic() + timeout
        for host in hosts or self.hosts:
            while not self.ready(host):
                if time.monotonic() > deadline:
                    logs = self.compose("logs", "--tail", "20", host, check=False).stdout
                    raise LabError(f"lab host {host} did not become ready in {timeout} s:\n{logs}")
                time.sleep(0.5)

    def down(self):
        self.compose("down", "-v", "--remove-orphans", "-t", "2")

    # Breaking things, for the tests.
    def container(self, host):
        return f"{self.project}_{host}_1" if compose_command() == ["docker-compose"] \
            else f"{self.project}-{host}-1"

    def kill(self, host):
        _run(["docker", "kill", self.container(host)])

    def reboot(self, host, postgres=True):
        """Restart the host's container: a clean shutdown and a boot (systemd
        starts PostgreSQL from its unit again).  Waits for sshd, and for
        PostgreSQL unless `postgres` is false (a boot that must not start it)."""
        # Stop, then start: `docker restart` keeps the root file system that
        # systemd's shutdown (bullseye's) remounted read-only, and the boot fails.
        # Its services are stopped within seconds; PID 1 then waits forever in
        # systemd-shutdown (halt and poweroff alike, in a container here), so
        # Docker ends it after a few.
        _run(["docker", "stop", "-t", "8", self.container(host)])
        _run(["docker", "start", self.container(host)])
        self.refresh_ports()
        if postgres:
            self.wait_ready(hosts=[host])
            return
        deadline = time.monotonic() + 120
        while self.ssh(host, "true", check=False).returncode != 0:
            if time.monotonic() > deadline:
                raise LabError(f"lab host {host} did not come back after a reboot")
            time.sleep(0.5)

    def start(self, host):
        _run(["docker", "start", self.container(host)])
        self.refresh_ports()
        self.wait_ready(hosts=[host])

    def network(self):
        return f"{self.project}_lab"

    def cut(self, host):
        """Cut a host off the lab network (its published ports go with it)."""
        _run(["docker", "network", "disconnect", self.network(), self.container(host)])

    def restore(self, host):
        _run(["docker", "network", "connect", "--alias", host, self.network(),
              self.container(host)])

    def exec(self, host, command):
        """Run a command in the host's container, bypassing sshd."""
        return _run(["docker", "exec", self.container(host), "sh", "-c", command]).stdout
