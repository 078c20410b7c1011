"""The run context: settings validated once into typed fields, options that
fall back to the config without writing into it."""
import copy

import pytest
from invoke import Config

from fabfile.context import Options, Settings, SettingsError
from fabfile.knowledge.transfer import NONE, Compression
from fabfile.settings import defaults
from fabfile.steps.methods import METHODS

DEFAULTS = {"hotstandby": defaults()}


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
    assert settings.switchover.max_lag_bytes == 16777216
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
    with pytest.raises(SettingsError, match="--method 'fast': use rsync-cold, rsync, basebackup, auto"):
        Options.resolve(Settings.from_config(section()), method="fast")


def test_fan_out_takes_the_flag_else_the_config():
    settings = Settings.from_config(section(fan_out="off"))
    assert Options.resolve(settings).fan_out == "off"
    assert Options.resolve(settings, fan_out="auto").fan_out == "auto"
    assert Options.resolve(Settings.from_config(section())).fan_out == "auto"
    with pytest.raises(SettingsError, match="--fan-out 'sometimes': use auto"):
        Options.resolve(settings, fan_out="sometimes")
    with pytest.raises(SettingsError, match="hotstandby.fan_out = 'yes': use auto"):
        Settings.from_config(section(fan_out="yes"))


def test_compression_and_rate_cap_take_the_flag_else_the_config():
    config = section(compress="zstd:3", max_rate="50M")
    settings = Settings.from_config(config)
    assert Options.resolve(settings).compress == Compression("zstd", 3)
    assert Options.resolve(settings).max_rate == 51200
    flagged = Options.resolve(settings, compress="none", max_rate="100k")
    assert flagged.compress == NONE and flagged.max_rate == 100
    assert config.compress == "zstd:3" and config.max_rate == "50M"   # not written back
    default = Options.resolve(Settings.from_config(section()))
    assert default.compress == "auto" and default.max_rate is None


@pytest.mark.parametrize("name, value, fix", [
    ("compress", "gzip", "hotstandby.compress = 'gzip': use none, lz4, zstd, zstd:LEVEL"),
    ("max_rate", "50MB", "hotstandby.max_rate = '50MB': use a rate in kB/s"),
    ("max_rate", "10", "hotstandby.max_rate = '10': use a rate from 32k to 1024M"),
])
def test_bad_compression_or_rate_in_the_config_names_the_setting_and_fix(name, value, fix):
    with pytest.raises(SettingsError, match=fix):
        Settings.from_config(section(**{name: value}))


def test_bad_compression_or_rate_flags_name_the_flag_and_fix():
    settings = Settings.from_config(section())
    with pytest.raises(SettingsError, match="--compress 'zstd:99': zstd levels are 1 to 19"):
        Options.resolve(settings, compress="zstd:99")
    with pytest.raises(SettingsError, match="--max-rate '2G': use a rate in kB/s"):
        Options.resolve(settings, max_rate="2G")
