"""Day two: is each standby streaming, how far behind, over TLS?  (`fab ... status`)

Pure except `look`: `view_sql(major)` is the one query a running server
answers (as one JSON document), `assess` turns what the hosts said into a row
per host and a list of problems, `table` and `document` render them.  Exit
codes follow Nagios: 0 ok, 1 warning, 2 critical.
"""
import json
import os
import re
from dataclasses import dataclass, field

from ..knowledge import diagnose, values, versions
from ..knowledge import topology as topologies
from ..knowledge import tls as tls_rules
from ..knowledge.lsn import Lsn
from . import server, service
from ..hosts.cluster import ClusterError, open_host
from ..hosts.remote import RemoteError
from ..knowledge.render import slot_name

OK, WARNING, CRITICAL = 0, 1, 2
LEVELS = {OK: "OK", WARNING: "WARNING", CRITICAL: "CRITICAL"}
COLUMNS = [("host", "host"), ("role", "role"), ("version", "version"), ("wal", "wal"),
           ("upstream", "from"), ("apply_delay_seconds", "delay"),
           ("sent", "sent"), ("flushed", "flushed"), ("replayed", "replayed"),
           ("lag_bytes", "lag"), ("lag_seconds", "lag time"), ("slot", "slot"),
           ("retained_bytes", "retained"), ("sync", "sync"), ("tls", "tls"),
           ("last_message_seconds", "last msg")]
# libpq's sslmodes; in the last two it checks the primary's certificate.
SSLMODES = ("disable", "allow", "prefer", "require", "verify-ca", "verify-full")
VERIFYING = SSLMODES[-2:]
# pg_stat_ssl's version: OpenSSL's name of the protocol.
PROTOCOL = re.compile(r"(TLS|SSL)v\d(\.\d)?")


def view_sql(major):
    """What one running server says about itself and its replication, as JSON."""
    f = lambda name: versions.fact(name, major)  # noqa: E731
    suffix = f("sender_lsn_suffix")
    # The receiver's conninfo is read only for its sslmode (parsed here, in
    # Python); walreceiver shows the password, if any, as ********.
    receiver = (f"(select row_to_json(w) from (select status, extract(epoch from now() - "
                f"last_msg_receipt_time) as last_message_age, conninfo "
                f"from {f('wal_receiver_view')}) w)"
                if f("wal_receiver_view") else "null")
    # Each sender's TLS as its primary sees it; unknown (null) before 9.5.
    ssl = f("ssl_view")
    sender_ssl, ssl_join = (("s.ssl, s.version as ssl_version",
                             f" left join {ssl} s on s.pid = p.pid") if ssl else
                            ("null as ssl, null as ssl_version", ""))
    return f"""select json_build_object(
  'version', current_setting('server_version'),
  'in_recovery', pg_is_in_recovery(),
  'lsn', case when pg_is_in_recovery() then null else {f('current_lsn_function')}()::text end,
  'receive_lsn', {f('receive_lsn_function')}()::text,
  'replay_lsn', {f('replay_lsn_function')}()::text,
  'senders', (select coalesce(json_agg(r), '[]') from (
      select application_name, state, sent{suffix}::text as sent,
             flush{suffix}::text as flushed, replay{suffix}::text as replayed,
             {f('sender_replay_lag')} as lag_seconds, sync_state,
             {sender_ssl}
      from pg_stat_replication p{ssl_join}) r),
  'slots', (select coalesce(json_agg(s), '[]') from (
      select slot_name, active, restart_lsn::text, {f('slot_wal_status')} as wal_status
      from pg_replication_slots where slot_type = 'physical') s),
  'receiver', {receiver})"""


@dataclass
class HostView:
    """What status learned from one host."""
    name: str
    expected: str                 # 'primary' or 'standby' (its place in -H)
    error: str = ""               # unreachable, or no PostgreSQL found
    version: str = ""
    running: bool = False
    server: dict = field(default_factory=dict)   # view_sql's answer
    log: str = ""                 # the server's log, read when it looks broken
    unit: str = ""                # the systemd unit that runs it, where one does
    outside_unit: str = ""        # why it is not inside that unit, with the fix


