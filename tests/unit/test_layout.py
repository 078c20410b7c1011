import pytest

from fabfile.context import Settings
from fabfile.knowledge import layout
from fabfile.steps import server

DEBIAN = """home=/var/lib/postgresql
rsync=yes
cluster=15|main|5432|online|/var/lib/postgresql/15/main|/var/log/postgresql/postgresql-15-main.log
bindir=/usr/lib/postgresql/15/bin
address=172.18.0.2
address=fd00::2
"""
GENERIC = """home=/var/lib/pgsql
datadir=/var/lib/pgsql/data|13
bindir=/usr/pgsql-13/bin
bindir=/usr/local/pgsql/bin
"""


def test_parse_facts_lists_and_values():
    facts = layout.parse_facts(DEBIAN)
    assert facts["home"] == "/var/lib/postgresql" and facts["rsync"] == "yes"
    assert facts["address"] == ["172.18.0.2", "fd00::2"]


@pytest.mark.parametrize("line", [
    # What a PG_VERSION holding "15\naddress=$(id>/tmp/pwn)" gives: one folded line.
    "datadir=/var/lib/pgsql/data|15 address=$(id>/tmp/pwn) ",
    "address=$(id>/tmp/pwn)",
    "address=10.0.0.1;id",
    "cluster=15|main|5432|online|/tmp/x;id>/tmp/pwn;#|/var/log/x.log",
    "cluster=15|main|5432|online|/var/lib/postgresql/15/main",
    "cluster=15|ma in|5432|online|/var/lib/postgresql/15/main|",
    "cluster=15|main|54x|online|/var/lib/postgresql/15/main|",
    "bindir=/usr/lib/postgresql/$(id)/bin",
    "bindir=relative/bin",
    "home=/var/lib/../../etc",
    "unit_template=postgresql@.service; id",
    "rsync=maybe",
    "surprise=1",
    "no equals sign at all",
])
def test_discovery_lines_a_host_could_forge_are_refused(line):
    with pytest.raises(layout.LayoutError):
        layout.parse_facts(DEBIAN + line + "\n")


def test_facts_are_typed_and_a_log_that_is_no_plain_path_is_not_used():
    facts = layout.parse_facts(
        "cluster=15|main|5432|online,recovery|/srv/pg/main|log/postgresql-%a.log\n"
        "postmaster=/srv/pg/main|session-3.scope\n")
    assert facts["cluster"] == [("15", "main", 5432, "online,recovery", "/srv/pg/main", "")]
    assert facts["postmaster"] == [("/srv/pg/main", "")]


def test_discovery_script_quotes_configured_paths_and_keeps_globs():
    script = layout.discovery_script(["/srv/my data", "/x;id"], ["/usr/lib/postgresql/*/bin"])
    assert "for d in '/srv/my data' '/x;id'; do" in script
    assert "for b in /usr/lib/postgresql/*/bin; do" in script
    with pytest.raises(ValueError):
        layout.discovery_script([], ["/usr/$(id)/bin"])


def test_debian_layout():
    lay = layout.choose_layout(layout.parse_facts(DEBIAN), Settings(layout="auto"))
    assert lay.kind == "debian" and lay.major == 150000 and lay.port == 5432
    assert lay.config_file == "/etc/postgresql/15/main/postgresql.conf"
    assert lay.dropin == "/etc/postgresql/15/main/conf.d/pg-hotstandby.conf"
    assert lay.own_config_files == ()
    assert lay.control("stop") == ("pg_ctlcluster 15 main stop -m fast", "root")
    assert "pg_ctlcluster 15 main start" in lay.control("start")[0]


def test_generic_layout():
    lay = layout.choose_layout(layout.parse_facts(GENERIC), Settings(layout="auto", port=5433))
    assert lay.kind == "generic" and lay.major == 130000 and lay.port == 5433
    assert lay.bin_dir == "/usr/pgsql-13/bin"
    assert lay.config_file == "/var/lib/pgsql/data/postgresql.conf"
    assert lay.dropin is None
    assert "pg_hba.conf" in lay.own_config_files
    cmd, user = lay.control("start")
    assert user == "postgres" and cmd.startswith("/usr/pgsql-13/bin/pg_ctl start -D")


def test_several_debian_clusters_need_a_choice():
    facts = layout.parse_facts(DEBIAN + "cluster=15|other|5433|down|/srv/o|/var/log/o.log\n")
    with pytest.raises(layout.LayoutError, match="hotstandby.cluster"):
        layout.choose_layout(facts, Settings())
    assert layout.choose_layout(facts, Settings(cluster="other")).port == 5433


