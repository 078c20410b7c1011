import copy
import datetime

import pytest

from fabfile.context import SettingsError, validate
from fabfile.knowledge import tls
from fabfile.settings import defaults

DEFAULTS = defaults()


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
    (dict(method="rsync-hot"), "rsync-cold, rsync, basebackup, auto"),
    (dict(max_slot_wal_keep_size="lots"), "max_slot_wal_keep_size"),
    (dict(status={"warn_lag_bytes": -1}), "status.warn_lag_bytes"),
    (dict(status={"warn_lag_seconds": "soon"}), "number of seconds"),
    (dict(switchover={"max_lag_bytes": -1, "max_lag_seconds": 10}),
     "switchover.max_lag_bytes"),
    (dict(switchover={"max_lag_bytes": 0, "max_lag_seconds": "soon"}), "number of seconds"),
    # Values that reach a root shell or a config file on the hosts.
    (dict(backup_dir="/var/backups/$(id)"), "backup_dir"),
    (dict(backup_dir="relative"), "backup_dir"),
    (dict(bin_directory="/usr/lib/postgresql/15/bin;id"), "bin_directory"),
    (dict(log_file="/var/log/pg log"), "log_file"),
    (dict(data_directory="/srv/../etc"), "data_directory"),
    (dict(sync_identity_file="-oProxyCommand=id"), "sync_identity_file"),
    (dict(data_directory_candidates=["/srv/$(id)"]), "data_directory_candidates"),
    (dict(bin_directory_candidates=["/usr/`id`/bin"]), "bin_directory_candidates"),
    (dict(cluster="main;id"), "hotstandby.cluster"),
    (dict(service="pg.service\nExecStart=/bin/sh"), "systemd unit name"),
    (dict(sync_user="root;id"), "sync_user"),
    (dict(listen_addresses="*'\nshared_preload_libraries='x"), "listen_addresses"),
    (dict(standbys=["db2\nhost all all 0.0.0.0/0 trust"]), "host name"),
    (dict(cli_hosts=["db1", "db 2"]), "host name"),
])
def test_malformed_values_name_the_setting(changes, message):
    with pytest.raises(SettingsError, match=message.replace("(", r"\(")):
        validate(with_(**changes))


def test_ipv6_address_and_md5_are_fine():
    validate(with_(addresses={"db1": "fd00::5"}, auth_method="md5"))


def tls_files(tmp_path):
    """A certificate and its key, as PEM files on this machine."""
    key, cert = tls.make("db1", ["db1"], ["10.0.0.1"],
                         datetime.datetime.now(datetime.timezone.utc))
    (tmp_path / "db1.crt").write_text(cert)
    (tmp_path / "db1.key").write_text(key)
    (tmp_path / "junk.pem").write_text("not a certificate\n")
    return tmp_path


@pytest.mark.parametrize("section,message", [
    ({"mode": "strict"}, "hotstandby.tls.mode = 'strict': use verify, verify-ca, "
     "require, off"),
    ({"mode": "verify", "cert_file": "{d}/db1.crt"}, "cert_file and key_file together"),
    ({"mode": "verify", "ca_file": "{d}/missing.crt"}, "cannot read it"),
    ({"mode": "verify", "ca_file": "{d}/junk.pem"}, "not a PEM certificate"),
    ({"mode": "verify", "cert_file": "{d}/db1.crt", "key_file": "{d}/db1.crt"},
     "not an unencrypted PEM private key"),
    ({"mode": "verify", "cafile": "x"}, "hotstandby.tls.cafile: unknown setting"),
])
def test_tls_settings_are_checked_before_any_host(tmp_path, section, message):
    d = tls_files(tmp_path)
    section = {k: v.format(d=d) for k, v in section.items()}
    with pytest.raises(SettingsError) as err:
        validate(with_(tls=section))
    assert message in str(err.value)
    assert "\n" not in str(err.value) and "PRIVATE" not in str(err.value)


def test_own_certificate_key_and_ca_are_fine(tmp_path):
    d = tls_files(tmp_path)
    validate(with_(tls={"mode": "verify", "cert_file": f"{d}/db1.crt",
                        "key_file": f"{d}/db1.key", "ca_file": f"{d}/db1.crt"}))
