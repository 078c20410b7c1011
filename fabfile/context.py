"""One run's context, made once by the task before any host is touched:

- `Settings`: the `hotstandby` config (fabfile/defaults.yaml, fabric.yaml, a
  `-f` file, FABRIC_HOTSTANDBY_* variables) checked by `validate` and frozen
  into typed fields;
- `Options`: what this run was asked to do (copy method, compression, rate
  cap, fan-out, force, plan, quiet).
  A command-line flag wins, else the config's value: the flag is never written
  back into the config;
- the run's state (failed standbys, downtime) is `steps.run.RunState`.

Pure: no host is touched here.
"""
import ipaddress
import re
from pathlib import Path
from collections.abc import Mapping
from dataclasses import dataclass, fields

from .knowledge import shell
from .knowledge import fanout, tablespaces, tls, transfer, values
from .steps.methods import METHODS


class SettingsError(ValueError):
    pass


def as_number(text):
    """A command-line value as a number, or as given (validate names the fault)."""
    try:
        return float(text)
    except ValueError:
        return text


def validate(settings):
    """Raise SettingsError naming the setting and the fix; return None when fine."""
    def bad(name, fix):
        raise SettingsError(f"hotstandby.{name} = {settings.get(name)!r}: {fix}")

    if not re.fullmatch(r"[a-z_][a-z0-9_]{0,62}", str(settings.get("replication_role") or "")):
        bad("replication_role", "use a plain role name (lower case letters, digits, _)")
    if settings.get("auth_method") not in (None, "scram-sha-256", "md5"):
        bad("auth_method", "use scram-sha-256 or md5 (trust and password are refused)")
    keep = settings.get("max_slot_wal_keep_size")
    if keep is not None and not re.fullmatch(r"-1|\d+(kB|MB|GB|TB)?", str(keep)):
        bad("max_slot_wal_keep_size", "use a size such as 10GB (MB when no unit), or -1 for "
                                      "no limit")
    if settings.get("method") not in METHODS:
        bad("method", "use " + ", ".join(METHODS))
    for name, parse in (("compress", transfer.parse_compress), ("max_rate", transfer.parse_rate),
                        ("fan_out", fanout.parse)):
        try:
            parse(settings.get(name))
        except (transfer.BadValue, fanout.BadValue) as exc:
            bad(name, str(exc))
    if settings.get("layout") not in ("auto", "debian", "generic"):
        bad("layout", "use auto, debian or generic")
    for name in ("port", "ssh_port"):
        value = settings.get(name)
        if not (isinstance(value, int) and 0 < value < 65536):
            bad(name, "use a TCP port number")
    timeouts = settings.get("timeouts") or {}
    for name in ("start", "stream"):
        value = timeouts.get(name)
        if not (isinstance(value, (int, float)) and value > 0):
            raise SettingsError(f"hotstandby.timeouts.{name} = {value!r}: use a number of "
                                "seconds above 0")
    for section in ("status", "switchover"):
        for name, value in (settings.get(section) or {}).items():
            if not (isinstance(value, (int, float)) and value >= 0):
                raise SettingsError(f"hotstandby.{section}.{name} = {value!r}: use a number "
                                    f"of {name.rsplit('_', 1)[-1]}, 0 or more")
    addresses = settings.get("addresses") or {}
    if not isinstance(addresses, Mapping):
        bad("addresses", "map host names to addresses")
    for host, address in addresses.items():
        try:
            ipaddress.ip_address(str(address))
        except ValueError:
            raise SettingsError(f"hotstandby.addresses.{host} = {address!r}: use an IPv4 or "
                                "IPv6 address") from None
    mapping = settings.get("tablespace_mapping") or {}
    if not isinstance(mapping, Mapping):
        bad("tablespace_mapping", "map each tablespace location on the primary to a path "
                                  "on the standbys")
    for old, new in mapping.items():
        for path in (old, new):
            try:
                tablespaces.check_path(str(path), f"hotstandby.tablespace_mapping.{old}")
            except tablespaces.TablespaceError as exc:
                raise SettingsError(str(exc)) from None
    standbys = settings.get("standbys")
    if standbys is not None and not isinstance(standbys, (list, tuple)):
        bad("standbys", "use a list of host names")
    # Values that reach a root shell or a config file on the hosts: plain
    # paths and names only (the shell layer quotes them too).
    for name in ("data_directory", "bin_directory", "log_file", "backup_dir",
                 "sync_identity_file"):
        if settings.get(name) is not None:
            try:
                values.path(settings.get(name), "")
            except values.BadValue:
                bad(name, "use an absolute path of letters, digits and ._@%+:-")
    for path in settings.get("data_directory_candidates") or ():
        if not values.SAFE_PATH.fullmatch(str(path)):
            bad("data_directory_candidates", "list absolute paths of letters, digits and ._@%+:-")
    for pattern in settings.get("bin_directory_candidates") or ():
        if not shell.GLOB.fullmatch(str(pattern)):
            bad("bin_directory_candidates", "list absolute paths of letters, digits, ._- "
                                            "and the wildcards * ?")
    checks = {"cluster": (values.CLUSTER, "use a Debian cluster name (letters, digits, ._-)"),
              "service": (re.compile(r"[A-Za-z0-9@._:-]+"), "use a systemd unit name"),
              "sync_user": (re.compile(r"[a-z_][a-z0-9_-]{0,31}"), "use a user name"),
              "listen_addresses": (re.compile(r"[A-Za-z0-9.:*, _-]+"),
                                   "use * or host names and addresses, comma-separated")}
    for name, (pattern, fix) in checks.items():
        if settings.get(name) is not None and not pattern.fullmatch(str(settings.get(name))):
            bad(name, fix)
    for name in [settings.get("primary"), *(standbys or ()), *(settings.get("cli_hosts") or ())]:
        if name is not None:
            try:
                values.host(name, "host")
            except values.BadValue as exc:
                raise SettingsError(str(exc)) from None
    validate_tls(settings.get("tls") or {})
    password = settings.get("replication_password")
    if password is not None and (not isinstance(password, str) or not password
                                 or "\n" in password):
        raise SettingsError("hotstandby.replication_password: use a non-empty one-line "
                            "string, or leave it empty to have one generated")


