"""Tablespaces' paths on a standby, and the options that move them."""
import pytest

from fabfile.context import SettingsError, validate
from fabfile.knowledge import tablespaces

ROWS = [("16384", "ts1", "/srv/ts1"), ("16390", "deep", "/srv/ts/deep/ts2/")]


def test_same_location_by_default_and_mapped_where_asked():
    one, two = tablespaces.parse(ROWS, 150000, "202209061", {"/srv/ts1": "/data/ts1"})
    assert (one.source, one.dest) == ("/srv/ts1/PG_15_202209061", "/data/ts1/PG_15_202209061")
    assert one.link == "pg_tblspc/16384" and one.incoming == "/data/ts1/.pg-hotstandby-incoming"
    assert two.target == two.location == "/srv/ts/deep/ts2"
    assert one.describe() == "tablespace ts1 (/srv/ts1 -> /data/ts1)"
    assert two.describe() == "tablespace deep (/srv/ts/deep/ts2)"


def test_a_copy_from_a_standby_reads_each_where_standbys_keep_it():
    one, two = tablespaces.from_standby(
        tablespaces.parse(ROWS, 150000, "202209061", {"/srv/ts1": "/data/ts1"}))
    assert (one.source, one.dest) == ("/data/ts1/PG_15_202209061", "/data/ts1/PG_15_202209061")
    assert two.source == two.dest == "/srv/ts/deep/ts2/PG_15_202209061"


def test_pg_basebackup_writes_each_into_its_incoming_directory():
    spaces = tablespaces.parse(ROWS, 170000, "202406281")
    assert tablespaces.mapping_options(spaces) == [
        "--tablespace-mapping=/srv/ts1=/srv/ts1/.pg-hotstandby-incoming",
        "--tablespace-mapping=/srv/ts/deep/ts2=/srv/ts/deep/ts2/.pg-hotstandby-incoming"]
    assert spaces[0].version_dir == "PG_17_202406281"
    assert tablespaces.version_dir(90600, "201608131") == "PG_9.6_201608131"


@pytest.mark.parametrize("location", ["relative/ts", "/srv/ts=1", "/srv/$(id)", "/srv/a b",
                                      "/srv/../etc", "/", "/srv/ts\n/etc"])
def test_a_location_a_shell_or_the_mapping_would_misread_is_refused(location):
    with pytest.raises(tablespaces.TablespaceError):
        tablespaces.parse([("16384", "ts", location)], 150000, "202209061")


def test_unreadable_oid_or_catalog_version_is_refused():
    with pytest.raises(tablespaces.TablespaceError):
        tablespaces.parse([("1;id", "ts", "/srv/ts")], 150000, "202209061")
    with pytest.raises(tablespaces.TablespaceError):
        tablespaces.parse(ROWS, 150000, "")


def test_mapping_setting_is_validated():
    base = {"replication_role": "replicator", "layout": "auto", "port": 5432, "ssh_port": 22,
            "method": "basebackup", "timeouts": {"start": 1, "stream": 1}}
    validate({**base, "tablespace_mapping": {"/srv/ts1": "/data/ts1"}})
    with pytest.raises(SettingsError, match="tablespace_mapping"):
        validate({**base, "tablespace_mapping": {"/srv/ts1": "data/ts1"}})
    with pytest.raises(SettingsError, match="tablespace_mapping"):
        validate({**base, "tablespace_mapping": ["/srv/ts1"]})
