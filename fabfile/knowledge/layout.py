"""Where a host keeps PostgreSQL, and how it is started and stopped.

Two layouts exist in the wild:
- debian: pg_createcluster clusters; configs in /etc/postgresql/V/C with a
  conf.d drop-in directory, data in /var/lib/postgresql/V/C, pg_ctlcluster
  (which hands over to systemctl where systemd runs it).
- generic: RHEL packages, source builds, `pg_ctl -D`: the configs live in the
  data directory, which rsync must then leave alone on the standby.  Where
  systemd runs the server, name its unit (`service`) and systemctl is used.

`discovery_script()` gathers the facts in one SSH round trip, `parse_facts()`
reads them and `choose_layout()` turns them into a `Layout`.  All pure.
"""
import shlex
from dataclasses import dataclass

from . import versions

DROPIN_NAME = "pg-hotstandby.conf"
GENERIC_CONFIG_FILES = ("postgresql.conf", "pg_hba.conf", "pg_ident.conf")


class LayoutError(Exception):
    pass


def discovery_script(data_dir_candidates, bin_dir_candidates):
    """Shell script printing key=value facts about PostgreSQL on a host."""
    datas = " ".join(shlex.quote(d) for d in data_dir_candidates)
    bins = " ".join(bin_dir_candidates)  # globs: left unquoted on purpose
    return f"""
echo "home=$(getent passwd postgres | cut -d: -f6)"
command -v rsync >/dev/null 2>&1 && echo "rsync=yes"
command -v systemctl >/dev/null 2>&1 && [ -d /run/systemd/system ] && echo "systemd=yes"
if command -v pg_lsclusters >/dev/null 2>&1; then
  pg_lsclusters -h 2>/dev/null | while read -r ver name port status owner data log; do
    echo "cluster=$ver|$name|$port|$status|$data|$log"
  done
fi
for d in {datas}; do [ -f "$d/PG_VERSION" ] && echo "datadir=$d|$(cat "$d/PG_VERSION")"; done
for b in {bins}; do [ -x "$b/pg_ctl" ] && echo "bindir=$b"; done
ip -o addr show scope global 2>/dev/null | while read -r n dev fam addr rest; do echo "address=${{addr%/*}}"; done
exit 0
"""


def parse_facts(text):
    """key=value lines -> dict; repeated keys become lists."""
    facts = {"cluster": [], "datadir": [], "bindir": [], "address": []}
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
    service: str = ""    # generic layout run by systemd: the unit's name

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

    def control(self, action):
        """(command, user) that starts, stops or restarts the server.

        Start does not wait: a standby waiting for WAL looks like a failed
        start, so callers poll the server instead of trusting the exit code.
        """
        if self.kind == "debian":
            command = f"pg_ctlcluster {self.version} {shlex.quote(self.cluster)} {action}"
            if action == "start":
                # pg_ctlcluster waits for the socket even with pg_ctl's -W, and a
                # fresh standby has none until the primary sends WAL: detach it.
                return f"setsid -f {command} >/dev/null 2>&1 </dev/null", "root"
            return f"{command} -m fast", "root"
        if self.service:
            # --no-block: a standby waiting for WAL would hold a notify unit's start.
            block = " --no-block" if action == "start" else ""
            return f"systemctl{block} {action} {shlex.quote(self.service)}", "root"
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
        return Layout("debian", major, data, f"/etc/postgresql/{ver}/{name}",
                      f"/usr/lib/postgresql/{ver}/bin", int(port), name, log)
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
                  "", log_file, service=settings.service or "")
