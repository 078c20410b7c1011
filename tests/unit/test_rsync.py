import shlex

import pytest

from fabfile import rsync


@pytest.mark.parametrize("major,wal", [(90600, "pg_xlog"), (100000, "pg_wal"), (180000, "pg_wal")])
def test_wal_contents_excluded_not_the_directory(major, wal):
    patterns = rsync.exclusions(major)
    assert f"/{wal}/*" in patterns
    assert f"/{wal}" not in patterns and "pg_xlog" not in patterns[1:]


def test_runtime_and_standby_files_excluded():
    patterns = rsync.exclusions(150000)
    for p in ["/postmaster.pid", "/postmaster.opts", "/pg_replslot/*", "/pg_stat_tmp/*",
              "/standby.signal", "/recovery.conf", "pgsql_tmp*", "pg_internal.init"]:
        assert p in patterns
    assert "/postgresql.conf" not in patterns   # Debian: configs live in /etc
    assert "/global/pg_control" not in patterns


def test_generic_layout_keeps_standby_configs():
    patterns = rsync.exclusions(150000, ("postgresql.conf", "pg_hba.conf", "pg_ident.conf"))
    assert {"/postgresql.conf", "/pg_hba.conf", "/pg_ident.conf"} <= set(patterns)
    assert "/postgresql.auto.conf" not in patterns


def test_command_delete_checksum_and_trailing_slashes():
    cmd = shlex.split(rsync.command("/d", "postgres@10.0.0.6:/d", ["/pg_wal/*"], "ssh -i k",
                                    checksum=True))
    assert cmd[:3] == ["rsync", "-a", "--delete"]
    assert "--checksum" in cmd and "--exclude=/pg_wal/*" in cmd
    assert cmd[-2:] == ["/d/", "postgres@10.0.0.6:/d/"]
    assert cmd[cmd.index("-e") + 1] == "ssh -i k"
    fresh = shlex.split(rsync.command("/d", "h:/d", [], "ssh", checksum=False))
    assert "--checksum" not in fresh


def test_ssh_command_pins_host_key():
    ssh = rsync.ssh_command("/tmp/k", "/tmp/kh", 2222)
    assert "StrictHostKeyChecking=yes" in ssh and "UserKnownHostsFile=/tmp/kh" in ssh
    assert "-p 2222" in ssh and "BatchMode=yes" in ssh


def test_parse_stats():
    out = ("Number of regular files transferred: 1,234\nTotal bytes sent: 23,456,789\n"
           "Total bytes received: 5\n")
    assert rsync.parse_stats(out) == {"Number of regular files transferred": 1234,
                                      "Total bytes sent": 23456789}
