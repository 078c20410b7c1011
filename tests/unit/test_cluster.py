import pytest

from fabfile.context import Settings
from fabfile.hosts import cluster
from fabfile.steps.run import RunEnding, RunState


def roles(cli_hosts, **config):
    return cluster.roles(Settings(cli_hosts=tuple(cli_hosts or ()), **config))


def test_roles_from_cli_first_is_primary():
    assert roles(["db1", "db2", "db3"]) == ("db1", ["db2", "db3"])


def test_roles_from_config_when_no_cli():
    assert roles(None, primary="p", standbys=("s",)) == ("p", ["s"])
    assert roles(["a", "b"], primary="p", standbys=("s",)) == ("a", ["b"])


@pytest.mark.parametrize("hosts,message", [(["only"], "only one host"),
                                           (["a", "b", "a"], "given twice"),
                                           ([], "no hosts")])
def test_bad_host_lists(hosts, message):
    with pytest.raises(cluster.ClusterError, match=message):
        roles(hosts)


def test_pick_route_prefers_direct():
    text = ("10.0.0.5|10.0.0.5 via 192.168.1.1 dev eth1 src 192.168.1.7 uid 0\n"
            "172.18.0.2|172.18.0.2 dev eth0 src 172.18.0.3 uid 0\n"
            "172.19.0.9|\n")
    assert cluster.pick_route(cluster.parse_routes(text)) == ("172.18.0.2", "172.18.0.3")
    routed = cluster.parse_routes(text.splitlines()[0])
    assert cluster.pick_route(routed) == ("10.0.0.5", "192.168.1.7")
    assert cluster.pick_route([]) == (None, None)


def test_hosts_whose_slot_names_collide_are_refused():
    from fabfile.context import Settings
    from fabfile.hosts.cluster import ClusterError, roles
    with pytest.raises(ClusterError, match="share the replication slot db_1"):
        roles(Settings(cli_hosts=("master", "db-1", "db_1")))


class Undo:
    pass


def test_the_run_end_takes_what_the_threads_have_not_undone():
    state = RunState()
    mine, other = Undo(), Undo()
    state.register(mine)
    state.register(other)
    state.unregister(mine)                 # its thread undid it
    assert state.end() == [other]          # the main thread undoes the rest
    assert state.end() == []


def test_nothing_is_set_up_once_the_run_is_ending():
    state = RunState()
    assert state.end() == []
    with pytest.raises(RunEnding):
        state.register(Undo())
    assert state.cleanups == []


def test_hosts_are_opened_at_once_and_a_failure_closes_the_others(monkeypatch):
    import threading
    from types import SimpleNamespace
    started, closed = threading.Barrier(3, timeout=5), []

    def open_host(name, config, settings, dry=False):
        started.wait()   # all three at once, or this times out
        if name in ("s1", "s2"):
            raise cluster.ClusterError(f"cannot reach {name}")
        return SimpleNamespace(name=name, close=lambda: closed.append(name))
    monkeypatch.setattr(cluster, "open_host", open_host)
    with pytest.raises(cluster.ClusterError, match="cannot reach s1"):   # the list's order
        cluster.connect(None, Settings(cli_hosts=("p", "s1", "s2")))
    assert closed == ["p"]
