import pytest

from fabfile.knowledge.lsn import Lsn
from fabfile.steps import checks
from fabfile.knowledge import datadir, diagnose

LOGS = {
    "no pg_hba.conf entry": 'FATAL:  no pg_hba.conf entry for replication connection from '
                            'host "172.18.0.3", user "replicator", no encryption',
    "wrong password": 'FATAL:  password authentication failed for user "replicator"',
    "WAL removed": "FATAL:  could not receive data from WAL stream: ERROR:  requested WAL "
                   "segment 000000010000000000000001 has already been removed",
    "system identifier": "FATAL:  database system identifier differs between the primary "
                         "and standby",
    "timeline": "FATAL:  highest timeline 1 of the primary is behind recovery timeline 2",
    "settings": "FATAL:  recovery aborted because of insufficient parameter settings",
}


@pytest.mark.parametrize("name", LOGS)
def test_known_failures_are_named_with_the_log_line(name):
    log = "LOG:  starting PostgreSQL\n" + LOGS[name] + "\nLOG:  waiting for WAL\n"
    line, meaning = diagnose.diagnose(log)
    assert line == LOGS[name]
    message = diagnose.explain("standby", log)
    assert message.startswith("standby: ") and LOGS[name] in message


# A standby's walreceiver failing to connect over TLS: libpq's reason comes on
# the "could not connect to the primary server" line (libpq 14+ names the
# server first), and must win over that generic line's meaning.
PG15 = '2026-11-27 09:41:36.736 UTC [21566] FATAL:  could not connect to the primary server: ' \
       'connection to server at "127.0.0.1", port 55432 failed: '
PG12 = "2025-03-02 10:00:01.513 UTC [4242] FATAL:  could not connect to the primary server: "
PG96 = "2025-03-02 10:00:01 UTC [1687-1] FATAL:  could not connect to the primary server: "
PG17 = '2025-03-02 10:00:01.513 UTC [91] FATAL:  could not connect to the primary server: ' \
       'connection to server at "db1" (10.0.0.2), port 5432 failed: '
UNTRUSTED = "does not trust (it was replaced or is not the primary's): run full to pin"
TLS_LOGS = [
    (PG15 + "SSL error: certificate verify failed", UNTRUSTED),
    (PG17 + "SSL error: certificate verify failed", UNTRUSTED),
    (PG12 + "SSL error: certificate verify failed", UNTRUSTED),
    (PG96 + "SSL error: certificate verify failed", UNTRUSTED),
    (PG15 + 'server certificate for "elsewhere.test" (and 1 other name) does not match '
            'host name "127.0.0.1"', "does not name the host this standby connects to"),
    (PG17 + 'server certificate for "db1.example.com" does not match host name "10.0.0.2"',
     "does not name the host this standby connects to"),
    (PG96 + 'server common name "db1" does not match host name "10.0.0.2"',
     "does not name the host this standby connects to"),
    (PG15 + 'root certificate file "/var/lib/postgresql/.pg-hotstandby.primary.crt" does '
            "not exist\n\tEither provide the file or change sslmode to disable server "
            "certificate verification.", "pinned copy of the primary's certificate"),
    (PG17 + 'root certificate file "/var/lib/postgresql/.pg-hotstandby.primary.crt" does '
            "not exist\n\tEither provide the file, use the system's trusted roots with "
            "sslrootcert=system, or change sslmode to disable server certificate "
            "verification.", "pinned copy of the primary's certificate"),
    (PG12 + 'could not read root certificate file "/var/lib/postgresql/.pg-hotstandby.'
            'primary.crt": Permission denied', "missing or unreadable: run full"),
    (PG15 + "server does not support SSL, but SSL was required",
     "the primary does not serve TLS: run full (configure-master turns ssl on)"),
    (PG96 + "server does not support SSL, but SSL was required",
     "the primary does not serve TLS"),
    (PG15 + 'FATAL:  no pg_hba.conf entry for replication connection from host "127.0.0.1", '
            'user "replicator", no encryption',
     "or the standby connects without TLS while the line is hostssl: run full"),
    (PG96 + 'FATAL:  no pg_hba.conf entry for replication connection from host "10.0.0.3", '
            'user "replicator", SSL off',
     "or the standby connects without TLS while the line is hostssl: run full"),
]


@pytest.mark.parametrize("failure,meaning", TLS_LOGS)
def test_tls_failures_win_over_could_not_connect(failure, meaning):
    # Each attempt logs its line (a multi-line one ends with libpq's hint).
    log = ("LOG:  starting PostgreSQL 15.8 on x86_64-pc-linux-gnu\n" + failure + "\n"
           + failure + "\n"
           + "2026-11-27 09:41:36.750 UTC [21565] LOG:  waiting for WAL to become available "
             "at 0/30000B8\n")
    line, found = diagnose.diagnose(log)
    assert line == failure.split("\n")[0]
    assert meaning in found and "cannot reach the primary's port" not in found


def test_pg_hba_over_tls_keeps_its_first_meaning():
    line = (PG15 + 'FATAL:  no pg_hba.conf entry for replication connection from host '
                   '"10.0.0.3", user "replicator", SSL encryption')
    _, meaning = diagnose.diagnose(line)
    assert meaning.startswith("the primary's pg_hba.conf has no line") and "hostssl" not in meaning


