"""The `hotstandby` settings, declared once: `TABLE`, one `Setting` a line
(name, default, shape, help, check).  From it come

- the collection's defaults (`defaults()`, given to `ns.configure`: Invoke maps
  a FABRIC_HOTSTANDBY_* variable only onto a key that has a default);
- the checks: `check_source` (the keys and shapes of one config source, before
  Invoke merges it: a value of another shape cannot reach Invoke's merge) and
  `validate` (the merged section: shapes, then each setting's check);
- the frozen `Settings` (`Settings.from_config`) and, in context.py, the task
  flags' fallbacks (`Options`) and, in tasks.py, their --help texts;
- docs/settings.md (docs.py: `python3 -m fabfile.docs > docs/settings.md`).

Pure: no host, no Fabric or Invoke here (the executor hands in the sources).
"""
import difflib
import ipaddress
import re
from collections.abc import Mapping
from dataclasses import dataclass, field, fields, make_dataclass
from pathlib import Path

from .knowledge import shell
from .knowledge import fanout, tablespaces, tls, topology, transfer, values
from .steps.methods import METHODS

ENV_PREFIX = "FABRIC_"   # fab's: FABRIC_HOTSTANDBY_TLS_MODE is hotstandby.tls.mode


class SettingsError(ValueError):
    pass


class Invalid(ValueError):
    """A check's fault: the fix, said after `hotstandby.<name> = <value>:`."""


@dataclass(frozen=True)
class Setting:
    name: str          # under hotstandby; a dotted name is in a group: "tls.mode"
    default: object    # a list: a list setting; a dict: a mapping; else one value
    shape: str         # what a value is, said when one of another shape is given
    help: str          # what it is: docs/settings.md, and the task flag's --help
    check: object = None   # check(value): raise Invalid(fix), or SettingsError
    more: str = ""     # the rest of what docs/settings.md says of it
    internal: bool = False   # set by the tool itself, not documented
    entries: tuple = ()      # a mapping of names to entries: the Settings of one entry

    @property
    def kind(self):
        if isinstance(self.default, (list, tuple)):
            return "list"
        return "mapping" if isinstance(self.default, dict) else "value"


# ---- checks: each raises Invalid(fix), or SettingsError with a whole message

def pattern(regex, fix, required=False):
    """A value of the pattern; empty (null) allowed unless required."""
    def check(value):
        text = "" if value is None else str(value)
        if (required or value is not None) and not re.fullmatch(regex, text):
            raise Invalid(fix)
    return check


def one_of(choices, fix=None):
    def check(value):
        if value not in choices:
            raise Invalid(fix or "use " + ", ".join(c for c in choices if c is not None))
    return check


def parsed(parse):
    """A value the copy's own parser (knowledge/transfer.py, fanout.py) reads."""
    def check(value):
        try:
            parse(value)
        except (transfer.BadValue, fanout.BadValue) as exc:
            raise Invalid(str(exc)) from None
    return check


def port(value):
    if not (isinstance(value, int) and 0 < value < 65536):
        raise Invalid("use a TCP port number")


def number(above=None, least=None, unit="seconds"):
    def check(value):
        if not (isinstance(value, (int, float))
                and (above is None or value > above) and (least is None or value >= least)):
            raise Invalid(f"use a number of {unit} above {above}" if above is not None
                          else f"use a number of {unit}, {least} or more")
    return check


def share(value):
    if not (value == "off" or (isinstance(value, (int, float)) and not isinstance(value, bool)
                               and 0 < value < 1)):
        raise Invalid("use a fraction such as 0.5, or off")


def path(value):
    """Values that reach a root shell or a config file on the hosts: plain
    paths only (the shell layer quotes them too)."""
    if value is not None:
        try:
            values.path(value, "")
        except values.BadValue:
            raise Invalid("use an absolute path of letters, digits and ._@%+:-") from None


def each(test, fix):
    def check(value):
        if not all(test(str(item)) for item in value or ()):
            raise Invalid(fix)
    return check


def hosts(value):
    for name in value if isinstance(value, (list, tuple)) else [value]:
        if name is not None:
            try:
                values.host(name, "host")
            except values.BadValue as exc:
                raise SettingsError(str(exc)) from None


