"""The settings declared once (fabfile/settings.py): the collection's defaults,
the checks, the frozen Settings, the flags' fallbacks and help, and
docs/settings.md all come from the one table."""
from pathlib import Path

import fabric
import pytest

from fabfile import docs, settings, tasks
from fabfile.context import Options, Settings, SettingsError, validate
from fabfile.executor import ClusterExecutor
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
    ({"methd": "rsync"}, "hotstandby.methd: unknown setting: did you mean method?"),
    ({"standby": ["db2"]}, "hotstandby.standby: unknown setting: did you mean standbys?"),
    ({"tls_mode": "require"}, "hotstandby.tls_mode: unknown setting: did you mean tls.mode?"),
    ({"timeout": {"start": 5}}, "hotstandby.timeout: unknown setting: did you mean timeouts?"),
    ({"tls": {"cafile": "x"}}, "hotstandby.tls.cafile: unknown setting: did you mean ca_file?"),
    ({"tls": {"pin": "x"}},
     "hotstandby.tls.pin: unknown setting: use mode, ca_file, cert_file or key_file"),
    ({"frobnicate": 1}, "hotstandby.frobnicate: unknown setting: docs/settings.md lists the "
                        "settings"),
])
def test_an_unknown_setting_is_refused_naming_the_nearest_known_one(section, message):
    with pytest.raises(SettingsError) as err:
        validate(section)
    assert str(err.value) == message


def test_cli_hosts_is_the_executors_and_allowed():
    assert Settings.from_config({"cli_hosts": ["db1", "db2"]}).cli_hosts == ("db1", "db2")


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
    ({"timeouts": 5}, "hotstandby.timeouts: a mapping of start, stream and watchdog expected, "
                      "got 5"),
    ({"method": {"a": 1}}, "hotstandby.method: a copy method (rsync-cold, rsync, basebackup, auto) "
                           "expected, got a mapping"),
    ({"tls": {"mode": ["verify"]}}, "hotstandby.tls.mode: verify, verify-ca, require or off "
                                    "expected, got a list"),
    ({"data_directory_candidates": "/srv/pg"},
     "hotstandby.data_directory_candidates: a list of absolute paths expected, got '/srv/pg'"),
])
def test_a_value_of_another_shape_names_the_setting_and_the_shape(section, message):
    with pytest.raises(SettingsError) as err:
        validate(section)
    assert str(err.value) == message


def test_a_list_setting_may_be_null():
    assert Settings.from_config({"standbys": None}).standbys == ()


def executor(tmp_path=None, text=None):
    """The executor on fab's config, with `text` as the -f file."""
    config = fabric.Config(lazy=True)
    if text is not None:
        (tmp_path / "run.yaml").write_text(text)
        config.set_runtime_path(str(tmp_path / "run.yaml"))
        config.load_runtime()
    return ClusterExecutor(ns, config)


def test_environment_variables_reach_the_settings(monkeypatch):
    monkeypatch.setenv("FABRIC_HOTSTANDBY_TLS_MODE", "require")
    monkeypatch.setenv("FABRIC_HOTSTANDBY_METHOD", "rsync")
    monkeypatch.setenv("FABRIC_HOTSTANDBY_PORT", "5433")
    monkeypatch.setenv("FABRIC_HOTSTANDBY_STATUS_WARN_LAG_SECONDS", "5")
    run = executor()
    run.load_config(["db1", "db2"])
    made = Settings.from_config(run.config.hotstandby)
    assert (made.tls.mode, made.method, made.port) == ("require", "rsync", 5433)
    assert made.status.warn_lag_seconds == 5 and made.cli_hosts == ("db1", "db2")


@pytest.mark.parametrize("name, value, message", [
    ("STANDBYS", "db2", "hotstandby.standbys: a list of host names expected, got 'db2' from "
                        "FABRIC_HOTSTANDBY_STANDBYS: give a list in a config file"),
    ("PORT", "abc", "hotstandby.port: a whole number expected, got 'abc' from "
                    "FABRIC_HOTSTANDBY_PORT"),
])
def test_an_environment_variable_invoke_cannot_cast_is_one_line(monkeypatch, name, value,
                                                               message):
    monkeypatch.setenv(f"FABRIC_HOTSTANDBY_{name}", value)
    with pytest.raises(SettingsError) as err:
        executor().load_config([])
    assert str(err.value) == message


def test_a_config_file_is_checked_before_invoke_merges_it(tmp_path):
    # Merged onto the defaults' [] it would be Invoke's AmbiguousMergeError.
    run = executor(tmp_path, "hotstandby:\n  standbys: {a: b}\n")
    with pytest.raises(SettingsError, match="hotstandby.standbys: a list of host names"):
        run.load_config(["db1", "db2"])
    run = executor(tmp_path, "hotstandby:\n  method: rsync\n  standbys: [db2]\n")
    run.load_config([])
    assert Settings.from_config(run.config.hotstandby).standbys == ("db2",)
