"""status: the query per version, judging what hosts said, rendering."""
import json
from pathlib import Path

import jsonschema
import pytest

from fabfile.steps import health
from fabfile.steps.health import CRITICAL, OK, WARNING, HostView


@pytest.mark.parametrize("major,present,absent", [
    (90400, ["pg_current_xlog_location", "null as ssl, null as ssl_version"],
     ["pg_stat_ssl", "pg_stat_wal_receiver", "conninfo"]),
    (90500, ["pg_current_xlog_location", "sent_location", "replay_location",
             "pg_last_xlog_replay_location",
             "s.ssl, s.version as ssl_version",
             "from pg_stat_replication p left join pg_stat_ssl s on s.pid = p.pid"],
     ["pg_stat_wal_receiver", "conninfo", "wal_status as", "sent_lsn", "null as ssl"]),
    (90600, ["pg_stat_wal_receiver", "pg_last_xlog_receive_location", "pg_stat_ssl",
             "as last_message_age, conninfo from pg_stat_wal_receiver"], ["replay_lag"]),
    (100000, ["pg_current_wal_lsn", "sent_lsn", "extract(epoch from replay_lag)"],
     ["_location", "wal_status as"]),
    (130000, ["wal_status as wal_status", "pg_last_wal_receive_lsn"], ["xlog"]),
    (180000, ["left join pg_stat_ssl s on s.pid = p.pid", "conninfo"], ["xlog"]),
])
def test_view_sql_uses_each_versions_names(major, present, absent):
    sql = health.view_sql(major)
    for name in present:
        assert name in sql
    for name in absent:
        assert name not in sql


def primary(lsn="0/5000000", senders=(), slots=()):
    return HostView("master", "primary", version="15", running=True,
                    server={"in_recovery": False, "lsn": lsn, "senders": list(senders),
                            "slots": list(slots)})


def standby(name="standby", receiver="streaming", replay="0/5000000", in_recovery=True,
            log="", conninfo=None):
    return HostView(name, "standby", version="15", running=True, log=log,
                    server={"in_recovery": in_recovery, "receive_lsn": replay,
                            "replay_lsn": replay, "senders": [], "slots": [],
                            "receiver": {"status": receiver, "last_message_age": 0.25,
                                         "conninfo": conninfo}
                            if receiver else None})


def sender(name="standby", replayed="0/5000000", lag=None, ssl=None, protocol=None):
    return {"application_name": name, "state": "streaming", "sent": "0/5000000",
            "flushed": "0/5000000", "replayed": replayed, "lag_seconds": lag,
            "sync_state": "async", "ssl": ssl, "ssl_version": protocol}


def conninfo(sslmode):
    """pg_stat_wal_receiver.conninfo as a PostgreSQL 15 standby shows it."""
    return ("user=replicator passfile=/var/lib/postgresql/.pgpass channel_binding=prefer "
            "dbname=replication host=10.0.0.2 port=5432 application_name=standby "
            f"fallback_application_name=walreceiver sslmode={sslmode} sslcompression=0 "
            "sslrootcert=/var/lib/postgresql/.pg-hotstandby.primary.crt sslsni=1 "
            "ssl_min_protocol_version=TLSv1.2 gssencmode=prefer krbsrvname=postgres "
            "target_session_attrs=any")


def slot(name="standby", restart="0/4000000", wal_status="reserved", active=True):
    return {"slot_name": name, "active": active, "restart_lsn": restart,
            "wal_status": wal_status}


def judge(*views, warn_bytes=16 << 20, warn_seconds=30, tls_mode="verify"):
    return health.assess(list(views), warn_bytes, warn_seconds, tls_mode)


def test_healthy_pair_is_ok_with_real_numbers():
    rows, problems = judge(primary(senders=[sender()], slots=[slot()]), standby())
    assert problems == [] and health.level(problems) == OK
    p, s = rows
    assert (p["role"], p["wal"], p["sent"]) == ("primary", "1 sender", "0/5000000")
    assert s["role"] == "standby" and s["wal"] == "streaming"
    assert s["lag_bytes"] == 0 and s["lag_seconds"] == 0.0
    assert s["slot"] == "standby" and s["retained_bytes"] == 0x1000000
    assert s["sync"] == "async" and s["last_message_seconds"] == 0.25


def test_lag_beyond_the_threshold_is_a_warning():
    rows, problems = judge(primary(lsn="0/9000000", senders=[sender(lag=2.5)], slots=[slot()]),
                           standby(), warn_bytes=1 << 20)
    assert rows[1]["lag_bytes"] == 0x4000000 and rows[1]["lag_seconds"] == 2.5
    assert health.level(problems) == WARNING
    assert problems == [(WARNING, "standby is 67108864 bytes behind master "
                                  "(warning above 1048576)")]