def addresses(value):
    for host, address in value.items():
        try:
            ipaddress.ip_address(str(address))
        except ValueError:
            raise SettingsError(f"hotstandby.addresses.{host} = {address!r}: use an IPv4 or "
                                "IPv6 address") from None


def duration(value):
    if value is not None:
        try:
            topology.duration_ms(value)
        except ValueError as exc:
            raise Invalid(str(exc)) from None


def upstream(value):
    if value is not None:
        try:
            values.host(value, "upstream")
        except values.BadValue as exc:
            raise Invalid(str(exc).partition(": ")[2]) from None


def run_topology(section):
    """The per-host settings against this run's hosts (-H, else primary and
    standbys): an upstream among the standbys, no cycle."""
    names = topology.host_names(section["cli_hosts"], section["primary"], section["standbys"])
    # Fewer than two, or one given twice: hosts/cluster.py roles() says what is wrong.
    if len(names) >= 2 and len(set(names)) == len(names):
        try:
            topology.make(names[0], names[1:], section["hosts"])
        except topology.TopologyError as exc:
            raise SettingsError(str(exc)) from None


def tablespace_paths(value):
    for old, new in value.items():
        for place in (old, new):
            try:
                tablespaces.check_path(str(place), f"hotstandby.tablespace_mapping.{old}")
            except tablespaces.TablespaceError as exc:
                raise SettingsError(str(exc)) from None


def password(value):
    if value is not None and (not isinstance(value, str) or not value or "\n" in value):
        raise SettingsError("hotstandby.replication_password: use a non-empty one-line "
                            "string, or leave it empty to have one generated")


def pem(name, check):
    """A file of the user's own PKI: readable on this machine, and what it
    claims to be (read here, before any host)."""
    def read(value):
        if not value:
            return
        try:
            text = Path(str(value)).expanduser().read_text()
        except (OSError, UnicodeDecodeError) as exc:
            raise SettingsError(f"hotstandby.tls.{name} = {value!r}: cannot read it "
                                f"({exc.__class__.__name__}): name a PEM file on this "
                                "machine") from None
        try:
            check(text, f"hotstandby.tls.{name} ({value})")
        except tls.TlsError as exc:
            raise SettingsError(str(exc)) from None
    return read


def cert_with_key(section):
    tls_ = section["tls"]
    if bool(tls_.get("cert_file")) != bool(tls_.get("key_file")):
        raise SettingsError("hotstandby.tls: give cert_file and key_file together (the "
                            "primary's certificate and its key), or neither")


PATH = "an absolute path"
SECONDS = "a number of seconds above 0"
CANDIDATE = "list absolute paths of letters, digits and ._@%+:-"