def test_no_postgres_found():
    with pytest.raises(layout.LayoutError, match="no PostgreSQL data directory"):
        layout.choose_layout(layout.parse_facts("home=/x\n"), Settings())


def test_parse_server_state():
    text = """exists=yes
running=yes
standby_marker=yes
pg_control version number:            1300
Database system identifier:           7712361193934983198
Database cluster state:               in archive recovery
Latest checkpoint location:           0/3000060
Latest checkpoint's TimeLineID:       1
"""
    st = server.parse_state(text)
    assert st.exists and st.running and st.standby_marker
    assert st.system_id == "7712361193934983198" and st.timeline == "1"
    assert str(st.checkpoint) == "0/3000060"
    assert not server.parse_state("exists=no\n").exists


def test_generic_layout_under_systemd():
    lay = layout.choose_layout(layout.parse_facts(GENERIC), Settings(service="postgresql-13"))
    assert lay.control("start") == ("systemctl --no-block start postgresql-13", "root")
    assert lay.control("stop") == ("systemctl stop postgresql-13", "root")


SYSTEMD_DEBIAN = DEBIAN + """systemd=yes
unit=postgresql.service|{ path=/bin/true ; argv[]=/bin/true ; }
unit_template=postgresql@.service
postmaster=/var/lib/postgresql/15/main|
"""
RHEL = """home=/var/lib/pgsql
systemd=yes
unit=postgresql-15.service|PGDATA=/var/lib/pgsql/15/data PG_OOM_ADJUST_VALUE=0 { path=/usr/pgsql-15/bin/postgres ; argv[]=/usr/pgsql-15/bin/postgres -D ${PGDATA} ; }
unit=postgresql-14.service|PGDATA=/var/lib/pgsql/14/data { argv[]=/usr/pgsql-14/bin/postgres -D ${PGDATA} ; }
datadir=/var/lib/pgsql/15/data|15
postmaster=/var/lib/pgsql/15/data|ssh.service
bindir=/usr/pgsql-15/bin
"""


def test_debian_cluster_under_systemd_is_run_by_its_template_unit():
    lay = layout.choose_layout(layout.parse_facts(SYSTEMD_DEBIAN), Settings())
    assert lay.service == "postgresql@15-main.service"
    assert lay.control("start") == ("systemctl --no-block start postgresql@15-main.service",
                                    "root")
    assert lay.control("restart") == ("systemctl restart postgresql@15-main.service", "root")
    # A server outside its unit is stopped around systemd (pg_ctlcluster would hand over).
    assert lay.control("stop", direct=True) == (
        "pg_ctlcluster --skip-systemctl-redirect 15 main stop -m fast", "root")


def test_rhel_unit_found_by_its_data_directory_not_by_where_the_server_runs():
    lay = layout.choose_layout(layout.parse_facts(RHEL), Settings())
    assert lay.kind == "generic" and lay.service == "postgresql-15.service"
    assert lay.control("stop", direct=True)[0].startswith("/usr/pgsql-15/bin/pg_ctl stop")


def test_the_running_postmasters_unit_wins_and_names_are_checked():
    facts = layout.parse_facts(RHEL.replace("postmaster=/var/lib/pgsql/15/data|ssh.service",
                                            "postmaster=/var/lib/pgsql/15/data|postgresql-x.service"))
    assert layout.choose_layout(facts, Settings()).service == "postgresql-x.service"
    with pytest.raises(layout.LayoutError, match="not a systemd service name"):
        layout.parse_facts(RHEL.replace("unit=postgresql-15.service|",
                                        "unit=postgresql-15.service;id|"))


def test_no_service_without_systemd_or_when_configured():
    assert layout.choose_layout(layout.parse_facts(DEBIAN), Settings()).service == ""
    lay = layout.choose_layout(layout.parse_facts(RHEL), Settings(service="pg.service"))
    assert lay.service == "pg.service"


def test_discovery_reads_pg_version_as_postgres_and_never_through_a_link():
    # Root once read a PG_VERSION linked to /etc/shadow into a refusal on screen.
    script = layout.discovery_script(["/var/lib/pgsql/data"], [])
    assert '[ -f "$d/PG_VERSION" ] && [ ! -L "$d/PG_VERSION" ] || continue' in script
    assert 'runuser -u postgres -- head -c 64 "$d/PG_VERSION"' in script
