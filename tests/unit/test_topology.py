"""Who feeds whom (knowledge/topology.py) and the per-host settings' checks."""
import pytest

from fabfile.context import Settings, SettingsError
from fabfile.knowledge import topology
from fabfile.knowledge.topology import TopologyError


def test_feeders_tiers_and_order():
    t = topology.make("m", ["c", "a", "b"], {"c": {"upstream": "b"}, "b": {"upstream": "a"},
                                              "a": {"upstream": "m", "apply_delay": "1h"}})
    assert [t.feeder(s) for s in ("a", "b", "c")] == ["m", "a", "b"]
    assert t.feeds("m") == ("a",) and t.feeds("a") == ("b",) and t.feeds("c") == ()
    assert t.tiers() == [("a",), ("b",), ("c",)] and t.order() == ("a", "b", "c")
    assert t.cascaded("b") and not t.cascaded("a")   # the primary's name: the default
    assert t.delay_ms("a") == 3_600_000 and t.delay_ms("b") == 0


def test_no_per_host_settings_all_from_the_primary():
    t = topology.make("m", ["a", "b"], {})
    assert t.tiers() == [("a", "b")] and t.feeds("m") == ("a", "b") and not t.upstreams


def test_the_primarys_own_entry_is_ignored():
    # After a switchover the new primary's entry still names its old upstream.
    t = topology.make("b", ["a"], {"b": {"upstream": "a", "apply_delay": "1h"}})
    assert t.feeder("a") == "b" and t.delay_ms("b") == 0


@pytest.mark.parametrize("per_host, message", [
    ({"a": {"upstream": "z"}}, r"hosts.a.upstream = 'z': not among .*add z to -H"),
    ({"a": {"upstream": "a"}}, "cannot stream from itself"),
    ({"a": {"upstream": "b"}, "b": {"upstream": "a"}}, "a, b never reach the primary"),
    ({"a": {"apply_delay": "soon"}}, "hosts.a.apply_delay = 'soon': use a duration"),
])
def test_bad_topologies(per_host, message):
    with pytest.raises(TopologyError, match=message):
        topology.make("m", ["a", "b"], per_host)


@pytest.mark.parametrize("text, ms", [("0", 0), (0, 0), ("1h", 3_600_000), ("30min", 1_800_000),
                                      ("90 s", 90_000), ("250ms", 250), ("24d", 2_073_600_000)])
def test_durations(text, ms):
    assert topology.duration_ms(text) == ms


@pytest.mark.parametrize("text", ["5", 5, "1 hour", "1m", "-1h", "", None, True, "25d", "1.5h"])
def test_not_durations(text):
    with pytest.raises(ValueError):
        topology.duration_ms(text)


@pytest.mark.parametrize("ms, text", [(3_600_000, "1h"), (5_400_000, "90min"), (1500, "1500ms"),
                                      (86_400_000, "1d"), (0, "0ms")])
def test_pg_duration(ms, text):
    assert topology.pg_duration(ms) == text


def run(per_host, hosts=("m", "a", "b")):
    return Settings.from_config({"cli_hosts": list(hosts), "hosts": per_host})


def test_per_host_settings_are_frozen_with_their_defaults():
    made = run({"b": {"upstream": "a"}})
    assert made.hosts == {"b": {"upstream": "a", "apply_delay": None}}
    # Without -H, the config's primary and standbys are the hosts.
    Settings.from_config({"primary": "m", "standbys": ["a", "b"],
                          "hosts": {"b": {"upstream": "a"}}})


@pytest.mark.parametrize("per_host, message", [
    ({"b": {"upstream": "z"}}, "not among"),
    ({"b": {"upstream": "a"}, "a": {"upstream": "b"}}, "cycle"),
    ({"b": {"apply_delay": "5"}}, r"hosts.b.apply_delay = '5': use a duration with a unit"),
    ({"b": {"upsteam": "a"}}, "hosts.b.upsteam: unknown setting: did you mean upstream?"),
    ({"b": "a"}, "hosts.b: a mapping of upstream and apply_delay expected, got 'a'"),
    ({"b c": {}}, "hotstandby.hosts: host name 'b c': use a host name"),
    ({"b": {"upstream": ["a"]}}, "hosts.b.upstream: a host name expected, got a list"),
    ({"b": {"upstream": "a;id"}}, r"hosts.b.upstream = 'a;id': use a host name"),
])
def test_per_host_settings_checked_before_any_host(per_host, message):
    with pytest.raises(SettingsError, match=message):
        run(per_host)


def test_with_upstreams_follows_each_chain_to_the_primary():
    per_host = {"db4": {"upstream": "db3"}, "db3": {"upstream": "db2"},
                "db2": {"upstream": "db1"}, "db5": {}}
    assert topology.with_upstreams("db1", ["db4", "db5"], per_host) == ["db4", "db5", "db3",
                                                                       "db2"]
    assert topology.with_upstreams("db1", ["db2"], per_host) == ["db2"]
    loop = {"a": {"upstream": "b"}, "b": {"upstream": "a"}}
    assert topology.with_upstreams("p", ["a"], loop) == ["a", "b"]   # make() names the cycle


def test_a_host_given_twice_is_left_to_roles_to_name():
    """-H master,standby,master made the primary a standby of itself: "a cycle".
    roles() names the host given twice instead, as before per-host settings."""
    from fabfile.hosts.cluster import ClusterError, roles
    from fabfile.settings import Settings
    settings = Settings.from_config({"cli_hosts": ["db1", "db2", "db1"]})
    with pytest.raises(ClusterError, match="host db1 is given twice"):
        roles(settings)