TABLE = (
    Setting("primary", None, "a host name",
            "the primary when no -H is given (with -H the first host is the primary)",
            hosts),
    Setting("standbys", [], "a list of host names",
            "the standbys when no -H is given (with -H every host after the first)", hosts),
    Setting("cli_hosts", [], "a list of host names", "-H, in order (set by executor.py)",
            hosts, internal=True),
    Setting("replication_role", "replicator", "a role name",
            "the role the standbys connect as",
            pattern(r"[a-z_][a-z0-9_]{0,62}",
                    "use a plain role name (lower case letters, digits, _)", required=True)),
    Setting("replication_password", None, "a password",
            "the replication role's password",
            password, more="Left empty, a random password is made once and kept in each "
            "standby's passfile; a rerun reuses it (only if it has the shape the tool makes: "
            "a standby can write its passfile)."),
    Setting("auth_method", None, "scram-sha-256 or md5",
            "how the primary checks the replication role's password: scram-sha-256 or md5",
            one_of((None, "scram-sha-256", "md5"),
                   "use scram-sha-256 or md5 (trust and password are refused)"),
            more="Empty: scram-sha-256 (md5 where the server predates 10)."),
    Setting("listen_addresses", "*", "* or host names and addresses, comma-separated",
            "where the primary listens (PostgreSQL's listen_addresses)",
            pattern(r"[A-Za-z0-9.:*, _-]+",
                    "use * or host names and addresses, comma-separated")),
    Setting("layout", "auto", "auto, debian or generic",
            "where PostgreSQL lives: auto, debian or generic",
            one_of(("auto", "debian", "generic"), "use auto, debian or generic"),
            more="`auto` finds a Debian cluster (pg_lsclusters) and otherwise a data "
            "directory that holds its own configs (generic layout)."),
    Setting("cluster", None, "a Debian cluster name",
            "the Debian cluster's name when a host has several",
            pattern(values.CLUSTER.pattern, "use a Debian cluster name (letters, digits, ._-)")),
    Setting("data_directory", None, PATH,
            "generic layout: the data directory (skips the search below)", path),
    Setting("data_directory_candidates",
            ["/var/lib/pgsql/data", "/var/lib/pgsql/18/data", "/var/lib/pgsql/17/data",
             "/var/lib/pgsql/16/data", "/var/lib/pgsql/15/data", "/var/lib/pgsql/14/data",
             "/var/lib/pgsql/13/data", "/usr/local/pgsql/data"],
            "a list of absolute paths",
            "generic layout: where to look for a data directory that holds its own configs",
            each(values.SAFE_PATH.fullmatch, CANDIDATE)),
    Setting("bin_directory", None, PATH,
            "generic layout: the directory of pg_ctl and the other programs (skips the "
            "search below)", path),
    Setting("bin_directory_candidates",
            ["/usr/lib/postgresql/*/bin", "/usr/pgsql-*/bin", "/usr/local/pgsql/bin"],
            "a list of absolute paths",
            "where to look for PostgreSQL's programs (the wildcards * ? allowed)",
            each(shell.GLOB.fullmatch, "list absolute paths of letters, digits, ._- and the "
                                       "wildcards * ?")),
    Setting("port", 5432, "a TCP port number",
            "generic layout: the server's port (Debian clusters report their own)", port),
    Setting("log_file", None, PATH,
            "generic layout: the server's log file", path,
            more="Empty: `<data dir>/../postgresql.log`."),
    Setting("service", None, "a systemd unit name",
            "the systemd unit that runs PostgreSQL, e.g. postgresql-15.service",
            pattern(r"[A-Za-z0-9@._:-]+", "use a systemd unit name"),
            more="Empty: found on the host (the running server's unit, else an installed "
            "unit for its data directory, else Debian's postgresql@V-C); none without "
            "systemd."),
    Setting("addresses", {}, "a mapping of host names to addresses",
            "the address each host is reached at by the others, by host name as given to -H",
            addresses, more="Empty: found on the hosts (the primary's address the standby "
            "routes to directly; the standby's source address towards it)."),
    Setting("hosts", {}, "a mapping of host names to per-host settings",
            "settings of one host, by its name as given to -H", entries=(
                Setting("upstream", None, "a host name",
                        "another standby this standby copies from and streams from "
                        "(cascading)", upstream,
                        more="Empty, or the primary's name: the primary.  The upstream serves "
                        "TLS with a certificate of its own, which this standby pins, and "
                        "holds its slot; it is set up first.  Ignored while the host is the "
                        "primary."),
                Setting("apply_delay", None, "a duration such as 1h",
                        "a delayed standby: how long it waits before replaying what it "
                        "received (recovery_min_apply_delay), e.g. 30min, 1h, 2d", duration,
                        more="It receives WAL at once (its slot holds nothing back for the "
                        "delay); `status` shows the delay and does not count the intended "
                        "replay lag as a problem.  Empty or 0: none."))),
    Setting("ssh_port", 22, "a TCP port number",
            "copy: the sshd port the primary uses to reach each standby", port),
    Setting("sync_identity_file", None, PATH,
            "copy: a key file on the primary to log in to the standbys with, as the guide "
            "does", path, more="Empty: a temporary key (postgres to postgres) is authorized "
            "for the copy, confined to rsync into the copy's directories from the primary, "
            "and removed after it."),
    Setting("sync_user", "root", "a user name",
            "copy: the user the primary logs in as with sync_identity_file",
            pattern(r"[a-z_][a-z0-9_-]{0,31}", "use a user name")),
    Setting("max_slot_wal_keep_size", None, "a size such as 10GB",
            "the most WAL a standby's slot may hold on the primary (13+), e.g. 10GB",
            pattern(r"-1|\d+(kB|MB|GB|TB)?",
                    "use a size such as 10GB (MB when no unit), or -1 for no limit"),
            more="A standby down for longer then needs a resync, but cannot fill the "
            "primary's disk.  Empty: derived from the free space (`wal_guard.share`); -1: "
            "no limit."),
    Setting("wal_guard.share", 0.5, "a fraction above 0 and below 1, or off",
            "without max_slot_wal_keep_size: the share of the free space on each host's WAL "
            "file system that its slots may fill (13+)",
            share, more="Each time the tool configures a host it reads that file system's free "
            "space (plus the WAL already there) and sets max_slot_wal_keep_size to three "
            "quarters of this share of it; a value it set before is kept while it stays "
            "between half the share and the whole share (a rerun rewrites nothing).  A standby down for longer then needs a resync, but "
            "cannot fill the disk.  A max_slot_wal_keep_size set in the server's own "
            "postgresql.conf is kept."),
    Setting("wal_guard.idle_timeout", None, "a duration such as 2d",
            "18+: a slot unused for longer than this is invalidated "
            "(idle_replication_slot_timeout)",
            pattern(r"\d+(s|min|h|d)?", "use a duration such as 2d, 12h or 90min (seconds "
                                         "when no unit)")),
    Setting("tablespace_mapping", {},
            "a mapping of tablespace locations on the primary to paths on the standbys",
            "where each tablespace outside the data directory lands on the standbys: "
            "{location on the primary: path on the standbys}", tablespace_paths,
            more="A tablespace not mapped lands at the same location."),
    Setting("method", "auto", "a copy method (" + ", ".join(METHODS) + ")",
            "how to copy a running primary: " + "; ".join(
                f"{m.name} ({m.help})" for m in reversed(METHODS.values())),
            one_of(METHODS), more="A primary already stopped is always copied cold.  "
            "docs/performance.md.  Also `--method`."),
    Setting("compress", "auto", "none, lz4, zstd, zstd:LEVEL or auto",
            "compress each copy: none, lz4, zstd, zstd:LEVEL or auto (where the copying "
            "program can: pg_basebackup from 15, rsync 3.2 on both hosts)",
            parsed(transfer.parse_compress),
            more="auto: zstd level 1 where the copy can compress; LEVEL: 1-19.  "
            "pg_basebackup compresses on the primary's server from PostgreSQL 15; rsync when "
            "both hosts' rsync is 3.2 or later; elsewhere the copy is not compressed, and plan "
            "says why (docs/performance.md).  Also `--compress`."),
    Setting("max_rate", None, "a rate in kB/s such as 50M",
            "cap each copy's rate on the wire, kB/s with k or M (e.g. 50M)",
            parsed(transfer.parse_rate),
            more="1024 based, as pg_basebackup's --max-rate reads it (rsync gets it as "
            "--bwlimit), so that a copy does not starve the primary's other traffic.  From "
            "32k to 1024M; empty: no cap.  Also `--max-rate`."),
    Setting("fan_out", "auto", "auto or off",
            "auto (basebackup, 3 standbys or more: in waves, each finished copy and the "
            "primary copy to one more standby each) or off (all from the primary)",
            parsed(fanout.parse),
            more="auto copies the first standby from the primary, then in waves each standby "
            "whose copy is finished and the primary copy to one more standby each (rsync "
            "over a confined SSH login from a standby): 3 standbys in 2 waves, the primary "
            "sending 2 copies, not 3; a copy whose source fails is made from the primary.  "
            "off (and fewer standbys): every standby from the primary, at once.  Also "
            "`--fan-out`."),
    Setting("tls.mode", "verify", "verify, verify-ca, require or off",
            "the replication link's security: verify, verify-ca, require or off",
            one_of(tls.MODES),
            more="verify: the primary serves TLS, with a certificate the tool makes unless "
            "it has its own (not Debian's snakeoil), and each standby pins it (sslmode "
            "verify-full; verify-ca only where the pin is that self-signed certificate "
            "itself); verify-ca: the same, the name not checked, for your own CA's "
            "certificates that do not name the address; require: encrypted, the primary not "
            "checked; off: libpq's default (not checked, may be clear text).  "
            "docs/security.md, \"Transport security\"."),
    Setting("tls.ca_file", None, PATH,
            "your own PKI: the CA certificate the standbys pin instead of the primary's "
            "certificate (a PEM file on this machine)", pem("ca_file", tls.certificates)),
    Setting("tls.cert_file", None, PATH,
            "your own PKI: the primary's certificate (a PEM file on this machine, with "
            "key_file)", pem("cert_file", tls.certificates)),
    Setting("tls.key_file", None, PATH,
            "your own PKI: the primary's key (a PEM file on this machine, with cert_file)",
            pem("key_file", tls.check_key)),
    Setting("backup_dir", "/var/backups/pg-hotstandby", PATH,
            "where each host keeps the previous version of every config file the tool "
            "changes", path),
    Setting("force", False, "true or false",
            "replace a standby's data directory even when it holds another cluster's "
            "databases (it is moved aside, not deleted)", more="Also `--force`."),
    Setting("status.warn_lag_bytes", 16777216, "a number of bytes, 0 or more",
            "a standby further behind than this many bytes is a warning",
            number(least=0, unit="bytes"),
            more="`status` exits 1.  The default is one WAL segment.  Also `status "
            "--warn-lag-bytes`."),
    Setting("status.warn_lag_seconds", 30, "a number of seconds, 0 or more",
            "a standby replaying later than this many seconds is a warning",
            number(least=0), more="`status` exits 1.  Also `status --warn-lag-seconds`."),
    Setting("switchover.max_lag_bytes", 16777216, "a number of bytes, 0 or more",
            "the most WAL the standby to promote may have left to replay",
            number(least=0, unit="bytes"),
            more="`switchover` refuses a standby further behind before anything changes: "
            "what it has to replay lengthens the write outage.  The default is one WAL "
            "segment."),
    Setting("switchover.max_lag_seconds", 10, "a number of seconds, 0 or more",
            "the most replay lag (seconds) the standby to promote may have",
            number(least=0), more="`switchover` refuses it before anything changes."),
    Setting("timeouts.start", 120, SECONDS,
            "seconds for a server to accept connections", number(above=0)),
    Setting("timeouts.stream", 60, SECONDS,
            "seconds for rows to reach the standbys (the smoke test)", number(above=0)),
    Setting("timeouts.watchdog", 60, SECONDS,
            "seconds the primary stays stopped if the run dies meanwhile", number(least=10),
            more="While a run has the primary stopped (rsync-cold, rejoin --resync, a switchover), a "
            "watchdog on the primary's host starts it again once the run has not been heard "
            "from for this long: a control machine that dies, or a `kill -9` of fab, does "
            "not leave it down."),
)
RULES = (cert_with_key, run_topology)   # checks of several settings, after each one's own
BY_NAME = {s.name: s for s in TABLE}
GROUPS = {}   # "tls": ("mode", "ca_file", ...)
for _s in TABLE:
    if "." in _s.name:
        _group, _leaf = _s.name.split(".")
        GROUPS[_group] = (*GROUPS.get(_group, ()), _leaf)


