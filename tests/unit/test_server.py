"""Reading a server's config values: one script, every postgres -C at once,
each value on its own line whatever order they finish in."""
import subprocess

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
