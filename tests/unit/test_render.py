import pytest

from fabfile.knowledge import render, versions

ALL_MAJORS = [90400, 90500, 90600, 100000, 110000, 120000, 130000, 140000, 150000,
              160000, 170000, 180000]


@pytest.mark.parametrize("major", ALL_MAJORS)
def test_primary_settings_every_major(major):
    s = render.primary_settings(major, {}, standbys=1)
    assert s["wal_level"] == ("hot_standby" if major < 90600 else "replica")
    assert s["listen_addresses"] == "*"
    assert s["max_wal_senders"] == 3 and s["max_replication_slots"] == 3
    assert s["wal_log_hints"] == "on"     # pg_rewind can bring it back after a failover
    text = render.render_settings(s, "test")
    assert "listen_addresses = '*'" in text   # the guide's `listen_address` typo is gone
    assert "listen_address =" not in text


def test_primary_settings_never_lower_and_keep_logical():
    s = render.primary_settings(150000, {"wal_level": "logical", "max_wal_senders": "10",
                                         "max_replication_slots": "20"}, standbys=3)
    assert s["wal_level"] == "logical"
    assert s["max_wal_senders"] == 10 and s["max_replication_slots"] == 20
    s = render.primary_settings(150000, {"max_wal_senders": "2"}, standbys=3)
    assert s["max_wal_senders"] == 5


def test_the_wal_guard_comes_last():
    s = render.primary_settings(150000, {}, 1, "*", {"max_slot_wal_keep_size": "10GB"})
    assert list(s)[-1] == "max_slot_wal_keep_size" and s["max_slot_wal_keep_size"] == "10GB"
    assert "max_slot_wal_keep_size" not in render.primary_settings(150000, {}, 1)


def test_settings_values_read_what_render_settings_wrote():
    settings = {"a": "x y", "b": 5, "c": "it's", "d": "back\\slash"}
    text = render.render_settings(settings, "test") + "e = 'f' # comment\n"
    assert render.settings_values(text) == {**{k: str(v) for k, v in settings.items()}, "e": "f"}
    assert render.settings_in(text) == {"a", "b", "c", "d", "e"}


def test_no_wal_log_hints_with_data_checksums():
    assert "wal_log_hints" not in render.primary_settings(150000, {"data_checksums": "on"}, 1)


@pytest.mark.parametrize("major,count", [(100000, 0), (110000, 4), (180000, 4)])
def test_rewind_functions_from_11(major, count):
    functions = versions.fact("rewind_functions", major)
    assert len(functions) == count
    sql = render.grant_execute(functions, "replicator")
    assert sql.count("grant execute on function pg_catalog.") == count
    assert sql.count(" to \"replicator\"") == count


@pytest.mark.parametrize("major", ALL_MAJORS)
def test_standby_connection_by_version(major):
    info = render.conninfo(render.replication_keywords(major, "10.0.0.5", 5432, "replicator",
                                                       "db2", "/h/.pgpass"))
    settings = render.standby_settings(major, {}, {}, info, "db2")
    recovery = render.recovery_conf(major, info, "db2")
    assert settings["hot_standby"] == "on"
    if major >= 120000:
        assert recovery is None
        assert settings["primary_conninfo"] == info
        assert settings["primary_slot_name"] == "db2"
    else:
        assert "primary_conninfo" not in settings
        assert "standby_mode = 'on'" in recovery
        assert "primary_slot_name = 'db2'" in recovery
    assert ("passfile=/h/.pgpass" in info) == (major >= 100000)
    assert "password" not in info


def test_standby_limits_raised_to_primary_and_kept_on_rerun():
    primary = {"max_connections": "200", "max_worker_processes": "8"}
    first = render.standby_settings(150000, primary, {"max_connections": "100",
                                                      "max_worker_processes": "8"}, "x", "s")
    assert first["max_connections"] == 200
    assert "max_worker_processes" not in first
    pinned = render.settings_in(render.render_settings(first, "t"))
    rerun = render.standby_settings(150000, primary, {"max_connections": "200",
                                                      "max_worker_processes": "8"},
                                    "x", "s", pinned)
    assert rerun == first


def test_quote_and_conninfo_escaping():
    assert render.quote(5) == "5"
    assert render.quote("it's") == "'it''s'"
    assert render.conninfo_value("a b") == "'a b'"
    assert render.conninfo_value("o'k") == "'o\\'k'"


