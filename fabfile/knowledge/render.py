"""The text the tool writes on hosts, rendered from facts.  Pure functions.

Each function takes what was discovered (major version, current values,
addresses) and returns the exact text or settings to write, so that every
version's output is unit-tested without a host.
"""
import ipaddress
import re

from . import topology, versions

MANAGED = "pg-hotstandby"
# Settings a standby's recovery is driven by; a copy of them in
# postgresql.auto.conf would silently win over ours.
RECOVERY_SETTINGS = ("primary_conninfo", "primary_slot_name", "restore_command",
                     "recovery_target_timeline", "standby_mode", "promote_trigger_file",
                     "recovery_min_apply_delay")
# What a server runs as postgres (a command, or archive_library's code), and
# archive_mode, which without its command keeps every WAL segment for it: in
# a standby's postgresql.auto.conf they are the primary's (a copy carries the
# file), set by its superuser, and are left out.  A standby's own go in its
# own config (postgresql.conf, conf.d), which copies keep.
PRIMARY_ONLY = ("archive_mode", "archive_command", "archive_library", "archive_cleanup_command",
                "recovery_end_command", "restore_command", "ssl_passphrase_command")
# Directives that read another file, which could set any of them.
INCLUDES = ("include", "include_dir", "include_if_exists")
# A config line's first token, where it is a name (guc-file.l's ID).
CONFIG_NAME = re.compile(r"[ \t\r]*([A-Za-z_\x80-\U0010ffff][A-Za-z0-9_\x80-\U0010ffff]*)")


def quote(value):
    """A postgresql.conf value: numbers bare, everything else single-quoted."""
    text = str(value)
    if re.fullmatch(r"-?\d+", text):
        return text
    return "'" + text.replace("\\", "\\\\").replace("'", "''") + "'"


def render_settings(settings, purpose):
    lines = [f"# Managed by {MANAGED}: {purpose}. Changes here are overwritten."]
    lines += [f"{name} = {quote(value)}" for name, value in settings.items()]
    return "\n".join(lines) + "\n"


# What primary_settings reads from a server's config first (values only go
# up), and the WAL guard's setting (walguard.decide keeps the server's own).
PRIMARY_SETTINGS_READ = ("wal_level", "max_wal_senders", "max_replication_slots", "data_checksums",
                         "max_slot_wal_keep_size")


def primary_settings(major, current, standbys, listen_addresses="*", guard=None):
    """Settings a primary needs for `standbys` standbys.

    current: the values the server's config files give now ({name: str}).
    Values only ever go up, and wal_level 'logical' is kept, so that the
    tool never takes away what the server was configured with.  wal_log_hints
    lets pg_rewind bring this server back as a standby after a failover
    (data checksums do the same).  summarize_wal (17+) lets the online delta
    copy leave unchanged relation files unread (knowledge/summaries.py).
    guard: the settings that bound the WAL its slots hold (walguard.decide),
    so that a dead standby cannot fill its disk.
    """
    wal_level = current.get("wal_level")
    if wal_level != "logical":
        wal_level = versions.fact("wal_level", major)
    # Two spare senders/slots: a pg_basebackup or a re-clone while all run.
    wanted = standbys + 2
    settings = {
        "listen_addresses": listen_addresses,
        "wal_level": wal_level,
        "max_wal_senders": max(wanted, int(current.get("max_wal_senders") or 0)),
        "max_replication_slots": max(wanted, int(current.get("max_replication_slots") or 0)),
    }
    if current.get("data_checksums") != "on":
        settings["wal_log_hints"] = "on"
    if versions.fact("wal_summaries", major):
        settings["summarize_wal"] = "on"
    return {**settings, **(guard or {})}


