"""The replication password on the wire: a primary that logs every statement,
keeps pg_stat_statements, takes backslashes literally no more
(standard_conforming_strings = off) and stores md5 by default gets the role
as a SCRAM verifier made by fab; a password built to leave its SQL literal
runs nothing; a passfile's password not made by the tool is not believed.
One lab, two runs of `full`."""
import shlex

import pytest
import yaml

from fabfile.knowledge import passwords

# Under the old rendering ('...' with quotes doubled) and
# standard_conforming_strings = off, \' ended the literal and psql ran the rest.
MARKER = "/var/lib/postgresql/zz9pwnq"
PASSWORD = "Zq7:\\'; \\! touch ~/zz9pwnq #Xw9"
LOG = "/var/log/postgresql/postgresql-15-main.log"
AUDIT = """\
log_statement = 'all'
log_min_duration_statement = 0
shared_preload_libraries = 'pg_stat_statements'
standard_conforming_strings = off
password_encryption = md5
"""


@pytest.fixture(scope="module")
def lab(lab_factory):
    lab = lab_factory(pg=15)
    lab.sh("master", f"printf %s {shlex.quote(AUDIT)} > /etc/postgresql/15/main/conf.d/audit.conf"
                     " && systemctl restart postgresql@15-main")
    lab.query("master", "create extension pg_stat_statements")
    return lab


def pieces(secret, size=6):
    return {secret[i:i + size] for i in range(len(secret) - size + 1)}


def leaked(secret, text):
    """Pieces of the secret (longer than a few characters) found in text."""
    return sorted(p for p in pieces(secret) if p in text)


def server_traces(lab):
    """What the primary kept of the statements it ran: its log, and
    pg_stat_statements and pg_stat_activity (read whole: a filter with the
    password in it would itself be logged)."""
    log = lab.sh("master", f"cat {LOG}")
    kept = lab.query("master", "select query from pg_stat_statements")
    active = lab.query("master", "select coalesce(query, '') from pg_stat_activity")
    return log, "\n".join(q for (q,) in kept), "\n".join(q for (q,) in active)


def no_marker(lab):
    return all(lab.sh(h, f"test -e {MARKER} && echo found; true").strip() == "" for h in lab.hosts)


def streams(lab):
    return lab.query("standby", "select status from pg_stat_wal_receiver") == [("streaming",)]


def stored(lab):
    return lab.query("master", "select rolpassword from pg_authid "
                               "where rolname = 'replicator'")[0][0]


def test_full_sends_a_verifier_and_runs_nothing(lab, tmp_path):
    config = tmp_path / "wire.yaml"
    config.write_text(yaml.safe_dump({"hotstandby": {"replication_password": PASSWORD,
                                                     "auth_method": "md5"}}))
    result = lab.fab("full", config=config)
    out = result.stdout + result.stderr
    assert result.returncode == 0, out
    assert "replication from" in out and "with md5" in out
    assert streams(lab)   # the password works, through md5 pg_hba lines
    assert no_marker(lab)
    verifier = stored(lab)
    assert verifier.startswith("SCRAM-SHA-256$4096:")
    assert passwords.matches(verifier, "replicator", PASSWORD)

    log, kept, active = server_traces(lab)
    # The traces are there (the test can fail) ...
    assert "pg_create_physical_replication_slot" in log
    assert "pg_create_physical_replication_slot" in kept
    # ... and hold neither password, nor either role's verifier.
    for text in (out, log, kept, active):
        assert leaked(PASSWORD, text) == []
        assert "SCRAM-SHA-256$" not in text and "password '" not in text.lower()
    assert "CREATE ROLE hotstandby_smoke" not in log + kept   # the smoke role's
    assert "PASS" in result.stdout and "FAIL" not in result.stdout


def test_a_passfile_password_not_made_here_is_replaced(lab):
    # The standby's passfile holds the configured password from the run above;
    # without that setting, a rerun must not believe what a standby holds.
    result = lab.fab("full")
    out = result.stdout + result.stderr
    assert result.returncode == 0, out
    assert ("standby: the password in /var/lib/postgresql/.pg-hotstandby.pgpass is not one "
            "this tool makes: not used, a new one is set") in out
    assert "updated replication role replicator" in out
    new = lab.sh("standby", "cat /var/lib/postgresql/.pg-hotstandby.pgpass").strip() \
        .rsplit(":", 1)[-1]
    assert passwords.generated(new)
    assert passwords.matches(stored(lab), "replicator", new)
    assert streams(lab) and no_marker(lab)
    assert "PASS" in result.stdout and "FAIL" not in result.stdout
    log, kept, active = server_traces(lab)
    for text in (out, log, kept, active):
        assert leaked(new, text) == [] and leaked(PASSWORD, text) == []


@pytest.mark.parametrize("password", ["pässwörd", "a\u00a0b\u00adc", "\u2168x", "a\ue000",
                                      "\u05d0a\u05d0"])
def test_saslprep_as_the_server_does_it(lab, password):
    # The server makes the verifier from the password (this logs it: last).
    lab.query("master", "set password_encryption = 'scram-sha-256'; "
                        "drop role if exists saslprep_probe; "
                        f"create role saslprep_probe password '{password}'")
    made = lab.query("master", "select rolpassword from pg_authid "
                               "where rolname = 'saslprep_probe'")[0][0]
    assert passwords.matches(made, "saslprep_probe", password)
    assert not passwords.matches(made, "saslprep_probe", password + "x")
