"""The scripts that act on a data directory (knowledge/datadir.py): no link
followed, no name that could be there already, postgres's work done as
postgres."""
from fabfile.knowledge import datadir


def test_working_names_are_unpredictable():
    data = "/var/lib/postgresql/15/main"
    asides = {datadir.aside_path(data) for _ in range(20)}
    incomings = {datadir.incoming_path(data, False, "7") for _ in range(20)}
    assert len(asides) == 20 and len(incomings) == 20
    assert all(a.startswith(f"{data}.pg-hotstandby-") for a in asides)
    assert all(i.startswith(f"{data}.pg-hotstandby-incoming-7-") for i in incomings)
    assert datadir.incoming_path(data, True, "7").startswith(f"{data}/.pg-hotstandby-incoming-7-")
    assert datadir.aside_path(data, True).startswith(f"{data}/.pg-hotstandby-kept-")


def test_a_cut_copy_is_found_by_the_name_it_was_given_and_only_by_it():
    data, sid = "/var/lib/postgresql/15/main", "7301234567890123456"
    beside = datadir.incoming_path(data, False, sid)
    inside = datadir.incoming_path(data, True, sid)
    names = [beside.rsplit("/", 1)[1], inside.rsplit("/", 1)[1]]
    assert datadir.cut_copy(names, data, False, sid) == beside
    assert datadir.cut_copy(names, data, True, sid) == inside
    # Another primary's, or a name not of our making (a planted one, or an
    # incoming directory of the release before names carried the source).
    assert datadir.cut_copy(names, data, False, "7301234567890123457") == ""
    for planted in ("main.pg-hotstandby-incoming-1a2b3c4d",
                    f"main.pg-hotstandby-incoming-{sid}-1a2b3c4d/../x",
                    f"main.pg-hotstandby-incoming-{sid}-1A2B3C4D",
                    f"other.pg-hotstandby-incoming-{sid}-1a2b3c4d"):
        assert datadir.cut_copy([planted], data, False, sid) == "", planted
    assert datadir.cut_copy(names, data, False, "") == ""
    # At the root of a file system.
    assert datadir.cut_copy([f"main.pg-hotstandby-incoming-{sid}-0123abcd"], "/main", False,
                            sid) == f"/main.pg-hotstandby-incoming-{sid}-0123abcd"


def test_renames_never_follow_a_link_and_new_directories_are_made_exclusively():
    data, incoming, kept = "/d/main", "/d/main.pg-hotstandby-incoming-1", "/d/main.k"
    assert datadir.swap_script(data, incoming, kept, False, "postgres") == [
        "mv -T /d/main /d/main.k", "mv -T /d/main.pg-hotstandby-incoming-1 /d/main"]
    assert datadir.make_dir(incoming, "postgres") == \
        "mkdir -p /d && mkdir -m 700 /d/main.pg-hotstandby-incoming-1"
    # Root gives what it made to postgres without following a link there.
    assert datadir.make_dir("/srv/ts", "root") == \
        "mkdir -p /srv && mkdir -m 700 /srv/ts && chown -h postgres:postgres /srv/ts"
    assert "install -d" not in " ".join(datadir.swap_script(data, incoming, None, False, "root"))


def test_inside_postgres_s_directories_root_has_postgres_do_the_work():
    removed = datadir.remove_dir("/d/main", "root")
    assert removed.startswith("HOME=$(getent passwd postgres")
    assert "runuser -u postgres -- sh -c 'cd / && find /d/main -mindepth 1 -delete'" in removed
    assert removed.endswith("&& rmdir /d/main")
    assert datadir.remove_dir("/d/main", "postgres") == \
        "cd / && find /d/main -mindepth 1 -delete && rmdir /d/main"
    mount = datadir.swap_script("/d/main", "/d/main/.pg-hotstandby-incoming-1",
                                "/d/main/.pg-hotstandby-kept-1", True, "root")
    assert all("runuser -u postgres" in step for step in mount)
    copy = datadir.copy_aside("/d/main", "/d/main.k", "root")
    assert copy.startswith("mkdir -p /d && mkdir -m 700 /d/main.k && chown -h")
    assert "runuser -u postgres -- sh -c 'cd / && cp -a /d/main/. /d/main.k/'" in copy


def test_own_configs_are_copied_by_postgres_replacing_a_link_not_writing_through_it():
    # A link planted at INCOMING/postgresql.conf (the issue: /etc/passwd)
    # would have root write through it and `-p` give the target to postgres.
    steps = datadir.keep_own_configs(["postgresql.conf"], "/d/main", "/d/in", "root")
    assert steps == ["HOME=$(getent passwd postgres | cut -d: -f6) runuser -u postgres -- "
                     "sh -c 'cd / && { [ ! -e /d/main/postgresql.conf ] || cp -p --remove-destination "
                     "/d/main/postgresql.conf /d/in/postgresql.conf; }'"]
    assert datadir.keep_own_configs(["pg_hba.conf"], "/d/main", "/d/in", "postgres") == [
        "cd / && { [ ! -e /d/main/pg_hba.conf ] || cp -p --remove-destination /d/main/pg_hba.conf "
        "/d/in/pg_hba.conf; }"]


def test_leftover_incoming_directories_are_emptied_by_postgres():
    script = datadir.drop_leftovers("/d/main", False, "root")
    # From /: postgres may not enter the login user's directory, find -exec must.
    emptied, removed = script.split(" && cd / && ")
    assert emptied.startswith("HOME=") and "sh -c 'cd / && find /d " in emptied
    assert "-name '\"'\"'main.pg-hotstandby-incoming-*" in emptied
    assert removed == ("find /d -mindepth 1 -maxdepth 1 -type d -name "
                       "'main.pg-hotstandby-incoming-*' -empty -delete")


def test_a_missing_directory_is_made_whole_or_not_at_all():
    assert datadir.ensure_dir("/srv/ts", "root") == (
        "[ -d /srv/ts ] || { mkdir -p /srv && mkdir -m 700 /srv/ts && "
        "chown -h postgres:postgres /srv/ts; }")