@pytest.mark.parametrize("kind", ["hostssl", "host"])
def test_hba_lines_ipv4_and_ipv6(kind):
    lines = render.hba_lines("replicator", {"db2": "10.1.2.3", "db3": "fd00::7"},
                             "scram-sha-256", kind)
    assert [line.split() for line in lines] == [
        ["#", "standby", "db2"],
        [kind, "replication", "replicator", "10.1.2.3/32", "scram-sha-256"],
        [kind, "postgres", "replicator", "10.1.2.3/32", "scram-sha-256"],
        ["#", "standby", "db3"],
        [kind, "replication", "replicator", "fd00::7/128", "scram-sha-256"],
        [kind, "postgres", "replicator", "fd00::7/128", "scram-sha-256"]]
    assert render.hba_standbys(lines) == ["db2", "db3"]
    # a block written before standbys were named records none
    assert render.hba_standbys([line for line in lines if not line.startswith("#")]) == []
    with pytest.raises(ValueError):
        render.hba_lines("replicator", {"db2": "not-an-address"}, "md5")


@pytest.mark.parametrize("major,method", [(90600, "md5"), (100000, "scram-sha-256"),
                                          (130000, "scram-sha-256")])
def test_auth_method_never_trust(major, method):
    assert render.auth_method(major) == method


def test_passfile_round_trip_with_special_characters():
    line = render.passfile_line("10.0.0.5", 5432, "rep", "p:a\\ss")
    assert line == "10.0.0.5:5432:*:rep:p\\:a\\\\ss\n"
    assert render.passfile_password(line, "rep") == "p:a\\ss"
    older = "10.0.0.5:5432:replication:rep:secret\n"    # written by earlier releases
    assert render.passfile_password(older, "rep") == "secret"
    assert render.passfile_password(line, "other") is None


def test_recovery_settings_leave_a_standbys_auto_conf_silently():
    auto = ("# Do not edit this file manually!\nwork_mem = '8MB'\n"
            "primary_conninfo = 'host=old'\nprimary_slot_name = 'x'\n")
    assert render.standby_auto_conf(auto) == (
        "# Do not edit this file manually!\nwork_mem = '8MB'\n", [])


def test_commands_from_the_primarys_auto_conf_are_left_out_and_named():
    auto = ("# Do not edit this file manually!\n"
            "archive_mode = 'always'\n"
            "archive_command = 'touch /tmp/pwned-%f'\n"
            "shared_buffers = '1GB'\n"
            "archive_cleanup_command = 'touch /tmp/pwned'\n"
            "recovery_end_command = 'x'\n"
            "restore_command = 'cp /a/%f %p'\n"
            "archive_library = 'evil'\n"
            "ssl_passphrase_command = 'x'\n"
            "primary_conninfo = 'host=old'\n")
    assert render.standby_auto_conf(auto) == (
        "# Do not edit this file manually!\nshared_buffers = '1GB'\n",
        ["archive_mode", "archive_command", "archive_cleanup_command", "recovery_end_command",
         "restore_command", "archive_library", "ssl_passphrase_command"])


@pytest.mark.parametrize("line", [
    "archive_command 'x'",              # the = is optional
    "archive_command='x'",
    "  \t\rARCHIVE_Command = 'x'",       # names ignore ASCII case; \r is a blank
    "archive_command = 'x' # a comment",
    "archive_command'x'",
    "include 'evil.conf'", "include_dir 'conf.d'", "Include_If_Exists = 'x.conf'",
])
def test_the_servers_spellings_of_a_command_are_left_out(line):
    text, left_out = render.standby_auto_conf(f"work_mem = '8MB'\n{line}\n")
    assert text == "work_mem = '8MB'\n" and len(left_out) == 1


@pytest.mark.parametrize("line", [
    "# archive_command = 'x'",           # a comment
    "archive_commandx = 'x'",            # another name
    "myext.archive_command = 'x'",       # a custom setting's
    "archive_\u212aommand = 'x'",        # not ASCII: no name of the server's
    "work_mem = '8MB'  # archive_command = 'x'",
])
def test_lines_that_set_no_command_stay(line):
    auto = f"{line}\nwork_mem = '8MB'\n"
    assert render.standby_auto_conf(auto) == (auto, [])


def test_slot_names():
    assert render.slot_name("db-2.example.com") == "db_2_example_com"
    assert len(render.slot_name("x" * 100)) == 63


def test_role_sql_sends_the_verifier_in_a_quiet_session():
    verifier = "SCRAM-SHA-256$4096:c2FsdA==$a2V5:a2V5"
    sql = render.role_sql("rep", verifier, exists=False)
    assert f"CREATE ROLE \"rep\" WITH REPLICATION LOGIN PASSWORD '{verifier}';" in sql
    for setting in ("log_statement = 'none'", "log_min_duration_statement = -1",
                    "log_min_error_statement = 'panic'", "pg_stat_statements.track_utility = off"):
        assert sql.index(setting) < sql.index("PASSWORD")
    assert "ALTER ROLE" in render.role_sql("rep", "md5" + "0" * 32, exists=True)