def validate_tls(section):
    """hotstandby.tls: a known mode, and the user's files readable and what
    they claim to be (read here, on the control machine, before any host)."""
    unknown = set(section) - {"mode", "ca_file", "cert_file", "key_file"}
    if unknown:
        raise SettingsError(f"hotstandby.tls.{sorted(unknown)[0]}: unknown setting: use mode, "
                            "ca_file, cert_file or key_file")
    if section.get("mode", "verify") not in tls.MODES:
        raise SettingsError(f"hotstandby.tls.mode = {section.get('mode')!r}: use "
                            + ", ".join(tls.MODES))
    if bool(section.get("cert_file")) != bool(section.get("key_file")):
        raise SettingsError("hotstandby.tls: give cert_file and key_file together (the "
                            "primary's certificate and its key), or neither")
    checks = {"ca_file": tls.certificates, "cert_file": tls.certificates,
              "key_file": tls.check_key}
    for name, check in checks.items():
        path = section.get(name)
        if not path:
            continue
        try:
            text = Path(str(path)).expanduser().read_text()
        except (OSError, UnicodeDecodeError) as exc:
            raise SettingsError(f"hotstandby.tls.{name} = {path!r}: cannot read it "
                                f"({exc.__class__.__name__}): name a PEM file on this "
                                "machine") from None
        try:
            check(text, f"hotstandby.tls.{name} ({path})")
        except tls.TlsError as exc:
            raise SettingsError(str(exc)) from None


@dataclass(frozen=True)
class TlsSettings:
    mode: str = "verify"    # knowledge.tls.MODES
    ca_file: str = None     # control-machine paths: the user's own PKI
    cert_file: str = None
    key_file: str = None


@dataclass(frozen=True)
class Timeouts:
    start: float    # seconds for a server to accept connections
    stream: float   # seconds for rows to reach the standbys


@dataclass(frozen=True)
class StatusThresholds:
    warn_lag_bytes: float
    warn_lag_seconds: float


@dataclass(frozen=True)
class SwitchoverBounds:
    max_lag_bytes: float     # WAL the candidate has not replayed yet
    max_lag_seconds: float   # its replay_lag