def test_could_not_connect_alone_is_still_the_port():
    _, meaning = diagnose.diagnose(PG15 + "Connection refused\n\tIs the server running on "
                                          "that host and accepting TCP/IP connections?")
    assert "cannot reach the primary's port" in meaning


def test_latest_failure_wins():
    log = LOGS["wrong password"] + "\n" + LOGS["WAL removed"] + "\n"
    assert "already been removed" in diagnose.diagnose(log)[0]


def test_only_lines_since_the_last_start_count():
    earlier = "LOG:  starting PostgreSQL 15.8 on x86_64\n" + LOGS["wrong password"] + "\n"
    now = "LOG:  starting PostgreSQL 15.8 on x86_64\nLOG:  entering standby mode\n"
    assert diagnose.diagnose(earlier + now) is None
    assert diagnose.diagnose(earlier + now + LOGS["settings"])[0] == LOGS["settings"]
    assert diagnose.diagnose(LOGS["wrong password"]) is not None   # no start line: all count


def test_unknown_log_shows_its_tail():
    assert diagnose.diagnose("LOG: all fine\n") is None
    assert "last lines:\nLOG: all fine" in diagnose.explain("h", "LOG: all fine\n")


def test_user_data_detection_from_base_listing():
    stock = "1\n1/1259\n4\n4/2619\n5\n5/16_fsm\n5/2608.1\n13100/1259\n"
    assert not datadir.holds_user_data(stock)
    assert datadir.holds_user_data(stock + "5/16385\n")        # a table in postgres
    assert datadir.holds_user_data(stock + "16384\n16384/1259\n")  # a new database
    assert datadir.holds_user_data(stock + "5/16385_vm\n")


def state(system_id="7", timeline="1", checkpoint="0/3000060", copying_from="", history=None):
    from fabfile.steps.server import ServerState
    return ServerState(exists=True, system_id=system_id, timeline=timeline,
                       checkpoint=Lsn.parse(checkpoint), copying_from=copying_from,
                       history=history)


# A primary on timeline 3 that left timeline 2 at 0/5000150.
TIMELINE_3 = state(timeline="3", checkpoint="0/7000060",
                   history={1: Lsn.parse("0/3000000"), 2: Lsn.parse("0/5000150")})


def test_attach_a_standby_that_stopped_before_the_fork():
    assert checks.attach_problem("s", TIMELINE_3, state(timeline="2", checkpoint="0/5000028"),
                                 Lsn.parse("0/7000100")) is None


def test_attach_refused_past_the_fork_on_an_earlier_timeline():
    # A former primary that wrote on after the failover: behind the primary's
    # position, yet not on its history.
    problem = checks.attach_problem("s", TIMELINE_3, state(timeline="2", checkpoint="0/5100000"),
                                    Lsn.parse("0/7000100"))
    assert "goes past where the primary's history left its timeline 2" in problem


def test_lsn_order():
    assert Lsn.parse("0/3000060") < Lsn.parse("0/30000A0") < Lsn.parse("1/0")
    assert Lsn.parse("16/B374D848") == (0x16 << 32) + 0xB374D848


def test_attach_copy_of_primary_is_fine():
    assert checks.attach_problem("s", state(), state()) is None
    assert checks.attach_problem("s", state(), state(checkpoint="0/2000000"),
                                 Lsn.parse("0/5000000")) is None


@pytest.mark.parametrize("standby,primary_lsn,message", [
    (state(system_id="8"), None, "not a copy of this primary"),
    (state(timeline="2"), None, "timeline 2 is ahead"),
    (state(checkpoint="0/9000028"), "0/5000000", "split brain"),
    (state(checkpoint="0/3000100"), None, "split brain"),
    (state(copying_from="7"), None, "copy of the primary is unfinished"),
])
def test_attach_refused(standby, primary_lsn, message):
    primary_lsn = primary_lsn and Lsn.parse(primary_lsn)
    assert message in checks.attach_problem("s", state(), standby, primary_lsn)


def test_ignored_lines_are_skipped():
    log = (LOGS["wrong password"] + "\n"
           + 'FATAL:  password authentication failed for user "hotstandby_smoke"\n')
    line, _ = diagnose.diagnose(log, ignore=("hotstandby_smoke",))
    assert line == LOGS["wrong password"]


def test_a_failed_copy_is_told_by_its_error_line_not_its_progress():
    rsync = ("    412,123,136  41%   95.21MB/s    0:00:06 (xfr#1, to-chk=3/900)\r"
             "    512,123,136  51%   95.21MB/s    0:00:05 (xfr#2, to-chk=2/900)\r"
             "rsync: [sender] write error: Broken pipe (32)\n"
             "rsync error: error in socket IO (code 10) at io.c(848) [sender=3.2.7]\n")
    assert diagnose.failure_line(rsync) == \
        "rsync error: error in socket IO (code 10) at io.c(848) [sender=3.2.7]"
    backup = ("pg_basebackup: error: could not create directory \"/srv/ts1\": "
              "Permission denied\npg_basebackup: removing data directory \"/x\"\n")
    assert "Permission denied" in diagnose.failure_line(backup)
    assert diagnose.failure_line("") == "no output"
    assert diagnose.failure_line("just this") == "just this"