def setting(name):
    return BY_NAME[name]


def help_of(name):
    """A setting's help: the words of a task flag that falls back to it."""
    return BY_NAME[name].help


def defaults():
    """The `hotstandby` section of the collection's config: every user
    setting with its default (fresh lists and dicts), groups nested."""
    section = {}
    for s in TABLE:
        if s.internal:
            continue
        value = _copy(s.default)
        if "." in s.name:
            group, leaf = s.name.split(".")
            section.setdefault(group, {})[leaf] = value
        else:
            section[s.name] = value
    return section


def _copy(value):
    return list(value) if isinstance(value, (list, tuple)) else \
        dict(value) if isinstance(value, dict) else value


# ---- shapes and names

def _is_mapping(value):
    return isinstance(value, Mapping) or hasattr(value, "items")


def _kind(value):
    if _is_mapping(value):
        return "mapping"
    return "list" if isinstance(value, (list, tuple)) else "value"


def describe(value):
    """What a value is, in an error: a mapping, a list, or the value as YAML writes it."""
    kind = _kind(value)
    if kind != "value":
        return f"a {kind}"
    if value is None:
        return "null"
    return str(value).lower() if isinstance(value, bool) else repr(value)


def _group_shape(group):
    leaves = GROUPS[group]
    return "a mapping of " + ", ".join(leaves[:-1]) + " and " + leaves[-1]