@dataclass(frozen=True)
class Settings:
    """The `hotstandby` config, validated; defaults.yaml documents each field."""
    primary: str = None
    standbys: tuple = ()
    cli_hosts: tuple = ()          # -H, in order (set by executor.ClusterExecutor)
    replication_role: str = "replicator"
    replication_password: str = None
    auth_method: str = None
    listen_addresses: str = "*"
    layout: str = "auto"
    cluster: str = None
    data_directory: str = None
    data_directory_candidates: tuple = ()
    bin_directory: str = None
    bin_directory_candidates: tuple = ()
    port: int = 5432
    log_file: str = None
    service: str = None
    addresses: Mapping = None
    ssh_port: int = 22
    sync_identity_file: str = None
    sync_user: str = "root"
    max_slot_wal_keep_size: str = None
    tablespace_mapping: Mapping = None
    method: str = "basebackup"
    compress: str = "auto"
    max_rate: str = None
    fan_out: str = "auto"
    backup_dir: str = "/var/backups/pg-hotstandby"
    force: bool = False
    status: StatusThresholds = None
    switchover: SwitchoverBounds = None
    timeouts: Timeouts = None
    tls: TlsSettings = None

    @classmethod
    def from_config(cls, section, **overrides):
        """Validate the `hotstandby` config section (a mapping) and freeze it.
        overrides: command-line values that replace a config value for this
        run only (e.g. status thresholds)."""
        values = _plain(section)
        for name, value in overrides.items():
            if value is not None:
                head, _, tail = name.partition(".")
                if tail:
                    values[head] = {**values.get(head, {}), tail: value}
                else:
                    values[name] = value
        validate(values)
        known = {f.name for f in fields(cls)}
        kwargs = {k: v for k, v in values.items() if k in known}
        for name in ("standbys", "cli_hosts", "data_directory_candidates",
                     "bin_directory_candidates"):
            kwargs[name] = tuple(kwargs.get(name) or ())
        kwargs["addresses"] = dict(kwargs.get("addresses") or {})
        kwargs["tablespace_mapping"] = dict(kwargs.get("tablespace_mapping") or {})
        kwargs["status"] = StatusThresholds(**values["status"])
        kwargs["switchover"] = SwitchoverBounds(**values["switchover"])
        kwargs["timeouts"] = Timeouts(**values["timeouts"])
        kwargs["tls"] = TlsSettings(**values.get("tls") or {})
        return cls(**kwargs)


def _plain(value):
    """Invoke's config proxies as plain dicts and lists (copies: nothing done
    to the result reaches the config)."""
    if isinstance(value, Mapping) or hasattr(value, "items"):
        return {k: _plain(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_plain(v) for v in value]
    return value


@dataclass(frozen=True)
class Options:
    """What this run does: a flag given on the command line, else the config's."""
    method: object = METHODS["basebackup"]   # a steps.methods.CopyMethod
    force: bool = False
    dry: bool = False                        # a plan: the hosts change nothing
    quiet: bool = False
    compress: object = "auto"               # a transfer.Compression, or "auto"
    max_rate: int = None                     # kB/s per copy, or None
    fan_out: str = "auto"                    # knowledge.fanout.CHOICES

    @classmethod
    def resolve(cls, settings, method=None, force=False, dry=False, quiet=False,
                compress=None, max_rate=None, fan_out=None):
        name = method or settings.method
        if name not in METHODS:
            raise SettingsError(f"--method {name!r}: use " + ", ".join(METHODS))
        parsed = {}
        for flag, given, setting, parse in (
                ("compress", compress, settings.compress, transfer.parse_compress),
                ("max-rate", max_rate, settings.max_rate, transfer.parse_rate),
                ("fan-out", fan_out, settings.fan_out, fanout.parse)):
            try:
                parsed[flag] = parse(setting if given is None else given)
            except (transfer.BadValue, fanout.BadValue) as exc:
                raise SettingsError(f"--{flag} {given!r}: {exc}") from None
        return cls(METHODS[name], bool(force or settings.force), dry, quiet,
                   parsed["compress"], parsed["max-rate"], parsed["fan-out"])
