import pytest

from fabfile.knowledge import walguard
from fabfile.knowledge.walguard import GB, Space

FREE = Space(free=79 * GB, wal=1 * GB)     # 80 GB usable: share 0.5 is 40 GB


def decide(major=150000, share=0.5, explicit=None, space=FREE, owned=None, current="-1",
           idle=None):
    return walguard.decide(major, share, explicit, space, owned, current, idle)


def test_derived_at_three_quarters_of_the_share_and_said():
    guard = decide()
    assert guard.settings == {"max_slot_wal_keep_size": "30GB"}
    assert "30GB" in guard.why and "0.5" in guard.why and "80GB" in guard.why


def test_small_file_systems_get_megabytes():
    assert decide(space=Space(free=3 * GB, wal=0)).settings == {
        "max_slot_wal_keep_size": f"{3 * 1024 // 2 * 3 // 4}MB"}


@pytest.mark.parametrize("owned,kept", [("30GB", True), ("20GB", True), ("40GB", True),
                                        ("19GB", False), ("41GB", False), ("40960", True),
                                        ("lots", False)])
def test_a_value_written_before_is_kept_within_half_and_the_whole_share(owned, kept):
    value = decide(owned=owned, current=owned).settings["max_slot_wal_keep_size"]
    assert (value == owned) is kept
    if not kept:
        assert value == "30GB"


def test_the_setting_wins_and_off_turns_it_off():
    assert decide(explicit="-1").settings == {"max_slot_wal_keep_size": "-1"}
    assert decide(explicit="5GB", owned="30GB").settings == {"max_slot_wal_keep_size": "5GB"}
    assert decide(share="off").settings == {}


def test_the_servers_own_value_is_kept_and_named():
    guard = decide(current="10240")
    assert guard.settings == {} and "10240" in guard.why and "own" in guard.why


def test_nothing_before_13_or_without_the_space():
    assert decide(major=120000, explicit="5GB").settings == {}
    assert decide(space=None).settings == {}


def test_idle_timeout_from_18_only():
    assert decide(major=180000, idle="2d").settings == {
        "idle_replication_slot_timeout": "2d", "max_slot_wal_keep_size": "30GB"}
    assert "idle_replication_slot_timeout" not in decide(major=170000, idle="2d").settings


def test_df_and_du_parsed_strictly():
    df = "/dev/vda 270000000000 190000000000 80000000000 71% /\n"
    assert walguard.parse_df_du(df + "1073741824\t/var/lib/postgresql/15/main/pg_wal/\n") == \
        Space(80000000000, 1073741824)
    assert walguard.parse_df_du(df) == Space(80000000000, 0)
    header = "Filesystem 1-blocks Used Available Capacity Mounted on\n"
    for bad in ("", header, df + "many\tbytes\n", df + "1\n" + "2\n"):
        with pytest.raises(ValueError):
            walguard.parse_df_du(bad)
