import pytest

from fabfile.steps import checks
from fabfile.knowledge import diagnose

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
    assert not checks.holds_user_data(stock)
    assert checks.holds_user_data(stock + "5/16385\n")        # a table in postgres
    assert checks.holds_user_data(stock + "16384\n16384/1259\n")  # a new database
    assert checks.holds_user_data(stock + "5/16385_vm\n")


def state(system_id="7", timeline="1", checkpoint="0/3000060", copying_from=""):
    from fabfile.steps.server import ServerState
    return ServerState(exists=True, system_id=system_id, timeline=timeline,
                       checkpoint=checkpoint, copying_from=copying_from)


def test_lsn_order():
    assert checks.lsn("0/3000060") < checks.lsn("0/30000A0") < checks.lsn("1/0")
    assert checks.lsn("16/B374D848") == (0x16 << 32) + 0xB374D848


def test_attach_copy_of_primary_is_fine():
    assert checks.attach_problem("s", state(), state()) is None
    assert checks.attach_problem("s", state(), state(checkpoint="0/2000000"), "0/5000000") is None


@pytest.mark.parametrize("standby,primary_lsn,message", [
    (state(system_id="8"), None, "not a copy of this primary"),
    (state(timeline="2"), None, "timeline 2 is ahead"),
    (state(checkpoint="0/9000028"), "0/5000000", "split brain"),
    (state(checkpoint="0/3000100"), None, "split brain"),
    (state(copying_from="7"), None, "copy of the primary is unfinished"),
])
def test_attach_refused(standby, primary_lsn, message):
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