def test_unknown_time_lag_while_bytes_are_outstanding():
    rows, _ = judge(primary(lsn="0/6000000", senders=[sender()], slots=[slot()]), standby())
    assert rows[1]["lag_bytes"] == 0x1000000 and rows[1]["lag_seconds"] is None


def test_standby_down_is_critical_with_its_cause():
    down = HostView("standby", "standby", version="15", running=False,
                    log="FATAL:  could not connect to the primary server: refused")
    rows, problems = judge(primary(slots=[slot(active=False)]), down)
    assert rows[1]["role"] == "down"
    assert health.level(problems) == CRITICAL
    assert "standby: PostgreSQL is not running on the standby" in problems[0][1]
    assert "cannot reach the primary's port" in problems[0][1]


def test_standby_not_streaming_names_the_log_line():
    log = 'FATAL:  password authentication failed for user "replicator"'
    rows, problems = judge(primary(slots=[slot(active=False)]),
                           standby(receiver=None, log=log))
    assert rows[1]["wal"] == "not streaming" and rows[1]["slot"] == "standby (inactive)"
    assert problems[0][0] == CRITICAL
    assert "standby is not streaming from master: wrong replication password" in problems[0][1]
    assert log in problems[0][1]


def test_second_primary_and_unreachable_host_are_critical():
    lost = HostView("standby2", "standby", error="cannot reach standby2 over SSH")
    rows, problems = judge(primary(), standby(in_recovery=False), lost)
    assert [r["role"] for r in rows] == ["primary", "primary", "unreachable"]
    assert {lvl for lvl, _ in problems} == {CRITICAL}
    assert any("runs as a second primary" in text for _, text in problems)
    assert any("standby2: cannot reach" in text for _, text in problems)


def test_missing_and_lost_slots():
    _, problems = judge(primary(senders=[sender()]), standby())
    assert problems == [(WARNING, "standby: no replication slot standby on master: "
                                  "run configure-master")]
    _, problems = judge(primary(senders=[sender()], slots=[slot(wal_status="lost")]), standby())
    assert problems[0][0] == CRITICAL and "lost WAL" in problems[0][1]


def test_lost_slot_of_a_listed_standby_names_both_fixes():
    _, problems = judge(primary(senders=[sender()], slots=[slot(wal_status="lost")]), standby())
    assert "run full again" in problems[0][1]
    assert "fab -H master,standby remove-standby" in problems[0][1]


def test_forgotten_slots_holding_or_lost_are_warnings():
    slots = [slot(), slot("db3", restart="0/3000000", active=False),
             slot("db4", restart=None, wal_status="lost", active=False),
             slot("db5", restart="0/4FFF000", active=True),
             slot("db6", restart=None, wal_status=None, active=False)]   # holds nothing
    _, problems = judge(primary(senders=[sender()], slots=slots), standby())
    assert problems == [
        (WARNING, "slot db3 on master holds 32.0 MB for no listed standby: list its standby, "
                  "or retire it (fab -H master,<its host> remove-standby), or drop the slot "
                  "on master"),
        (WARNING, "slot db4 on master lost its WAL and no listed standby uses it: list its "
                  "standby, or retire it (fab -H master,<its host> remove-standby), or drop "
                  "the slot on master"),
        (WARNING, "slot db5 on master holds 4.0 kB for no listed standby (one not listed "
                  "uses it): list its standby, or retire it (fab -H master,<its host> "
                  "remove-standby), or drop the slot on master")]


def test_problems_sorted_most_severe_first():
    _, problems = judge(primary(lsn="1/0", senders=[sender()]), standby(), warn_bytes=0)
    down = HostView("standby2", "standby", running=False)
    _, more = judge(primary(lsn="1/0", senders=[sender()]), standby(), down, warn_bytes=0)
    assert [lvl for lvl, _ in problems] == [WARNING, WARNING]
    assert [lvl for lvl, _ in more][0] == CRITICAL


def test_table_aligns_columns_and_colours_only_when_asked():
    rows, _ = judge(primary(senders=[sender()], slots=[slot()]), standby())
    plain = health.table(rows).splitlines()
    assert plain[0].split()[:3] == ["host", "role", "version"]
    second_column = {line.index(line.split()[1], len(line.split()[0])) for line in plain}
    assert len(second_column) == 1
    assert "\033[" not in "\n".join(plain)
    assert "\033[32mstreaming" in health.table(rows, colour=True)
    assert "16.0 MB" in plain[2] and "0.2 s ago" in plain[2]


