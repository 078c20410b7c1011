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
from dataclasses import dataclass

from . import shell
from . import values, versions

DROPIN_NAME = "pg-hotstandby.conf"
GENERIC_CONFIG_FILES = ("postgresql.conf", "pg_hba.conf", "pg_ident.conf")


class LayoutError(Exception):
    pass


# Shell: the systemd unit a data directory's running postmaster belongs to
# (its cgroup, v1 or v2), or nothing.
UNIT_OF_POSTMASTER = shell.Command(r"""unit_of() {
  pid=$(head -1 "$1/postmaster.pid" 2>/dev/null) && [ -n "$pid" ] || return 0
  sed -n 's/^[0-9]*:name=systemd://p; s/^0:://p' "/proc/$pid/cgroup" 2>/dev/null \
    | head -1 | sed 's|.*/||'
}""")
# Units a server's postmaster may run under that are not its service.
NOT_A_SERVICE = ("ssh.service", "sshd.service", "cron.service")


def discovery_script(data_dir_candidates, bin_dir_candidates):
    """Shell script printing the facts about PostgreSQL on a host, one
    `key=value` line each, fields split by `|`.  Free text (a file's contents,
    a unit's settings) is folded onto its line, so a host cannot add lines."""
    return shell.sh("""
{unit_of}
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
  [ -f "$d/PG_VERSION" ] && [ ! -L "$d/PG_VERSION" ] || continue
  echo "datadir=$d|$(runuser -u postgres -- head -c 64 "$d/PG_VERSION" 2>/dev/null | tr '\n' ' ')"
  echo "postmaster=$d|$(unit_of "$d")"
done
for b in {bins}; do [ -x "$b/pg_ctl" ] && echo "bindir=$b"; done
ip -o addr show scope global 2>/dev/null | while read -r n dev fam addr rest; do echo "address=${{addr%/*}}"; done
exit 0
""", unit_of=UNIT_OF_POSTMASTER, datas=list(data_dir_candidates),
        bins=[shell.glob(b) for b in bin_dir_candidates])


def _cluster(value):
    ver, name, port, status, data, log = _fields(value, 6)
    try:   # a log that is not a plain absolute path (syslog, relative) is not read
        log = values.path(log, "log") if log else ""
    except values.BadValue:
        log = ""
    if not re.fullmatch(r"[a-z,]+", status):
        raise values.BadValue(f"cluster status {status!r} is not pg_lsclusters'")
    return (values.version(ver, "cluster version"), values.cluster(name, "cluster name"),
            values.port(port, "cluster port"), status, values.path(data, "data directory"),
            log)


def _datadir(value):
    data, ver = _fields(value, 2)
    return values.path(data, "data directory"), values.version(ver.strip(), "PG_VERSION")


def _postmaster(value):
    data, unit = _fields(value, 2)
    # The cgroup's last part: a scope or another unit is simply not a service.
    return values.path(data, "data directory"), unit if values.UNIT.fullmatch(unit) else ""


def _unit(value):
    name, sep, text = value.partition("|")
    return values.unit(name, "unit"), text


def _fields(value, count):
    parts = value.split("|")
    if len(parts) != count:
        raise values.BadValue(f"{count} fields expected")
    return parts


def _flag(value):
    if value != "yes":
        raise values.BadValue("yes expected")
    return value


# How each fact is read; a list fact may appear on several lines.
FACTS = {
    "home": (False, lambda v: values.path(v, "home") if v else ""),
    "rsync": (False, _flag),
    "systemd": (False, _flag),
    "unit_template": (True, lambda v: values.unit(v, "unit")),
    "unit": (True, _unit),
    "cluster": (True, _cluster),
    "datadir": (True, _datadir),
    "postmaster": (True, _postmaster),
    "bindir": (True, lambda v: values.path(v, "bin directory")),
    "address": (True, lambda v: values.address(v, "address")),
}


def parse_facts(text):
    """The discovery script's lines -> {key: value or [values]}, each value
    checked; any other line, or a value that fails its check, is a
    LayoutError: a host's answer is never taken on trust."""
    facts = {key: [] for key, (many, _read) in FACTS.items() if many}
    for line in text.splitlines():
        key, sep, value = line.partition("=")
        if key not in FACTS or not sep:
            raise LayoutError(f"unexpected line from the discovery script: {line[:60]!r}")
        many, read = FACTS[key]
        try:
            checked = read(value)
        except values.BadValue as exc:
            raise LayoutError(f"refused the host's {key} fact {value[:60]!r}: {exc}") from None
        if many:
            facts[key].append(checked)
        else:
            facts[key] = checked
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
            return shell.sh(f"systemctl{block} {{action}} {{unit}}", action=action,
                            unit=self.service), "root"
        if self.kind == "debian":
            # Under systemd, pg_ctlcluster hands over to systemctl unless told not to.
            skip = "--skip-systemctl-redirect " if self.service else ""
            command = shell.sh(f"pg_ctlcluster {skip}{{version}} {{cluster}} {{action}}",
                               version=self.version, cluster=self.cluster, action=action)
            if action == "start":
                # pg_ctlcluster waits for the socket even with pg_ctl's -W, and a
                # fresh standby has none until the primary sends WAL: detach it.
                return shell.sh("setsid -f {command} >/dev/null 2>&1 </dev/null",
                                command=command), "root"
            return shell.sh("{command} -m fast", command=command), "root"
        opts = {"start": "-W -l {log}", "stop": "-m fast -w -t 300",
                "restart": "-m fast -W -l {log}"}[action]
        return shell.sh("{pg_ctl} {action} -D {data} " + opts, pg_ctl=self.pg("pg_ctl"),
                        action=action, data=self.data_dir, log=self.log_file), "postgres"


    def kept_down(self):
        """[(command, user, what it does)] that keep the server from starting
        at boot while leaving it startable by hand: Debian's start.conf
        `manual` (read by its systemd generator and init script; written as
        postgres, whose file it is) and the unit disabled where one runs it."""
        steps = []
        if self.kind == "debian":
            steps.append((shell.sh("printf 'manual\\n' > {path}",
                                   path=f"{self.config_dir}/start.conf"), "postgres",
                          "start.conf manual"))
        if self.service:
            steps.append((shell.sh("systemctl disable --quiet {unit}", unit=self.service),
                          "root", f"{self.service} disabled"))
        return steps


def choose_layout(facts, settings):
    """Pick the cluster to work on from discovered facts and config overrides.

    settings: context.Settings (layout, cluster, data_directory, port, ...).
    """
    wanted = settings.layout or "auto"
    clusters = facts["cluster"]
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
                      f"/usr/lib/postgresql/{ver}/bin", port, name, log, service=service)
    if wanted == "debian":
        raise LayoutError("no Debian cluster found (pg_lsclusters lists none): "
                          "set hotstandby.layout to generic")
    datas = facts["datadir"]
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
    running = dict(facts["postmaster"]).get(data_dir, "")
    if running.startswith("postgresql") and running not in NOT_A_SERVICE:
        return running
    for name, text in facts["unit"]:
        if unit_data_dir(text) == data_dir:
            return name
    if debian_unit and "postgresql@.service" in facts["unit_template"]:
        return debian_unit
    return ""


def unit_data_dir(text):
    """The data directory a unit's Environment and ExecStart (systemctl show)
    give: PGDATA=..., else postgres/pg_ctl's -D argument."""
    match = re.search(r"(?:^|\s)PGDATA=(/\S+)", text) or re.search(r"\s-D\s+(/\S+)", text)
    return match.group(1).rstrip("/") if match else ""
