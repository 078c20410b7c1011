import pytest

from fabfile.knowledge import versions


@pytest.mark.parametrize("text,num", [("9.4", 90400), ("9.6", 90600), ("10", 100000),
                                      ("15", 150000), ("18", 180000), ("13.4", 130000)])
def test_major_num(text, num):
    assert versions.major_num(text) == num


@pytest.mark.parametrize("num,label", [(90500, "9.5"), (120000, "12"), (180000, "18")])
def test_label(num, label):
    assert versions.label(num) == label


@pytest.mark.parametrize("major,level", [(90400, "hot_standby"), (90500, "hot_standby"),
                                         (90600, "replica"), (130000, "replica")])
def test_wal_level_name_by_version(major, level):
    assert versions.fact("wal_level", major) == level


@pytest.mark.parametrize("major,how", [(110000, "recovery.conf"), (120000, "standby.signal"),
                                       (180000, "standby.signal")])
def test_standby_marker_by_version(major, how):
    assert versions.fact("standby_signal", major) == how


@pytest.mark.parametrize("major,fix", [(90300, "upgrade the server"),
                                       (190000, "a release of pg-hotstandby that knows it")])
def test_unsupported_versions_are_refused_with_the_fix(major, fix):
    with pytest.raises(versions.UnsupportedVersion, match=f"not supported: .*{fix}"):
        versions.check_supported(major)


def test_unreadable_version():
    with pytest.raises(versions.UnsupportedVersion):
        versions.major_num("abc")


def test_max_wal_senders_counts_on_standby_only_from_12():
    assert "max_wal_senders" not in versions.standby_minimums(110000)
    assert "max_wal_senders" in versions.standby_minimums(120000)