def test_table_cells_hold_no_control_characters_from_a_host():
    rows, _ = judge(primary(senders=[sender()], slots=[slot()]),
                    standby(receiver="stream\x1b]0;pwned\x07ing"))
    assert "stream]0;pwneding" in health.table(rows)
    assert "\x1b" not in health.table(rows) and "\x07" not in health.table(rows)


def test_document_has_level_rows_and_problems():
    rows, problems = judge(primary(), HostView("standby", "standby", running=False))
    doc = health.document(rows, problems)
    assert doc["status"] == "critical" and doc["code"] == CRITICAL
    assert [h["host"] for h in doc["hosts"]] == ["master", "standby"]
    assert doc["problems"][0]["level"] == "critical"


def tls_pair(ssl=True, protocol="TLSv1.3", sslmode="verify-full", tls_mode="verify"):
    return judge(primary(senders=[sender(ssl=ssl, protocol=protocol)], slots=[slot()]),
                 standby(conninfo=conninfo(sslmode) if sslmode else None), tls_mode=tls_mode)


def test_verified_tls_is_ok_and_shown():
    rows, problems = tls_pair()
    assert problems == []
    assert rows[0]["tls"] is None
    assert rows[1]["tls"] == {"protocol": "TLSv1.3", "verified": True, "sslmode": "verify-full"}
    assert "TLSv1.3 verified" in health.table(rows).splitlines()[2]
    rows, problems = tls_pair(sslmode="verify-ca")
    assert rows[1]["tls"]["verified"] is True and problems == []


NO_TLS = ("standby replicates from master without TLS (hotstandby.tls.mode is {}): "
          "run full: it sets up TLS")
UNVERIFIED = ("standby replicates from master over TLSv1.3 without checking its certificate "
              "(sslmode {}; hotstandby.tls.mode is {}): run full: it sets up TLS")


def test_tls_mode_verify_by_default():
    views = [primary(senders=[sender(ssl=True, protocol="TLSv1.3")], slots=[slot()]),
             standby(conninfo=conninfo("require"))]
    _, problems = health.assess(views, 16 << 20, 30)
    assert problems == [(WARNING, UNVERIFIED.format("require", "verify"))]


@pytest.mark.parametrize("ssl,sslmode,tls_mode,warning", [
    (False, "disable", "verify", NO_TLS.format("verify")),
    (False, "prefer", "require", NO_TLS.format("require")),
    (False, "disable", "off", None),
    (True, "require", "verify", UNVERIFIED.format("require", "verify")),
    (True, "prefer", "verify", UNVERIFIED.format("prefer", "verify")),
    (True, "require", "verify-ca", UNVERIFIED.format("require", "verify-ca")),
    (True, "verify-ca", "verify-ca", None),
    (True, "require", "require", None),
    (True, "prefer", "off", None),
    (True, "verify-full", "require", None),
])
def test_tls_short_of_the_mode_is_a_warning_with_the_fix(ssl, sslmode, tls_mode, warning):
    rows, problems = tls_pair(ssl=ssl, sslmode=sslmode, tls_mode=tls_mode)
    assert rows[1]["tls"] == {"protocol": "TLSv1.3" if ssl else None,
                              "verified": sslmode in ("verify-ca", "verify-full"),
                              "sslmode": sslmode}
    assert problems == ([(WARNING, warning)] if warning else [])


def test_tls_not_known_is_no_problem():
    # 9.4: neither side tells; 9.5: the primary tells TLS, the standby not its sslmode.
    rows, problems = tls_pair(ssl=None, protocol=None, sslmode=None)
    assert rows[1]["tls"] is None and problems == []
    rows, problems = tls_pair(protocol="TLSv1.2", sslmode=None)
    assert rows[1]["tls"] == {"protocol": "TLSv1.2", "verified": None, "sslmode": None}
    assert problems == []
    # No sender for the standby: its receiver alone cannot say whether TLS is in use.
    rows, _ = judge(primary(slots=[slot()]), standby(conninfo=conninfo("verify-full")))
    assert rows[1]["tls"] is None


@pytest.mark.parametrize("text", [
    "sslmode=verify-full sslmode=disable",     # twice: refused, not guessed
    "host='10.0.0.2 sslmode=verify-full",      # unterminated quote
    "sslmode='verify-full\x1b[31m'",           # not an sslmode libpq knows
    "",                                        # no sslmode at all
])
def test_receiver_sslmode_unknown_unless_plainly_given(text):
    rows, problems = judge(primary(senders=[sender(ssl=True, protocol="TLSv1.3")],
                                   slots=[slot()]), standby(conninfo=text))
    assert rows[1]["tls"] == {"protocol": "TLSv1.3", "verified": None, "sslmode": None}
    assert problems == []


