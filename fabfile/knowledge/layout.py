"""Where a host keeps PostgreSQL, and how it is started and stopped.

Two layouts exist in the wild:
- debian: pg_createcluster clusters; configs in /etc/postgresql/V/C with a
  conf.d drop-in directory, data in /var/lib/postgresql/V/C, pg_ctlcluster
  (which hands over to systemctl where systemd runs it).
- generic: RHEL packages, source builds, `pg_ctl -D`: the configs live in the
  data directory, which rsync must then leave alone on the standby.

Where systemd is PID 1 and a unit runs the server (`service`), every start,
stop and restart goes through systemctl, so the server stays inside its unit.
The unit is found without configuration: the unit of the running postmaster,
else an installed unit whose data directory is this one (PGDATA= or -D), else
Debian's `postgresql@V-C`; `hotstandby.service` overrides.

`discovery_script()` gathers the facts in one SSH round trip, `parse_facts()`
reads them and `choose_layout()` turns them into a `Layout`.  All pure.
"""
import re
import shlex
from dataclasses import dataclass

from . import versions

DROPIN_NAME = "pg-hotstandby.conf"
GENERIC_CONFIG_FILES = ("postgresql.conf", "pg_hba.conf", "pg_ident.conf")


class LayoutError(Exception):
    pass


# Shell: the systemd unit a data directory's running postmaster belongs to
# (its cgroup, v1 or v2), or nothing.
UNIT_OF_POSTMASTER = r"""unit_of() {
  pid=$(head -1 "$1/postmaster.pid" 2>/dev/null) && [ -n "$pid" ] || return 0
  sed -n 's/^[0-9]*:name=systemd://p; s/^0:://p' "/proc/$pid/cgroup" 2>/dev/null \
    | head -1 | sed 's|.*/||'
}"""
UNIT_NAME = re.compile(r"[A-Za-z0-9@._:-]+\.service")
# Units a server's postmaster may run under that are not its service.
NOT_A_SERVICE = ("ssh.service", "sshd.service", "cron.service")


def discovery_script(data_dir_candidates, bin_dir_candidates):
    """Shell script printing key=value facts about PostgreSQL on a host."""
    datas = " ".join(shlex.quote(d) for d in data_dir_candidates)
    bins = " ".join(bin_dir_candidates)  # globs: left unquoted on purpose
    return f"""
{UNIT_OF_POSTMASTER}
echo "home=$(getent passwd postgres | cut -d: -f6)"
command -v rsync >/dev/null 2>&1 && echo "rsync=yes"
if command -v systemctl >/dev/null 2>&1 && [ -d /run/systemd/system ]; then
  echo "systemd=yes"
  for u in $(systemctl list-unit-files --type=service --no-legend --no-pager 'postgresql*' \
             2>/dev/null | cut -d' ' -f1); do
    case "$u" in
      *@.service) echo "unit_template=$u" ;;
      *) echo "unit=$u|$(systemctl show -p Environment -p ExecStart --value "$u" 2>/dev/null \
                         | tr '\n|' '  ')" ;;
    esac
  done
fi
if command -v pg_lsclusters >/dev/null 2>&1; then
  pg_lsclusters -h 2>/dev/null | while read -r ver name port status owner data log; do
    echo "cluster=$ver|$name|$port|$status|$data|$log"
    echo "postmaster=$data|$(unit_of "$data")"
  done
fi
for d in {datas}; do
  [ -f "$d/PG_VERSION" ] || continue
  echo "datadir=$d|$(cat "$d/PG_VERSION")"
  echo "postmaster=$d|$(unit_of "$d")"
done
for b in {bins}; do [ -x "$b/pg_ctl" ] && echo "bindir=$b"; done
ip -o addr show scope global 2>/dev/null | while read -r n dev fam addr rest; do echo "address=${{addr%/*}}"; done
exit 0
"""


def parse_facts(text):
    """key=value lines -> dict; repeated keys become lists."""
    facts = {"cluster": [], "datadir": [], "bindir": [], "address": [], "unit": [],
             "unit_template": [], "postmaster": []}
    for line in text.splitlines():
        key, sep, value = line.strip().partition("=")
        if not sep:
            continue
        if key in facts:
            facts[key].append(value)
        else:
            facts[key] = value
    return facts