def look(name, expected, config, settings):
    """Read one host without changing anything; never raises for a broken host."""
    view = HostView(name, expected)
    try:
        host = open_host(name, config, settings, dry=True)
    except ClusterError as exc:
        view.error = str(exc).removeprefix(f"{name}: ")
        return view
    try:
        layout = host.layout
        view.version = layout.version
        state = server.read_state(host)
        view.running, view.unit = state.running, layout.service
        view.outside_unit = service.outside_unit(host, state) or ""
        if view.running:
            rows = host.psql(view_sql(layout.major), warn=True)
            # json_agg puts a newline between elements: one document, several rows.
            view.server = json.loads("\n".join(r[0] for r in rows)) if rows else {}
            view.running = bool(rows)
        standby_broken = expected == "standby" and (
            not view.server.get("receiver") or view.server["receiver"]["status"] != "streaming")
        if not view.running or standby_broken:
            view.log = server.log_tail(host, 100)
    except RemoteError as exc:
        view.error = str(exc)
    finally:
        host.close()
    return view


def _diff(high, low):
    return Lsn.parse(high) - Lsn.parse(low) if high and low else None


def assess(views, warn_lag_bytes, warn_lag_seconds, tls_mode="verify", topology=None):
    """(rows, problems): a row per host and [(level, text)], most severe first.

    tls_mode is hotstandby.tls.mode: what a streaming standby's connection
    must be (verify, verify-ca: TLS and the primary's certificate checked;
    require: TLS; off: anything).  topology (knowledge.topology.Topology):
    where each standby streams from (its sender and slot are read there) and
    its intended replay delay; None: every standby from the primary, none
    delayed."""
    primary = views[0]
    topology = topology or topologies.make(primary.name, [v.name for v in views[1:]], {})
    by_name = {v.name: v for v in views}
    problems, rows = [], []

    def problem(level, text):
        problems.append((level, text))

    p_lsn = primary.server.get("lsn")
    for view in views:
        data = view.server
        row = {"host": view.name, "version": view.version or None, "upstream": None,
               "apply_delay_seconds": None, "wal": None, "sent": None,
               "flushed": None, "replayed": None, "lag_bytes": None, "lag_seconds": None,
               "slot": None, "retained_bytes": None, "sync": None, "tls": None,
               "last_message_seconds": None, "unit": view.unit or None}
        if view is not primary:
            delay_ms = topology.delay_ms(view.name)
            row.update(upstream=topology.feeder(view.name),
                       apply_delay_seconds=delay_ms / 1000 if delay_ms else None)
        rows.append(row)
        if view.error:
            row["role"] = "unreachable"
            problem(CRITICAL, f"{view.name}: {view.error}")
            continue
        if not view.running:
            row["role"] = "down"
            problem(CRITICAL, f"{view.name}: PostgreSQL is not running on the {view.expected}: "
                              "start it (fab ... start-standby-then-master)"
                              + _cause(view))
            continue
        if view.outside_unit:
            problem(WARNING, view.outside_unit)
        row["role"] = "standby" if data["in_recovery"] else "primary"
        if view is primary:
            count = len(data.get("senders", []))
            row.update(wal=f"{count} sender{'s' if count != 1 else ''}", sent=p_lsn)
            if data["in_recovery"]:
                problem(CRITICAL, f"{view.name} is in recovery, not a primary: name the "
                                  "current primary first in -H")
            continue
        if not data["in_recovery"]:
            problem(CRITICAL, f"{view.name} runs as a second primary (split brain risk): "
                              "stop it and run sync")
            continue
        feeder = by_name[row["upstream"]]   # the primary, or its upstream
        fdata = feeder.server
        senders = {r["application_name"]: r for r in fdata.get("senders", [])}
        slots = {r["slot_name"]: r for r in fdata.get("slots", [])}
        slot = slot_name(view.name)
        sender = senders.get(slot, {})
        receiver = data.get("receiver") or {}
        row["wal"] = receiver.get("status") or sender.get("state") or "not streaming"
        row["sent"] = sender.get("sent") or data.get("receive_lsn")
        row["flushed"] = sender.get("flushed") or data.get("receive_lsn")
        row["replayed"] = sender.get("replayed") or data.get("replay_lsn")
        row["lag_bytes"] = _diff(p_lsn, row["replayed"])
        row["sync"] = sender.get("sync_state")
        row["lag_seconds"] = _lag_seconds(sender, row["lag_bytes"])
        row["tls"] = _tls(sender, _sslmode(receiver))
        if receiver.get("last_message_age") is not None:
            row["last_message_seconds"] = round(float(receiver["last_message_age"]), 3)
        slot_row = slots.get(slot)
        if slot_row:
            row["slot"] = slot + ("" if slot_row["active"] else " (inactive)")
            row["retained_bytes"] = _diff(p_lsn, slot_row["restart_lsn"])
            if slot_row.get("wal_status") == "lost":
                problem(CRITICAL, f"{view.name}: its slot {slot} on {feeder.name} lost WAL the "
                                  "standby needs: run full again (it copies what it lacks), "
                                  f"or retire it: fab -H {primary.name},{view.name} "
                                  "remove-standby")
            elif slot_row.get("wal_status") == "unreserved":
                problem(WARNING, f"{view.name}: its slot {slot} is about to lose WAL "
                                 "(max_slot_wal_keep_size reached)")
        elif feeder.running and not feeder.error:
            problem(WARNING, f"{view.name}: no replication slot {slot} on {feeder.name}: "
                             "run " + ("configure-master" if feeder is primary
                                       else "configure-standby"))
        if sender.get("state") != "streaming" and receiver.get("status") != "streaming":
            problem(CRITICAL, f"{view.name} is not streaming from {feeder.name}"
                              + _cause(view))
            continue
        tls_problem = _tls_problem(row["tls"], tls_mode)
        if tls_problem:
            problem(WARNING, f"{view.name} replicates from {feeder.name} {tls_problem}: "
                             "run full: it sets up TLS")
        # A delayed standby's replay lag is intended: what it has not
        # received yet, and replay later than its delay, are the problems.
        delay = row["apply_delay_seconds"] or 0
        behind = _diff(p_lsn, row["flushed"]) if delay else row["lag_bytes"]
        if behind is not None and behind > warn_lag_bytes:
            problem(WARNING, f"{view.name} is {behind} bytes behind {primary.name}"
                             + (" in what it received" if delay else "")
                             + f" (warning above {warn_lag_bytes})")
        if row["lag_seconds"] is not None and row["lag_seconds"] - delay > warn_lag_seconds:
            problem(WARNING, f"{view.name} replays {row['lag_seconds']:.1f} s behind "
                             f"{feeder.name} (warning above "
                             + (f"its delay {delay:g} s + " if delay else "")
                             + f"{warn_lag_seconds} s)")
    listed = {slot_name(v.name) for v in views[1:]}
    for feeder in views:   # the primary, and each upstream: where slots are kept
        if feeder is primary or topology.feeds(feeder.name):
            for text in forgotten_slots(primary.name, feeder.name, p_lsn,
                                        feeder.server.get("slots", []), listed):
                problem(WARNING, text)
    problems.sort(key=lambda p: -p[0])
    return rows, problems