def test_quoted_sslmode_in_the_receivers_conninfo():
    rows, _ = judge(primary(senders=[sender(ssl=True, protocol="TLSv1.3")], slots=[slot()]),
                    standby(conninfo="host='db 1' sslmode='verify-ca' "
                                     "application_name='it\\'s'"))
    assert rows[1]["tls"]["sslmode"] == "verify-ca"


def test_a_primary_saying_tls_without_a_protocol_is_not_believed():
    rows, _ = tls_pair(protocol="\x1b[2J")
    assert rows[1]["tls"] is None
    rows, _ = tls_pair(ssl="yes")
    assert rows[1]["tls"] is None


def test_a_standby_not_streaming_has_no_tls_warning():
    _, problems = judge(primary(senders=[], slots=[slot(active=False)]),
                        standby(receiver=None))
    assert [lvl for lvl, _ in problems] == [CRITICAL]


def test_table_tls_column():
    cells = {}
    for name, kwargs in [("verified", {}), ("unverified", {"sslmode": "require"}),
                         ("none", {"ssl": False, "sslmode": "disable"}),
                         ("unknown", {"ssl": None, "sslmode": None}),
                         ("no sslmode", {"protocol": "TLSv1.2", "sslmode": None})]:
        rows, _ = tls_pair(**kwargs)
        header, _, line = health.table(rows).splitlines()
        cells[name] = line[header.index("tls"):header.index("last msg")].strip()
    assert cells == {"verified": "TLSv1.3 verified", "unverified": "TLSv1.3 unverified",
                     "none": "none", "unknown": "-", "no sslmode": "TLSv1.2"}


SCHEMA = json.loads((Path(__file__).parents[1] / "lab" / "status.schema.json").read_text())


@pytest.mark.parametrize("kwargs", [{}, {"ssl": False, "sslmode": "disable"},
                                    {"ssl": None, "sslmode": None}, {"sslmode": None}])
def test_document_with_tls_matches_the_schema(kwargs):
    rows, problems = tls_pair(**kwargs)
    valid(health.document(rows, problems))


def test_schema_holds_tls_to_its_fields():
    rows, problems = tls_pair()
    rows[1]["tls"]["cipher"] = "TLS_AES_256_GCM_SHA384"
    with pytest.raises(jsonschema.ValidationError, match="cipher"):
        valid(health.document(rows, problems))
    del rows[1]["tls"]["cipher"], rows[1]["tls"]["verified"]
    with pytest.raises(jsonschema.ValidationError, match="verified"):
        valid(health.document(rows, problems))
    del rows[1]["tls"]
    with pytest.raises(jsonschema.ValidationError, match="tls"):
        valid(health.document(rows, problems))


def valid(document):
    jsonschema.validate(document, SCHEMA, cls=jsonschema.Draft202012Validator)


def cascade(delay="1h"):
    from fabfile.knowledge import topology
    return topology.make("master", ["standby", "standby3"],
                         {"standby3": {"upstream": "standby", "apply_delay": delay}})


def test_a_cascaded_standby_is_read_on_its_upstream():
    upstream = standby()
    upstream.server.update(senders=[sender("standby3", lag=120.0)], slots=[slot("standby3")])
    rows, problems = health.assess(
        [primary(senders=[sender()], slots=[slot()]), upstream,
         standby("standby3", replay="0/4000000")], 16 << 20, 30, "verify", cascade())
    assert problems == []   # two minutes of replay lag: within its delay of an hour
    s3 = rows[2]
    assert (s3["upstream"], s3["apply_delay_seconds"], s3["slot"], s3["lag_seconds"]) == \
        ("standby", 3600, "standby3", 120.0)
    assert (rows[0]["upstream"], rows[1]["upstream"], rows[1]["apply_delay_seconds"]) == \
        (None, "master", None)
    table = health.table(rows)
    assert table.splitlines()[0].split()[3:6] == ["wal", "from", "delay"]
    assert table.splitlines()[3].split()[3:6] == ["streaming", "standby", "1h"]
    jsonschema.validate(health.document(rows, problems), SCHEMA)


def test_a_delayed_standby_late_beyond_its_delay_or_not_receiving_warns():
    upstream = standby()
    behind = {**sender("standby3", replayed="0/1000000", lag=3700.0), "flushed": "0/1000000"}
    upstream.server.update(senders=[behind], slots=[])
    late = standby("standby3", replay="0/1000000")
    _, problems = health.assess([primary(senders=[sender()], slots=[slot()]), upstream, late],
                                16 << 20, 30, "verify", cascade())
    assert [text for _, text in problems] == [
        "standby3: no replication slot standby3 on standby: run configure-standby",
        "standby3 is 67108864 bytes behind master in what it received (warning above "
        "16777216)",
        "standby3 replays 3700.0 s behind standby (warning above its delay 3600 s + 30 s)"]