@pytest.mark.parametrize("text,literal", [
    ("plain", "'plain'"),
    ("it's", "'it''s'"),
    ("a\\b", "E'a\\\\b'"),
    ("x\\'; \\! touch /tmp/pwn", "E'x\\\\''; \\\\! touch /tmp/pwn'"),
])
def test_sql_literal_whatever_standard_conforming_strings_says(text, literal):
    assert render.sql_literal(text) == literal


def test_sql_literal_cannot_be_left():
    # Read back as the server does, under both values of standard_conforming_strings:
    # the literal ends where it was written to end, and holds the text.
    for text in ("\\", "\\'", "'\\", "a\\'; \\! id #", "\\\\'\\''"):
        literal = render.sql_literal(text)
        for conforming in (True, False):
            assert read_literal(literal, conforming) == (text, len(literal))


def read_literal(sql, standard_conforming_strings):
    """(value, end) of the string constant at the start of sql, as PostgreSQL's
    lexer reads it: E'...' always takes backslash escapes, '...' only when
    standard_conforming_strings is off."""
    escapes = sql.startswith("E'") or not standard_conforming_strings
    i = 2 if sql.startswith("E'") else 1
    value = []
    while True:
        c = sql[i]
        if escapes and c == "\\":
            value.append(sql[i + 1])
            i += 2
        elif c == "'" and sql[i + 1:i + 2] == "'":
            value.append("'")
            i += 2
        elif c == "'":
            return "".join(value), i + 1
        else:
            value.append(c)
            i += 1


def test_every_fact_defined_for_every_supported_major():
    for name in versions.FACTS:
        for major in ALL_MAJORS:
            versions.fact(name, major)


def test_restart_needed_only_for_changed_postmaster_settings():
    wanted = {"listen_addresses": "*", "wal_level": "replica", "max_wal_senders": 10,
              "primary_conninfo": "host=a"}
    running = [("listen_addresses", "localhost", "postmaster"),
               ("wal_level", "replica", "postmaster"), ("max_wal_senders", "10", "postmaster"),
               ("primary_conninfo", "host=b", "sighup")]
    assert render.restart_needed(wanted, running) == ["listen_addresses"]


def test_a_promoted_standby_keeps_the_settings_whose_removal_only_asks_for_a_restart():
    owned = {"hot_standby", "max_connections", "primary_conninfo", "primary_slot_name",
             "wal_level"}
    current = {"hot_standby": "on", "max_connections": "200", "max_worker_processes": "8",
               "wal_level": "replica"}
    # primary_conninfo goes (reloadable); the limits it runs with and hot_standby stay.
    assert render.kept_as_primary(150000, owned, current) == {"hot_standby": "on",
                                                               "max_connections": "200"}
    # A primary's own file sets none of them: nothing is added.
    assert render.kept_as_primary(150000, {"wal_level"}, current) == {}


def test_hba_without_drops_each_named_standby_and_only_it():
    lines = render.hba_lines("replicator", {"db2": "10.0.0.2", "db3": "10.0.0.3",
                                            "db4": "10.0.0.4"}, "scram-sha-256")
    kept = render.hba_without(lines, {"db3"})
    assert render.hba_standbys(kept) == ["db2", "db4"]
    assert kept == render.hba_lines("replicator", {"db2": "10.0.0.2", "db4": "10.0.0.4"},
                                    "scram-sha-256")
    assert render.hba_without(lines, {"db2", "db3", "db4"}) == []
    assert render.hba_without(lines, {"db9"}) == lines


@pytest.mark.parametrize("major", ALL_MAJORS)
def test_a_delayed_standby_by_version(major):
    settings = render.standby_settings(major, {}, {}, "host=db2", "db3", delay_ms=3_600_000)
    recovery = render.recovery_conf(major, "host=db2", "db3", 3_600_000)
    if major >= 120000:
        assert settings["recovery_min_apply_delay"] == "1h" and recovery is None
    else:
        assert "recovery_min_apply_delay" not in settings
        assert "recovery_min_apply_delay = '1h'" in recovery
    # None without a delay; and one copied into postgresql.auto.conf does not win.
    assert "recovery_min_apply_delay" not in render.standby_settings(major, {}, {}, "h", "s")
    assert "recovery_min_apply_delay" not in (render.recovery_conf(major, "h", "s") or "")
    assert render.standby_auto_conf("recovery_min_apply_delay = '5min'\nwork_mem = '8MB'")[0] \
        == "work_mem = '8MB'"
