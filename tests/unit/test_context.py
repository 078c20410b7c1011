"""The run context: settings validated once into typed fields, options that
fall back to the config without writing into it."""
import copy
from pathlib import Path

import pytest
import yaml
from invoke import Config

from fabfile.context import Options, Settings, SettingsError
from fabfile.steps.methods import METHODS

DEFAULTS = yaml.safe_load((Path(__file__).resolve().parents[2] / "fabfile" /
                           "defaults.yaml").read_text())


def section(**changes):
    """The `hotstandby` section as invoke hands it to a task (a config proxy)."""
    data = copy.deepcopy(DEFAULTS)
    data["hotstandby"].update(changes)
    return Config(overrides=data).hotstandby


def test_settings_are_typed_and_frozen():
    settings = Settings.from_config(section(cli_hosts=["db1", "db2"],
                                            addresses={"db1": "10.0.0.1"}))
    assert settings.cli_hosts == ("db1", "db2")
    assert settings.addresses == {"db1": "10.0.0.1"}
    assert settings.timeouts.start == 120 and settings.status.warn_lag_seconds == 30
    with pytest.raises(AttributeError):
        settings.method = "rsync"


def test_a_bad_value_is_refused_when_the_settings_are_made():
    with pytest.raises(SettingsError, match="hotstandby.port"):
        Settings.from_config(section(port="5432x"))


def test_command_line_overrides_are_validated_and_not_written_back():
    config = section()
    settings = Settings.from_config(config, **{"status.warn_lag_bytes": 5.0})
    assert settings.status.warn_lag_bytes == 5.0
    assert settings.status.warn_lag_seconds == 30   # the rest of the group kept
    assert config.status.warn_lag_bytes == 16777216
    with pytest.raises(SettingsError, match="status.warn_lag_seconds"):
        Settings.from_config(config, **{"status.warn_lag_seconds": "soon"})


def test_options_take_the_flag_else_the_config():
    config = section(method="rsync", force=True)
    settings = Settings.from_config(config)
    assert Options.resolve(settings).method is METHODS["rsync"]
    assert Options.resolve(settings, method="basebackup").method is METHODS["basebackup"]
    assert Options.resolve(settings).force is True
    assert config.method == "rsync"   # the flag did not go into the config
    assert not Options.resolve(Settings.from_config(section())).force


def test_an_unknown_method_flag_names_the_choices():
    with pytest.raises(SettingsError, match="--method 'fast': use rsync-cold, rsync, basebackup"):
        Options.resolve(Settings.from_config(section()), method="fast")
