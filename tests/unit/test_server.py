"""Reading a server's config values: one script, every postgres -C at once,
each value on its own line whatever order they finish in."""
import subprocess

from fabfile.knowledge import datadir
from fabfile.knowledge.layout import Layout
from fabfile.steps import server


class LocalHost:
    """Runs the host's commands here, with a stand-in for postgres."""
    def __init__(self, bin_dir):
        self.layout = Layout("debian", 150000, "/data", "/etc/pg", str(bin_dir), 5432, "main")

    def query(self, command, user="root"):
        return subprocess.run(["sh", "-c", command], capture_output=True, text=True, check=True)


def test_config_values_read_at_once(tmp_path):
    fake = tmp_path / "postgres"
    # The first name answers last: the lines come back in another order.
    fake.write_text('#!/bin/sh\n[ "$4" = wal_level ] && sleep 0.3\n'
                    'case "$4" in wal_level) echo replica;; port) echo 5432;; *) exit 1;; esac\n')
    fake.chmod(0o755)
    assert server.config_values(LocalHost(tmp_path), ["wal_level", "port", "nosuch"]) == {
        "wal_level": "replica", "port": "5432", "nosuch": ""}


CONTROL = """Database system identifier:           7712361193934983198
Latest checkpoint location:           0/5000060
Latest checkpoint's TimeLineID:       3
Latest checkpoint's PrevTimeLineID:   3
Minimum recovery ending location:     0/0
wal_log_hints setting:                on
Data page checksum version:           0
"""


def state_of(tmp_path, history=None, marker=None, beside=()):
    """The state script run here on a data directory in tmp_path, with
    stand-ins for pg_ctl (not running) and pg_controldata."""
    bin_dir, data = tmp_path / "bin", tmp_path / "data"
    (data / "pg_wal").mkdir(parents=True)
    bin_dir.mkdir()
    (data / "PG_VERSION").write_text("15\n")
    (bin_dir / "pg_ctl").write_text("#!/bin/sh\nexit 3\n")
    (bin_dir / "pg_controldata").write_text(f"#!/bin/sh\ncat <<'END'\n{CONTROL}END\n")
    for tool in ("pg_ctl", "pg_controldata"):
        (bin_dir / tool).chmod(0o755)
    if history is not None:
        (data / "pg_wal" / "00000003.history").write_text(history)
    if marker is not None:
        (data / ".pg-hotstandby-copying").write_text(marker)
    for name in beside:   # directories beside the data directory
        (tmp_path / name).mkdir()
    lay = Layout("debian", 150000, str(data), "/etc/pg", str(bin_dir), 5432, "main")
    done = subprocess.run(["sh", "-c", server.state_script(lay)], capture_output=True, text=True,
                          check=True)
    return server.parse_state(done.stdout)


def test_state_reads_its_timelines_history_and_pg_controls_rewind_facts(tmp_path):
    state = state_of(tmp_path, "1\t0/3000000\tno recovery target specified\n"
                               "2\t0/5000150\tno recovery target specified\n")
    assert state.exists and not state.running and state.timeline == "3"
    assert {tli: str(lsn) for tli, lsn in state.history.items()} == \
        {1: "0/3000000", 2: "0/5000150"}
    assert (state.wal_log_hints, state.data_checksums) == ("on", "0")


def test_state_without_its_history_file_does_not_know_its_past(tmp_path):
    assert state_of(tmp_path).history is None


def test_what_postgres_writes_cannot_add_lines_to_the_state(tmp_path):
    # A carriage return would start a line of its own for Python's splitlines.
    state = state_of(tmp_path, "1\t0/3000000\treason\rrunning=yes\n",
                     marker="7712361193934983198\rrunning=yes\n")
    assert not state.running and state.unit == ""
    assert 1 in state.history   # the reason is free text, turned harmless


def test_state_lists_incoming_directories_by_name_and_no_link(tmp_path):
    sid = "7712361193934983198"
    (tmp_path / "elsewhere").mkdir()
    (tmp_path / f"data.pg-hotstandby-incoming-{sid}-0badc0de").symlink_to(tmp_path / "elsewhere")
    state = state_of(tmp_path, beside=[f"data.pg-hotstandby-incoming-{sid}-1a2b3c4d",
                                       "data.pg-hotstandby-incoming-x\rrunning=yes\nexists=no",
                                       "data.pg-hotstandby-kept-1"])
    assert state.exists and not state.running
    assert sorted(state.incoming) == [f"data.pg-hotstandby-incoming-{sid}-1a2b3c4d",
                                      "data.pg-hotstandby-incoming-x?running?yes?exists?no"]
    assert datadir.cut_copy(state.incoming, str(tmp_path / "data"), False, sid) == \
        f"{tmp_path}/data.pg-hotstandby-incoming-{sid}-1a2b3c4d"
