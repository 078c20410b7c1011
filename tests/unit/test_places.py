"""Paths root acts on for postgres, proven first (knowledge/places.py): the
system's own directories, normalized names, and the verdicts read from the
one round trip's answer."""
import pytest

from fabfile.knowledge import places
from fabfile.knowledge.shell import Command

PG = "105"   # postgres's uid on the host


@pytest.mark.parametrize("path", [
    "/", "/etc", "/etc/systemd/system/ssh.service.d", "/usr", "/usr/lib/postgresql",
    "/usr/local", "/usr/local/sbin", "/usr/local/bin/x", "/bin", "/sbin", "/lib64",
    "/boot", "/root/.ssh", "/proc/1", "/sys", "/dev/shm", "/run/systemd/system",
    "/var", "/var/lib", "/var/spool/cron", "/var/lib/dpkg/info", "/var/run/x",
    "/tmp", "/home", "/opt"])
def test_system_locations_are_refused(path):
    assert places.system_location(path)
    assert "system location" in places.name_problem(path)


@pytest.mark.parametrize("path", [
    "/var/lib/postgresql/15/main", "/var/lib/pgsql/15/data", "/usr/local/pgsql/data",
    "/srv/ts1", "/data/pg", "/home/pg/data", "/opt/pg/data", "/tmp/ts", "/mnt/disk/pg"])
def test_directories_of_their_own_are_not(path):
    assert not places.system_location(path)
    assert places.name_problem(path) is None


@pytest.mark.parametrize("path", ["relative/x", "//srv/x", "/srv/./x", "/srv/x/", "/srv/../etc",
                                  "/srv//x"])
def test_a_path_must_be_absolute_and_normalized(path):
    assert places.name_problem(path) == "is not an absolute, normalized path"


def test_the_system_list_is_data_of_absolute_normalized_paths():
    for path, scope in places.SYSTEM.items():
        assert path == "/" or (path.startswith("/") and not path.endswith("/")), path
        assert scope in (places.TREE, places.ITSELF)


def test_prefixes_run_from_the_root_down():
    assert places.prefixes("/var/lib/x") == ["/", "/var", "/var/lib", "/var/lib/x"]
    assert places.prefixes("/") == ["/"]


def test_one_command_asks_about_every_prefix_once_quoted():
    command, every = places.script(["/srv/my data/main", "/srv/ts"])
    assert isinstance(command, Command)
    assert every == ["/", "/srv", "/srv/my data", "/srv/my data/main", "/srv/ts"]
    assert "'/srv/my data/main'" in command and "stat -c '%F|%u|%a'" in command


def check(wanted, facts):
    """Verdicts for Wanted paths given {prefix: stat line}; missing ones missing."""
    _, every = places.script([w.path for w in wanted])
    output = "\n".join([PG] + [facts.get(p, "missing") for p in every])
    return places.verdicts(wanted, every, output)


ROOT_DIR = "directory|0|755"
PG_DIR = f"directory|{PG}|700"
DEBIAN = {"/": ROOT_DIR, "/var": ROOT_DIR, "/var/lib": ROOT_DIR,
          "/var/lib/postgresql": f"directory|{PG}|755",
          "/var/lib/postgresql/15": f"directory|{PG}|755",
          "/var/lib/postgresql/15/main": PG_DIR}
DATA = places.data_directory("/var/lib/postgresql/15/main")


def test_a_data_directory_in_postgres_s_home_is_postgres_s_to_act_on():
    place = check([DATA], DEBIAN)[DATA.path]
    assert place == places.Place(DATA.path, True, "postgres")


def test_under_root_owned_directories_root_acts_and_a_missing_one_is_fine():
    ts = places.tablespace("/srv/pg/ts1", "ts1")
    place = check([ts], {"/": ROOT_DIR, "/srv": ROOT_DIR})[ts.path]
    assert place == places.Place(ts.path, False, "root")
    data = places.data_directory("/usr/local/pgsql/data")
    place = check([data], {"/": ROOT_DIR, "/usr": ROOT_DIR, "/usr/local": ROOT_DIR,
                           "/usr/local/pgsql": ROOT_DIR, data.path: PG_DIR})[data.path]
    assert place == places.Place(data.path, True, "root")


@pytest.mark.parametrize("changed, reason", [
    ({"/var/lib/postgresql/15/main": f"symbolic link|{PG}|777"},
     "is a symbolic link (it): root follows no link"),
    ({"/var/lib/postgresql/15": f"symbolic link|{PG}|777"},
     "is a symbolic link (/var/lib/postgresql/15)"),
    ({"/var/lib/postgresql/15/main": "directory|0|700"}, "is not owned by postgres: chown it"),
    ({"/var/lib/postgresql/15/main": f"regular file|{PG}|600"}, "is not a directory (it)"),
    ({"/var/lib/postgresql/15": "directory|1000|755"},
     "lies in /var/lib/postgresql/15, owned by uid 1000, not postgres"),
    ({"/var/lib/postgresql/15": "directory|0|755"},   # postgres can rename it away
     "lies in /var/lib/postgresql/15, owned by uid 0, not postgres: chown "
     "/var/lib/postgresql/15 to postgres"),
    ({"/var/lib": "directory|1000|755"}, "lies in /var/lib, owned by uid 1000, not root or "
                                         "postgres: chown /var/lib to root"),
    ({"/var/lib": "directory|0|777"}, "lies in /var/lib, which others can write"),
])
def test_a_path_postgres_or_another_user_can_change_is_refused(changed, reason):
    with pytest.raises(places.PlaceError) as refused:
        check([DATA], {**DEBIAN, **changed})
    assert str(refused.value).startswith(f"{DATA.path} (the data directory) {reason}"), \
        str(refused.value)


def test_a_sticky_directory_such_as_tmp_may_lie_above():
    ts = places.tablespace("/tmp/ts", "ts")
    assert check([ts], {"/": ROOT_DIR, "/tmp": "directory|0|1777"})[ts.path].actor == "root"


def test_a_system_location_is_refused_with_its_fix_whatever_the_host_says():
    ts = places.tablespace("/etc/systemd/system/ssh.service.d", "evil")
    with pytest.raises(places.PlaceError) as refused:
        check([ts], {"/": ROOT_DIR, "/etc": ROOT_DIR})
    assert str(refused.value) == (
        "/etc/systemd/system/ssh.service.d (the location of tablespace evil) is a system "
        "location: root does not hand it to postgres: map it to a directory of its own with "
        "hotstandby.tablespace_mapping")


def test_an_answer_of_another_shape_is_refused():
    _, every = places.script([DATA.path])
    with pytest.raises(places.PlaceError, match="unexpected answer"):
        places.verdicts([DATA], every, "105\ndirectory|0|755\n")
    with pytest.raises(places.PlaceError, match="unexpected answer"):
        places.verdicts([DATA], every, "\n".join(["postgres"] + ["missing"] * len(every)))
