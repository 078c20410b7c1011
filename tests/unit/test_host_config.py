"""Hosts opened at once (cluster.connect opens every host in a thread of its
own) each get a config of their own: Fabric's Connection writes into the
config it is given, which merges it anew, and a thread reading it meanwhile
found keys missing (CI: "No attribute or config key found for 'user'")."""
import sys
import threading

from fabric import Config

from fabfile.hosts.remote import Host


def test_hosts_made_at_once_do_not_see_a_half_merged_config():
    config, errors = Config(), []

    def make():
        for i in range(60):
            try:
                Host(f"db{i}", config)
            except Exception as exc:   # what the race raised: AttributeError
                errors.append(repr(exc)[:200])
    interval = sys.getswitchinterval()
    sys.setswitchinterval(1e-6)   # switch threads often: the race shows within a few hosts
    try:
        threads = [threading.Thread(target=make) for _ in range(4)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
    finally:
        sys.setswitchinterval(interval)
    assert errors == []
