import copy
from pathlib import Path

import pytest
import yaml

from fabfile.context import SettingsError, validate

DEFAULTS = yaml.safe_load((Path(__file__).resolve().parents[2] / "fabfile" /
                           "defaults.yaml").read_text())["hotstandby"]


def with_(**changes):
    settings = copy.deepcopy(DEFAULTS)
    settings.update(changes)
    return settings


def test_defaults_are_valid():
    validate(DEFAULTS)


@pytest.mark.parametrize("changes,message", [
    (dict(replication_role="Robert'); DROP"), "replication_role"),
    (dict(auth_method="trust"), "trust and password are refused"),
    (dict(layout="rhel"), "auto, debian or generic"),
    (dict(ssh_port="22x"), "TCP port"),
    (dict(port=70000), "TCP port"),
    (dict(timeouts={"start": -1, "stream": 5}), "timeouts.start"),
    (dict(addresses={"db1": "10.0.0.300"}), "addresses.db1"),
    (dict(standbys="db2"), "list of host names"),
    (dict(replication_password=""), "replication_password"),
    (dict(method="rsync-hot"), "rsync-cold, rsync, basebackup"),
    (dict(max_slot_wal_keep_size="lots"), "max_slot_wal_keep_size"),
    (dict(status={"warn_lag_bytes": -1}), "status.warn_lag_bytes"),
    (dict(status={"warn_lag_seconds": "soon"}), "number of seconds"),
])
def test_malformed_values_name_the_setting(changes, message):
    with pytest.raises(SettingsError, match=message.replace("(", r"\(")):
        validate(with_(**changes))


def test_ipv6_address_and_md5_are_fine():
    validate(with_(addresses={"db1": "fd00::5"}, auth_method="md5"))
