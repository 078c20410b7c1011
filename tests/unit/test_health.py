"""status: the query per version, judging what hosts said, rendering."""
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
            log=""):
    return HostView(name, "standby", version="15", running=True, log=log,
                    server={"in_recovery": in_recovery, "receive_lsn": replay,
                            "replay_lsn": replay, "senders": [], "slots": [],
                            "receiver": {"status": receiver, "last_message_age": 0.25}
                            if receiver else None})


def sender(name="standby", replayed="0/5000000", lag=None):
    return {"application_name": name, "state": "streaming", "sent": "0/5000000",
            "flushed": "0/5000000", "replayed": replayed, "lag_seconds": lag,
            "sync_state": "async"}


def slot(name="standby", restart="0/4000000", wal_status="reserved", active=True):
    return {"slot_name": name, "active": active, "restart_lsn": restart,
            "wal_status": wal_status}


def judge(*views, warn_bytes=16 << 20, warn_seconds=30):
    return health.assess(list(views), warn_bytes, warn_seconds)


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


def test_document_has_level_rows_and_problems():
    rows, problems = judge(primary(), HostView("standby", "standby", running=False))
    doc = health.document(rows, problems)
    assert doc["status"] == "critical" and doc["code"] == CRITICAL
    assert [h["host"] for h in doc["hosts"]] == ["master", "standby"]
    assert doc["problems"][0]["level"] == "critical"
