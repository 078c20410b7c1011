"""Values from hosts read as data: a connection string."""
import pytest

from fabfile.knowledge import render, values

# pg_stat_wal_receiver.conninfo of a PostgreSQL 15 standby (libpq's defaults
# filled in, values bare: walreceiver does not quote them).
RECEIVER = ("user=replicator passfile=/var/lib/postgresql/.pgpass channel_binding=prefer "
            "dbname=replication host=10.0.0.2 port=5432 application_name=standby "
            "fallback_application_name=walreceiver sslmode=verify-full sslcompression=0 "
            "sslrootcert=/var/lib/postgresql/.pg-hotstandby.primary.crt sslsni=1 "
            "ssl_min_protocol_version=TLSv1.2 gssencmode=prefer krbsrvname=postgres "
            "target_session_attrs=any")


def test_conninfo_as_walreceiver_shows_it():
    keywords = values.conninfo(RECEIVER, "conninfo")
    assert keywords["sslmode"] == "verify-full" and keywords["host"] == "10.0.0.2"
    assert keywords["sslrootcert"] == "/var/lib/postgresql/.pg-hotstandby.primary.crt"
    assert len(keywords) == 16


def test_conninfo_quoted_values_and_their_escapes():
    text = r"""application_name='it\'s a \\ b'   password='' sslmode='verify-ca'"""
    assert values.conninfo(text, "conninfo") == {
        "application_name": "it's a \\ b", "password": "", "sslmode": "verify-ca"}
    assert values.conninfo("", "conninfo") == {} == values.conninfo("  \n", "conninfo")


def test_conninfo_reads_back_what_render_writes():
    keywords = {"host": "db 1", "user": "o'brien", "passfile": "/a\\b", "sslmode": "require"}
    assert values.conninfo(render.conninfo(keywords), "conninfo") == keywords


@pytest.mark.parametrize("text", [
    "sslmode",                          # no value
    "sslmode=",                         # empty bare value (libpq would read on)
    "sslmode = require",                # spaces around =
    "sslmode='require",                 # unterminated quote
    "sslmode='re'quire'",
    "sslmode='a\\nb'",                  # an escape other than \' and \\
    "sslmode=it's",                     # a quote in a bare value
    "sslmode=a\\b",                     # a backslash in a bare value
    "host='a'sslmode=disable",          # pairs not separated
    "sslmode=disable sslmode=verify-full",  # given twice: which one counts?
    "SSLMODE=disable",
    "postgresql://h/db?sslmode=disable",
    None, 5,
])
def test_conninfo_garbage_refused_without_echoing_it(text):
    with pytest.raises(values.BadValue) as refused:
        values.conninfo(text, "the receiver's conninfo")
    assert str(refused.value).startswith("the receiver's conninfo is not a connection string")
    assert "disable" not in str(refused.value)


HOSTILE = "FATAL: x\x1b]0;pwned\x07\x1b[2J\r\x9b31m\x7fend"


def test_printable_drops_control_characters_and_keeps_lines_and_tabs():
    assert values.printable(HOSTILE) == "FATAL: x]0;pwned[2J31mend"
    assert values.printable("a\n\tb ü €") == "a\n\tb ü €"
    assert values.printable(ValueError("bad\x1b[2J")) == "bad[2J"


def test_printable_drops_format_characters_that_reorder_or_hide_text():
    # U+202E shows what follows right to left; U+200B and U+2066 hide or isolate.
    assert values.printable("ok \u202edelif\u202c\u200b \u2066x\u2069") == "ok delif x"