def _unknown(where, key, known, choices=None):
    near = difflib.get_close_matches(str(key), [k for k in known if k != key], n=1,
                                     cutoff=0.6)
    fix = (f"did you mean {near[0]}?" if near else
           "use " + ", ".join(choices[:-1]) + " or " + choices[-1] if choices else
           "docs/settings.md lists the settings")
    return SettingsError(f"{where}.{key}: unknown setting: {fix}")


def _fits(s, value):
    """Whether a value has the setting's shape: a list (or null) for a list, a
    mapping for a mapping, neither for a single value."""
    kind = _kind(value)
    if s.kind == "list":
        return kind == "list" or value is None
    return kind == s.kind


def check_source(section):
    """The keys and shapes of one source's `hotstandby` section (a config file,
    or the merged config): SettingsError naming the first key the table does
    not know (and the nearest one it knows) or the first value of another
    shape.  What passes merges with the defaults as Invoke merges: a mapping
    only onto a mapping, a list or a single value only onto one."""
    if not _is_mapping(section):
        raise SettingsError(f"hotstandby: a mapping of settings expected, got "
                            f"{describe(section)}")
    known = [*GROUPS, *(s.name for s in TABLE if not s.internal)]
    for key, value in section.items():
        if key in GROUPS:
            if not _is_mapping(value):
                raise SettingsError(f"hotstandby.{key}: {_group_shape(key)} expected, got "
                                    f"{describe(value)}")
            for leaf, leaf_value in value.items():
                s = BY_NAME.get(f"{key}.{leaf}")
                if s is None:
                    raise _unknown(f"hotstandby.{key}", leaf, GROUPS[key], GROUPS[key])
                _check_shape(s, leaf_value)
            continue
        s = BY_NAME.get(key)
        if s is None or "." in str(key):
            raise _unknown("hotstandby", key, known)
        _check_shape(s, value)
        if s.entries:
            _check_entries(s, value)