def standby_settings(major, primary_values, standby_values, conninfo, slot, pinned=(),
                     delay_ms=0):
    """Settings a standby needs: hot_standby, limits at least the primary's and,
    from 12, the connection to its feeder and its replay delay (recovery.conf
    holds them before).

    pinned: limits the tool's file already sets; they stay, so that a rerun
    renders the same file.  delay_ms: a delayed standby's
    recovery_min_apply_delay (0: none).
    """
    settings = {"hot_standby": "on"}
    for name in versions.standby_minimums(major):
        ours, theirs = int(standby_values.get(name) or 0), int(primary_values.get(name) or 0)
        if theirs > ours or name in pinned:
            settings[name] = max(ours, theirs)
    if versions.fact("standby_signal", major) == "standby.signal":
        settings["primary_conninfo"] = conninfo
        settings["primary_slot_name"] = slot
        settings.update(apply_delay(major, delay_ms))
    return settings


def apply_delay(major, delay_ms):
    """A delayed standby's setting ({} for none)."""
    if not delay_ms:
        return {}
    versions.fact("recovery_min_apply_delay", major)   # known for every major supported
    return {"recovery_min_apply_delay": topology.pg_duration(delay_ms)}


def kept_as_primary(major, owned, current):
    """Settings a promoted standby's file keeps from its days as a standby:
    those only a restart applies that change nothing on a primary
    (hot_standby is ignored there; the limits are what it runs with).
    Dropped from the file, each would ask for a restart that changes nothing.
    owned: names the tool's file sets now; current: their values ({name: str})."""
    return {name: current[name] for name in ("hot_standby", *versions.standby_minimums(major))
            if name in owned and current.get(name)}


def restart_needed(wanted, running):
    """Names in `wanted` ({name: value}) whose running value differs and that
    only a restart changes.  running: [(name, setting, context)] from pg_settings."""
    return [name for name, setting, context in running
            if context == "postmaster" and str(wanted[name]) != setting]


def settings_in(text):
    """Names set in a config file's text."""
    return set(settings_values(text))


def settings_values(text):
    """{name: value} set in a config file's text, a quoted value unquoted (as
    render_settings writes them)."""
    found = {}
    for m in re.finditer(r"^\s*([a-z_]+)\s*=\s*('(?:[^']|'')*'|[^\s#]*)", text or "", re.M):
        value = m.group(2)
        if value.startswith("'"):
            value = value[1:-1].replace("''", "'").replace("\\\\", "\\")
        found[m.group(1)] = value
    return found


def recovery_conf(major, conninfo, slot, delay_ms=0):
    """recovery.conf for majors before 12, else None (standby.signal is empty)."""
    if versions.fact("standby_signal", major) != "recovery.conf":
        return None
    return render_settings({"standby_mode": "on", "primary_conninfo": conninfo,
                            "primary_slot_name": slot,
                            "recovery_target_timeline": "latest",
                            **apply_delay(major, delay_ms)},
                           "this server is a standby")


def conninfo_value(value):
    text = str(value)
    if re.fullmatch(r"[^\s'\\]+", text):
        return text
    return "'" + text.replace("\\", "\\\\").replace("'", "\\'") + "'"


def replication_keywords(major, host, port, user, application_name, passfile):
    """A standby's connection to its primary as libpq keywords, without the
    password: that stays in the passfile (found by libpq itself before 10)."""
    keywords = {"host": host, "port": port, "user": user, "application_name": application_name}
    if versions.fact("conninfo_passfile", major):
        keywords["passfile"] = passfile
    return keywords


def conninfo(keywords):
    """libpq keywords ({name: value}) as a connection string: the one place
    one is written."""
    return " ".join(f"{k}={conninfo_value(v)}" for k, v in keywords.items())


def passfile_line(host, port, user, password):
    """A .pgpass line for the replication role at the primary: any database,
    so that streaming (`replication`) and pg_rewind (`postgres`) both use it."""
    def esc(text):
        return str(text).replace("\\", "\\\\").replace(":", "\\:")
    return ":".join(esc(x) for x in (host, port, "*", user, password)) + "\n"


def passfile_password(text, user):
    """The replication role's password in a passfile's text, or None.  Any
    host's line will do: the role, and so its password, is cluster-wide."""
    for line in text.splitlines():
        fields = re.split(r"(?<!\\):", line)
        if len(fields) == 5 and fields[2] in ("*", "replication") and fields[3] == user:
            return fields[4].replace("\\:", ":").replace("\\\\", "\\")
    return None