@dataclass(frozen=True)
class Layout:
    kind: str            # debian | generic
    major: int           # versions.major_num style
    data_dir: str
    config_dir: str
    bin_dir: str
    port: int
    cluster: str = ""    # debian cluster name
    log_file: str = ""
    socket_dir: str = "/var/run/postgresql"
    service: str = ""    # the systemd unit that runs the server, where one does

    @property
    def version(self):
        return versions.label(self.major)

    @property
    def config_file(self):
        return f"{self.config_dir}/postgresql.conf"

    @property
    def hba_file(self):
        return f"{self.config_dir}/pg_hba.conf"

    @property
    def dropin(self):
        """The file the tool owns for its settings, or None: a marked block then."""
        return f"{self.config_dir}/conf.d/{DROPIN_NAME}" if self.kind == "debian" else None

    @property
    def own_config_files(self):
        """Config files inside the data directory that belong to each host."""
        return GENERIC_CONFIG_FILES if self.kind == "generic" else ()

    def pg(self, program):
        return f"{self.bin_dir}/{program}"

    def control(self, action, direct=False):
        """(command, user) that starts, stops or restarts the server.

        Start does not wait: a standby waiting for WAL looks like a failed
        start, so callers poll the server instead of trusting the exit code.
        direct: bypass the service manager (a server running outside its unit,
        which systemctl cannot stop).
        """
        if self.service and not direct:
            # --no-block: a standby waiting for WAL would hold the unit's start.
            block = " --no-block" if action == "start" else ""
            return f"systemctl{block} {action} {shlex.quote(self.service)}", "root"
        if self.kind == "debian":
            # Under systemd, pg_ctlcluster hands over to systemctl unless told not to.
            skip = "--skip-systemctl-redirect " if self.service else ""
            command = f"pg_ctlcluster {skip}{self.version} {shlex.quote(self.cluster)} {action}"
            if action == "start":
                # pg_ctlcluster waits for the socket even with pg_ctl's -W, and a
                # fresh standby has none until the primary sends WAL: detach it.
                return f"setsid -f {command} >/dev/null 2>&1 </dev/null", "root"
            return f"{command} -m fast", "root"
        opts = {"start": f"-W -l {shlex.quote(self.log_file)}", "stop": "-m fast -w -t 300",
                "restart": f"-m fast -W -l {shlex.quote(self.log_file)}"}[action]
        return f"{self.pg('pg_ctl')} {action} -D {shlex.quote(self.data_dir)} {opts}", "postgres"


def choose_layout(facts, settings):
    """Pick the cluster to work on from discovered facts and config overrides.

    settings: context.Settings (layout, cluster, data_directory, port, ...).
    """
    wanted = settings.layout or "auto"
    clusters = [c.split("|") for c in facts["cluster"]]
    if wanted in ("auto", "debian") and clusters:
        name = settings.cluster or ""
        chosen = [c for c in clusters if not name or c[1] == name]
        if not chosen:
            raise LayoutError(f"no Debian cluster named {name!r}: set hotstandby.cluster "
                              f"to one of {', '.join(c[1] for c in clusters)}")
        if len(chosen) > 1:
            raise LayoutError("several PostgreSQL clusters on this host: set hotstandby.cluster "
                              f"to one of {', '.join(c[0] + '/' + c[1] for c in chosen)}")
        ver, name, port, _status, data, log = chosen[0]
        major = versions.major_num(ver)
        service = settings.service or find_service(facts, data, f"postgresql@{ver}-{name}.service")
        return Layout("debian", major, data, f"/etc/postgresql/{ver}/{name}",
                      f"/usr/lib/postgresql/{ver}/bin", int(port), name, log, service=service)
    if wanted == "debian":
        raise LayoutError("no Debian cluster found (pg_lsclusters lists none): "
                          "set hotstandby.layout to generic")
    datas = [d.split("|") for d in facts["datadir"]]
    if not datas:
        raise LayoutError("no PostgreSQL data directory found: install PostgreSQL or set "
                          "hotstandby.data_directory")
    data, ver = datas[0]
    major = versions.major_num(ver)
    label = versions.label(major)
    versioned = [b for b in facts["bindir"] if b.endswith((f"/{label}/bin", f"-{label}/bin"))]
    bin_dir = settings.bin_directory or (versioned or facts["bindir"] or [None])[0]
    if not bin_dir:
        raise LayoutError(f"no pg_ctl found for PostgreSQL {label}: set hotstandby.bin_directory")
    log_file = settings.log_file or f"{data.rsplit('/', 1)[0]}/postgresql.log"
    return Layout("generic", major, data, data, bin_dir, int(settings.port or 5432),
                  "", log_file, service=settings.service or find_service(facts, data))


def find_service(facts, data_dir, debian_unit=None):
    """The systemd unit that runs the server in data_dir, or '' (no systemd,
    or no unit for it).  Unit names are checked, never taken on trust."""
    if facts.get("systemd") != "yes":
        return ""
    running = dict(p.split("|", 1) for p in facts["postmaster"] if "|" in p).get(data_dir, "")
    if UNIT_NAME.fullmatch(running) and running.startswith("postgresql") \
            and running not in NOT_A_SERVICE:
        return running
    for line in facts["unit"]:
        name, _, text = line.partition("|")
        if UNIT_NAME.fullmatch(name) and unit_data_dir(text) == data_dir:
            return name
    if debian_unit and "postgresql@.service" in facts["unit_template"]:
        return debian_unit
    return ""


def unit_data_dir(text):
    """The data directory a unit's Environment and ExecStart (systemctl show)
    give: PGDATA=..., else postgres/pg_ctl's -D argument."""
    match = re.search(r"(?:^|\s)PGDATA=(/\S+)", text) or re.search(r"\s-D\s+(/\S+)", text)
    return match.group(1).rstrip("/") if match else ""