def _check_entries(s, value):
    """A mapping of names (hosts) to entries, each a mapping of s.entries."""
    leaves = [e.name for e in s.entries]
    for name, entry in value.items():
        where = f"hotstandby.{s.name}.{name}"
        try:
            values.host(name, f"hotstandby.{s.name}: host name")
        except values.BadValue as exc:
            raise SettingsError(str(exc)) from None
        if not _is_mapping(entry):
            raise SettingsError(f"{where}: a mapping of {', '.join(leaves[:-1])} and "
                                f"{leaves[-1]} expected, got {describe(entry)}")
        for leaf, leaf_value in entry.items():
            e = next((e for e in s.entries if e.name == leaf), None)
            if e is None:
                raise _unknown(where, leaf, leaves, leaves)
            if not _fits(e, leaf_value):
                raise SettingsError(f"{where}.{leaf}: {e.shape} expected, got "
                                    f"{describe(leaf_value)}")


def _check_shape(s, value):
    if not _fits(s, value):
        raise SettingsError(f"hotstandby.{s.name}: {s.shape} expected, got {describe(value)}")


def check_environment(section, environ, prefix=ENV_PREFIX):
    """The FABRIC_HOTSTANDBY_* variables Invoke is about to read into `section`
    (the merged config so far), as it casts them: to the type of the value
    each replaces.  A list cannot come from a variable, nor a word where a
    number is."""
    for s in TABLE:
        var = prefix + "HOTSTANDBY_" + s.name.replace(".", "_").upper()
        if var not in environ:
            continue
        group, _, leaf = s.name.rpartition(".")
        current = section.get(group, {}) if group else section
        old = current.get(leaf) if _is_mapping(current) else None
        raw = environ[var]
        if isinstance(old, (list, tuple)):
            raise SettingsError(f"hotstandby.{s.name}: {s.shape} expected, got {raw!r} from "
                                f"{var}: give a list in a config file")
        if isinstance(old, (int, float)) and not isinstance(old, bool):
            try:
                type(old)(raw)
            except ValueError:
                expected = "a whole number" if isinstance(old, int) else "a number"
                raise SettingsError(f"hotstandby.{s.name}: {expected} expected, got {raw!r} "
                                    f"from {var}") from None