def forgotten_slots(primary, host, lsn, slots, listed):
    """What to say of a feeder's slots (host: the primary or an upstream)
    that no listed standby is named after (listed: their slot names): one
    holding WAL keeps it until the disk is full, one whose WAL is lost can
    serve nobody."""
    for row in slots:
        name = row["slot_name"]
        if name in listed:
            continue
        fix = (f"list its standby, or retire it (fab -H {primary},<its host> remove-standby), "
               f"or drop the slot on {host}")
        if row.get("wal_status") == "lost":
            yield f"slot {name} on {host} lost its WAL and no listed standby uses it: {fix}"
        elif row.get("restart_lsn"):
            held = _diff(lsn, row["restart_lsn"])
            yield (f"slot {name} on {host} holds {_bytes(held) if held is not None else 'WAL'}"
                   f" for no listed standby{' (one not listed uses it)' if row['active'] else ''}"
                   f": {fix}")


def _lag_seconds(sender, lag_bytes):
    """The primary's measure of replay delay (10+).  It reports none when idle:
    then nothing outstanding means 0, and otherwise it is not known (the age of
    the last replayed commit would count idle time as lag)."""
    if sender.get("lag_seconds") is not None:
        return round(float(sender["lag_seconds"]), 3)
    return 0.0 if lag_bytes == 0 else None


