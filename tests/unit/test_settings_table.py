"""The settings declared once (fabfile/settings.py): the collection's defaults,
the checks, the frozen Settings, the flags' fallbacks and help, and
docs/settings.md all come from the one table."""
from pathlib import Path

import fabric
import pytest

from fabfile import docs, settings, tasks
from fabfile.context import Options, Settings, SettingsError, validate
from fabfile.tasks import ns

REPO = Path(__file__).resolve().parents[2]


def test_docs_settings_md_is_what_the_table_makes():
    assert (REPO / "docs" / "settings.md").read_text() == docs.markdown(), \
        "docs/settings.md is out of date: python3 -m fabfile.docs > docs/settings.md"


def test_every_user_setting_is_documented_and_cli_hosts_is_not():
    text = docs.markdown()
    for s in settings.TABLE:
        assert (f"| `{s.name}` |" in text) != s.internal, s.name
        assert s.help and s.shape, s.name
    assert "cli_hosts" not in text


def test_the_collection_defaults_are_the_tables_and_valid():
    section = ns.configuration()["hotstandby"]
    assert section == settings.defaults()
    assert section["tls"]["mode"] == "verify" and section["timeouts"]["start"] == 120
    assert "cli_hosts" not in section
    validate(section)


def test_settings_and_options_default_to_the_table():
    made = Settings.from_config({})
    assert made == Settings()
    assert made.data_directory_candidates[0] == "/var/lib/pgsql/data"
    assert made.tls.mode == "verify" and made.status.warn_lag_bytes == 16777216
    assert Options.resolve(made) == Options()


def test_a_flag_that_falls_back_to_a_setting_says_what_the_setting_says():
    for name in ("method", "compress", "max_rate", "fan_out"):
        assert tasks.COPY[name] == settings.help_of(name)
    assert tasks.FORCE["force"] == settings.help_of("force")
    assert tasks.STATUS["warn_lag_bytes"] == settings.help_of("status.warn_lag_bytes")


@pytest.mark.parametrize("section, message", [
    ({"standbys": {"a": "b"}}, "hotstandby.standbys: a list of host names expected, got a "
                               "mapping"),
    ({"standbys": "db2"}, "hotstandby.standbys: a list of host names expected, got 'db2'"),
    ({"tls": True}, "hotstandby.tls: a mapping of mode, ca_file, cert_file and key_file "
                    "expected, got true"),
    ({"addresses": ["x"]}, "hotstandby.addresses: a mapping of host names to addresses "
                           "expected, got a list"),
    ({"addresses": None}, "hotstandby.addresses: a mapping of host names to addresses "
                          "expected, got null"),
    ({"timeouts": 5}, "hotstandby.timeouts: a mapping of start and stream expected, got 5"),
    ({"method": {"a": 1}}, "hotstandby.method: a copy method (rsync-cold, rsync, basebackup) "
                           "expected, got a mapping"),
    ({"tls": {"mode": ["verify"]}}, "hotstandby.tls.mode: verify, require or off expected, "
                                    "got a list"),
    ({"data_directory_candidates": "/srv/pg"},
     "hotstandby.data_directory_candidates: a list of absolute paths expected, got '/srv/pg'"),
])
def test_a_value_of_another_shape_names_the_setting_and_the_shape(section, message):
    with pytest.raises(SettingsError) as err:
        validate(section)
    assert str(err.value) == message


def test_a_list_setting_may_be_null():
    assert Settings.from_config({"standbys": None}).standbys == ()


def test_environment_variables_reach_the_settings(monkeypatch):
    monkeypatch.setenv("FABRIC_HOTSTANDBY_TLS_MODE", "require")
    monkeypatch.setenv("FABRIC_HOTSTANDBY_METHOD", "rsync")
    monkeypatch.setenv("FABRIC_HOTSTANDBY_PORT", "5433")
    monkeypatch.setenv("FABRIC_HOTSTANDBY_STATUS_WARN_LAG_SECONDS", "5")
    config = fabric.Config(lazy=True)
    config.load_collection(ns.configuration())
    config.load_shell_env()
    made = Settings.from_config(config.hotstandby)
    assert (made.tls.mode, made.method, made.port) == ("require", "rsync", 5433)
    assert made.status.warn_lag_seconds == 5