def complete(section):
    """The section with each setting not given at its default (groups filled
    leaf by leaf); a plain nested copy."""
    result = {k: _copy(v) if not _is_mapping(v) else dict(v) for k, v in section.items()}
    for s in TABLE:
        group, _, leaf = s.name.rpartition(".")
        target = result.setdefault(group, {}) if group else result
        if leaf not in target:
            target[leaf] = _copy(s.default)
        if s.entries:
            target[leaf] = {name: {e.name: (entry or {}).get(e.name, e.default)
                                   for e in s.entries}
                            for name, entry in target[leaf].items()}
    return result


def validate(section):
    """Raise SettingsError naming the setting and the fix; return None when
    fine.  section: the `hotstandby` mapping (settings not given are at their
    defaults): its keys and shapes, then each setting's check, then RULES."""
    check_source(section)
    full = complete(section)
    for s in TABLE:
        group, _, leaf = s.name.rpartition(".")
        value = full[group][leaf] if group else full[leaf]
        _run_check(s, f"hotstandby.{s.name}", value)
        for name, entry in (value.items() if s.entries else ()):
            for e in s.entries:
                _run_check(e, f"hotstandby.{s.name}.{name}.{e.name}", entry[e.name])
    for rule in RULES:
        rule(full)


def _run_check(s, where, value):
    if s.check is None:
        return
    try:
        s.check(value)
    except Invalid as exc:
        raise SettingsError(f"{where} = {value!r}: {exc}") from None


# ---- the frozen settings

def _field(s):
    default = s.default
    if isinstance(default, (list, tuple)):
        return field(default=tuple(default))
    if isinstance(default, dict):
        return field(default_factory=dict)
    return field(default=default)


def _frozen(name, doc, entries, namespace=None):
    cls = make_dataclass(name, [(e.name.rpartition(".")[2], object, _field(e)) for e in entries],
                         frozen=True, namespace=namespace or {})
    cls.__doc__ = doc
    cls.__module__ = __name__
    return cls


TlsSettings = _frozen("TlsSettings", "hotstandby.tls",
                      [s for s in TABLE if s.name.startswith("tls.")])
Timeouts = _frozen("Timeouts", "hotstandby.timeouts",
                   [s for s in TABLE if s.name.startswith("timeouts.")])
StatusThresholds = _frozen("StatusThresholds", "hotstandby.status",
                           [s for s in TABLE if s.name.startswith("status.")])
SwitchoverBounds = _frozen("SwitchoverBounds", "hotstandby.switchover",
                           [s for s in TABLE if s.name.startswith("switchover.")])
WalGuard = _frozen("WalGuard", "hotstandby.wal_guard",
                   [s for s in TABLE if s.name.startswith("wal_guard.")])
GROUP_CLASSES = {"tls": TlsSettings, "timeouts": Timeouts, "status": StatusThresholds,
                 "switchover": SwitchoverBounds, "wal_guard": WalGuard}


def _from_config(cls, section, **overrides):
    """Validate the `hotstandby` config section (a mapping) and freeze it.
    overrides: command-line values that replace a config value for this
    run only (e.g. status thresholds: "status.warn_lag_bytes")."""
    given = _plain(section)
    for name, value in overrides.items():
        if value is not None:
            head, _, tail = name.partition(".")
            if tail:
                given[head] = {**given.get(head, {}), tail: value}
            else:
                given[name] = value
    validate(given)
    full = complete(given)
    kwargs = {}
    for f in fields(cls):
        value = full[f.name]
        if f.name in GROUP_CLASSES:
            value = GROUP_CLASSES[f.name](**value)
        elif isinstance(value, list) or BY_NAME[f.name].kind == "list":
            value = tuple(value or ())
        kwargs[f.name] = value
    return cls(**kwargs)


def _plain(value):
    """Invoke's config proxies as plain dicts and lists (copies: nothing done
    to the result reaches the config)."""
    if _is_mapping(value):
        return {k: _plain(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_plain(v) for v in value]
    return value


def _top_level():
    seen, entries = set(), []
    for s in TABLE:
        group = s.name.partition(".")[0]
        if "." not in s.name:
            entries.append(s)
        elif group not in seen:
            seen.add(group)
            entries.append(Setting(group, GROUP_CLASSES[group](), _group_shape(group), ""))
    return entries


Settings = _frozen(
    "Settings", "The `hotstandby` config, validated: a field per setting of TABLE "
                "(docs/settings.md), groups (tls, timeouts, status) as nested frozen "
                "dataclasses.", _top_level(), {"from_config": classmethod(_from_config)})