def _sslmode(receiver):
    """The standby's sslmode, from its WAL receiver's connection string (9.6+,
    libpq's defaults filled in), or None when not known: no receiver, or a
    string that is not plainly keyword=value pairs with a known sslmode (a
    host's answer is data: nothing else reaches a message)."""
    try:
        keywords = values.conninfo(receiver.get("conninfo"), "the WAL receiver's conninfo")
    except values.BadValue:
        return None
    return keywords.get("sslmode") if keywords.get("sslmode") in SSLMODES else None


def _tls(sender, sslmode):
    """A standby row's `tls`: {protocol, verified, sslmode}.  Only the primary
    knows whether the connection it serves runs over TLS (pg_stat_ssl, 9.5+):
    without its word the whole is None (unknown), so that protocol None means
    "not TLS".  verified is None when the standby's sslmode is not known."""
    ssl, protocol = sender.get("ssl"), sender.get("ssl_version")
    if not isinstance(ssl, bool) or (ssl and not PROTOCOL.fullmatch(str(protocol))):
        return None
    return {"protocol": protocol if ssl else None,
            "verified": None if sslmode is None else sslmode in VERIFYING,
            "sslmode": sslmode}


def _tls_problem(tls, tls_mode):
    """How a streaming standby's connection falls short of tls_mode, or None
    (also when that is not known)."""
    if tls is None or tls_mode == "off":
        return None
    if tls["protocol"] is None:
        return f"without TLS (hotstandby.tls.mode is {tls_mode})"
    if tls_mode in tls_rules.PINNING and tls["verified"] is False:
        return (f"over {tls['protocol']} without checking its certificate "
                f"(sslmode {tls['sslmode']}; hotstandby.tls.mode is {tls_mode})")
    return None


def _cause(view):
    found = diagnose.diagnose(view.log)
    return f": {found[1]} (its log: {found[0]})" if found else ""


def level(problems):
    return max((lvl for lvl, _ in problems), default=OK)


def document(rows, problems):
    """The --json output: stable keys, for scripts and monitoring."""
    code = level(problems)
    return {"status": LEVELS[code].lower(), "code": code, "hosts": rows,
            "problems": [{"level": LEVELS[lvl].lower(), "message": text}
                         for lvl, text in problems]}


def _cell(key, value):
    if value is None:
        return "-"
    if key in ("lag_bytes", "retained_bytes"):
        return _bytes(value)
    if key == "lag_seconds":
        return f"{value:.1f} s"
    if key == "apply_delay_seconds":
        return topologies.pg_duration(round(value * 1000))
    if key == "last_message_seconds":
        return f"{value:.1f} s ago"
    if key == "tls":
        return _tls_cell(value)
    return str(value)


def _tls_cell(tls):
    if tls["protocol"] is None:
        return "none"
    if tls["verified"] is None:        # 9.5: the standby does not tell its sslmode
        return tls["protocol"]
    return f"{tls['protocol']} {'verified' if tls['verified'] else 'unverified'}"


def _bytes(n):
    if abs(n) < 1024:
        return f"{n} B"
    for unit in ("kB", "MB", "GB", "TB"):
        n /= 1024
        if abs(n) < 1024 or unit == "TB":
            return f"{n:.1f} {unit}"


COLOURS = {"primary": "32", "standby": "32", "streaming": "32", "down": "31",
           "unreachable": "31", "not streaming": "31"}


def table(rows, colour=False):
    """Aligned columns; colour (ANSI) for roles and WAL states on a terminal."""
    cells = [[title for _, title in COLUMNS]] + \
            [[values.printable(_cell(key, row.get(key))) for key, _ in COLUMNS]
             for row in rows]
    widths = [max(len(r[i]) for r in cells) for i in range(len(COLUMNS))]
    lines = []
    for n, r in enumerate(cells):
        padded = []
        for text, width in zip(r, widths):
            cell = text.ljust(width)
            if colour and n and text in COLOURS:
                cell = f"\033[{COLOURS[text]}m{cell}\033[0m"
            padded.append(cell)
        lines.append("  ".join(padded).rstrip())
    return "\n".join(lines)


def use_colour(stream):
    return stream.isatty() and not os.environ.get("NO_COLOR")
