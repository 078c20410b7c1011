import shlex

import pytest

from fabfile.knowledge import rsync


@pytest.mark.parametrize("major,wal", [(90600, "pg_xlog"), (100000, "pg_wal"), (180000, "pg_wal")])
def test_wal_contents_not_sent_and_removed_from_the_target(major, wal):
    rules = rsync.filters(major)
    assert f"-s /{wal}/*" in rules
    assert not [r for r in rules if r.endswith(f"/{wal}")]
    assert not [r for r in rules if "pg_xlog" in r and wal != "pg_xlog"]


def test_a_base_backup_is_sent_with_its_wal_and_nothing_else_changes():
    # Fan-out copies a finished base backup: its WAL is part of it.
    plain, backup = rsync.filters(150000), rsync.filters(150000, wal=True)
    assert "-s /pg_wal/*" not in backup
    assert [r for r in plain if r != "-s /pg_wal/*"] == backup


def test_runtime_state_removed_standby_files_kept():
    rules = rsync.filters(150000)
    for p in ["/postmaster.pid", "/postmaster.opts", "/pg_replslot/*", "/pg_stat_tmp/*",
              "pgsql_tmp*", "pg_internal.init"]:
        assert f"-s {p}" in rules          # sender side only: --delete clears the target's
    for p in ["/standby.signal", "/recovery.conf", "/" + rsync.COPYING_MARKER]:
        assert f"- {p}" in rules           # both sides: the standby keeps its own
    assert not [r for r in rules if "postgresql.conf" in r]   # Debian: configs live in /etc
    assert not [r for r in rules if "pg_control" in r]


def test_generic_layout_keeps_standby_configs():
    rules = rsync.filters(150000, ("postgresql.conf", "pg_hba.conf", "pg_ident.conf"))
    assert {"- /postgresql.conf", "- /pg_hba.conf", "- /pg_ident.conf"} <= set(rules)
    assert not [r for r in rules if "postgresql.auto.conf" in r]


def test_command_delete_checksum_and_trailing_slashes():
    cmd = shlex.split(rsync.command("/d", "postgres@10.0.0.6:/d", ["-s /pg_wal/*"], "ssh -i k",
                                    checksum=True))
    assert cmd[:3] == ["rsync", "-a", "--delete"]
    assert "--checksum" in cmd and "--filter=-s /pg_wal/*" in cmd
    assert cmd[-2:] == ["/d/", "postgres@10.0.0.6:/d/"]
    assert cmd[cmd.index("-e") + 1] == "ssh -i k"
    assert "--info=progress2" in cmd   # what progress.rsync_line reads
    # Changed files updated where they are (the delta copy's time: unchanged
    # blocks are not written again).
    assert "--inplace" in cmd
    fresh = shlex.split(rsync.command("/d", "h:/d", [], "ssh", checksum=False))
    assert "--checksum" not in fresh


def test_wal_command_sends_the_named_files_into_the_wal_directory():
    cmd = shlex.split(rsync.wal_command("/d/", "pg_wal", ["00000001000000000000005D"],
                                        "postgres@10.0.0.6:/s", "ssh -i k", ["--bwlimit=100"]))
    assert cmd[:3] == ["rsync", "-a", "--inplace"] and "--bwlimit=100" in cmd
    assert cmd[-2:] == ["/d/pg_wal/00000001000000000000005D", "postgres@10.0.0.6:/s/pg_wal/"]
    assert "--delete" not in cmd


def test_ssh_command_pins_host_key():
    ssh = rsync.ssh_command("/tmp/k", "/tmp/kh", 2222)
    assert "StrictHostKeyChecking=yes" in ssh and "UserKnownHostsFile=/tmp/kh" in ssh
    assert "-p 2222" in ssh and "BatchMode=yes" in ssh


def test_parse_stats():
    out = ("Number of regular files transferred: 1,234\nTotal bytes sent: 23,456,789\n"
           "Total bytes received: 5\n")
    assert rsync.parse_stats(out) == {"Number of regular files transferred": 1234,
                                      "Total bytes sent": 23456789}


def test_pg_control_travels_last_and_alone():
    assert rsync.CONTROL_LAST == "- /global/pg_control"   # left out of the bulk copy
    cmd = shlex.split(rsync.control_file_command("/d/", "postgres@10.0.0.6:/d", "ssh -i k"))
    assert cmd[-2:] == ["/d/global/pg_control", "postgres@10.0.0.6:/d/global/pg_control"]
    assert "--checksum" in cmd and "--delete" not in cmd