def auth_method(major, configured=None):
    return configured or versions.fact("password_auth", major)


HBA_STANDBY = "# standby "


def hba_lines(role, standbys, method, kind="hostssl"):
    """pg_hba lines for each standby ({name: address}), restricted to that one
    host: streaming, and pg_rewind's connection to `postgres` (rejoin after
    failover).  kind: hostssl (TLS only) or host.  A comment line names each
    standby: the block is the record of which standbys this primary serves
    (see hba_standbys)."""
    lines = []
    for name, address in standbys.items():
        ip = ipaddress.ip_address(address)
        prefix = 32 if ip.version == 4 else 128
        lines.append(f"{HBA_STANDBY}{name}")
        for database in ("replication", "postgres"):
            lines.append(f"{kind:<7} {database:<15} {role:<15} {ip}/{prefix:<5} {method}")
    return lines


def hba_standbys(lines):
    """The standby names a managed pg_hba block was written for."""
    return [line[len(HBA_STANDBY):].strip() for line in lines if line.startswith(HBA_STANDBY)]


def hba_without(lines, names):
    """A managed pg_hba block's lines without those of the standbys `names`:
    each one's comment line and the lines after it, up to the next standby's."""
    kept, dropping = [], False
    for line in lines:
        if line.startswith(HBA_STANDBY):
            dropping = line[len(HBA_STANDBY):].strip() in names
        if not dropping:
            kept.append(line)
    return kept


def grant_execute(functions, role):
    """SQL granting EXECUTE on pg_catalog functions (signatures) to a role."""
    return "; ".join(f"grant execute on function pg_catalog.{f} to {sql_ident(role)}" for f in functions)


def slot_name(standby_name):
    """A replication slot / application_name for a standby: [a-z0-9_], <= 63."""
    name = re.sub(r"[^a-z0-9_]", "_", standby_name.lower())
    return name[:63]


def standby_auto_conf(text):
    """(text, left out): a standby's postgresql.auto.conf, which a copy
    brings from the primary, without the recovery settings (ours win) and
    without what would run a command of the primary's superuser on the
    standby (PRIMARY_ONLY, include directives); left out names those of the
    latter it held, in order.  Lines are read as the server's lexer reads
    them (guc-file.l): a name is letters, digits, _ and any non-ASCII byte,
    compared without regard to ASCII case; `=` is optional; only a newline
    ends a line."""
    kept, left_out = [], []
    for line in text.split("\n"):
        name = CONFIG_NAME.match(line)
        name = name.group(1).lower() if name and name.group(1).isascii() else None
        if name in PRIMARY_ONLY or name in INCLUDES:
            left_out.append(name)
        elif name not in RECOVERY_SETTINGS:
            kept.append(line)
    return "\n".join(kept), list(dict.fromkeys(left_out))


def sql_literal(text):
    """A string constant read the same whatever standard_conforming_strings
    says: with a backslash in it, an escape string (E'...') with backslashes
    and quotes doubled, so that neither the server nor psql's own lexer
    (which would run a `\\!` that escaped the literal) can be led out of it."""
    text = str(text)
    if "\\" in text:
        return "E'" + text.replace("\\", "\\\\").replace("'", "''") + "'"
    return "'" + text.replace("'", "''") + "'"


def sql_ident(text):
    return '"' + str(text).replace('"', '""') + '"'


# The server gets the verifier, never the password; this session also keeps
# the verifier out of the server log and pg_stat_statements (an offline guess
# at a weak password needs only it).  Superuser settings: psql runs as postgres.
QUIET_SESSION = ("SET log_statement = 'none';\n"
                 "SET log_min_duration_statement = -1;\n"
                 "SET log_min_error_statement = 'panic';\n"
                 "SET pg_stat_statements.track_utility = off;\n")


def role_sql(role, verifier, exists):
    """SQL that creates the replication role or sets its password, given as
    the verifier (passwords.verifier): the server stores it as it is."""
    verb = "ALTER" if exists else "CREATE"
    return (QUIET_SESSION +
            f"{verb} ROLE {sql_ident(role)} WITH REPLICATION LOGIN PASSWORD {sql_literal(verifier)};\n")
