"""`fab -H master,standby full` on every supported major and layout, through
the real command line, on hosts built like servers (systemd as PID 1 running
PostgreSQL from its unit; one spec without a service manager): a streaming
standby that refuses writes, every row of the primary present, secrets only
where they belong, every server inside its unit (and `systemctl restart`
working), a second run that changes nothing, and a rebooted standby that
streams again."""
import time

import psycopg2
import pytest

# Each copy method on some majors and layouts (generic: RHEL-style); the
# default (basebackup) on the rest; all under systemd but 18 (docker/lab.py
# NO_SYSTEMD) and one other, hosts without a service manager.
SPECS = [dict(pg=13, method="rsync-cold"), dict(pg=15), dict(pg=17, method="rsync"),
         dict(pg=18, init="plain"), dict(pg=15, layout="generic"),
         dict(pg=17, layout="generic", method="rsync-cold"),
         dict(pg=15, init="plain", method="rsync")]


def spec_id(spec):
    return (f"pg{spec['pg']}-{spec.get('layout', 'debian')}-{spec.get('method', 'default')}"
            + ("-plain" if spec.get("init") == "plain" else ""))


def unit(lab):
    """The unit that runs PostgreSQL on the lab's hosts (as on such servers)."""
    return f"postgresql@{lab.pg}-main.service" if lab.layout == "debian" \
        else f"postgresql-{lab.pg}.service"


def postmaster_unit(lab, host):
    data = f"/var/lib/postgresql/{lab.pg}/main" if lab.layout == "debian" \
        else f"/var/lib/pgsql/{lab.pg}/data"
    return lab.exec(host, f"pid=$(head -1 {data}/postmaster.pid) && sed -n "
                          f"'s/^[0-9]*:name=systemd://p' /proc/$pid/cgroup").strip() \
        .rsplit("/", 1)[-1]


@pytest.fixture(scope="module", params=SPECS, ids=spec_id)
def done(request, lab_factory):
    """A lab whose primary holds pgbench data, after one `full`."""
    spec = dict(request.param)
    method = spec.pop("method", None)
    lab = lab_factory(**spec)
    lab.sh("master", "sudo -u postgres pgbench -q -i -s 2 -h /run/postgresql postgres")
    lab.query("master", "create table before_full (id int); insert into before_full values (42)")
    result = lab.fab("full", *(["--method", method] if method else []))
    return lab, result, method


# What each method's copy prints.
COPIED = {None: "standby: copied master with pg_basebackup (primary running)",
          "rsync": "(online, fresh copy)",
          "rsync-cold": "standby: copied master:"}


def test_full_exits_0_with_a_passing_smoke_test(done):
    lab, result, method = done
    assert result.returncode == 0, result.stdout + result.stderr
    assert COPIED[method] in result.stdout
    assert "smoke test passed" in result.stdout
    assert "FAIL" not in result.stdout
    assert "primary downtime:" in result.stdout


def test_standby_is_in_recovery_and_streaming(done):
    lab, _, _ = done
    assert lab.sh("standby", "sudo -u postgres psql -Atc 'select pg_is_in_recovery()'").strip() == "t"
    rows = lab.query("master", "select application_name, state from pg_stat_replication")
    assert ("standby", "streaming") in rows


def test_every_row_of_the_primary_is_on_the_standby(done):
    lab, _, _ = done
    lab.query("master", "insert into before_full values (43)")
    sql = "select count(*), sum(abalance) from pgbench_accounts"
    assert lab.query("standby", sql) == lab.query("master", sql) == [(200000, 0)]
    for _ in range(50):
        if lab.query("standby", "select count(*) from before_full")[0][0] == 2:
            break
        time.sleep(0.1)
    assert lab.query("standby", "select array_agg(id order by id) from before_full") == [([42, 43],)]


def test_standby_refuses_writes(done):
    lab, _, _ = done
    with pytest.raises(psycopg2.Error) as err:
        lab.query("standby", "insert into before_full values (1)")
    assert err.value.pgcode == "25006"


def test_no_trust_for_replication_and_one_entry_per_standby(done):
    lab, _, _ = done
    for host in lab.hosts:
        hba = lab.query(host, "select type, database, user_name, address, netmask, auth_method "
                              "from pg_hba_file_rules")
        repl = [r for r in hba if "replication" in r[1]]
        assert all(r[5] != "trust" for r in repl), repl
    standby_ip = lab.sh("standby", "hostname -I").split()[0]
    ours = [r for r in lab.query("master", "select database, user_name, address, netmask, "
                                           "auth_method from pg_hba_file_rules")
            if r[1] == ["replicator"]]
    assert ours == [([db], ["replicator"], standby_ip, "255.255.255.255", "scram-sha-256")
                    for db in ("replication", "postgres")]   # streaming, pg_rewind


def test_password_only_in_passfile_and_role(done):
    lab, result, _ = done
    passfile = "/var/lib/postgresql/.pg-hotstandby.pgpass"
    stat = lab.sh("standby", f"stat -c '%a %U' {passfile}").split()
    assert stat == ["600", "postgres"]
    password = lab.sh("standby", f"cat {passfile}").strip().split(":")[-1]
    assert len(password) >= 24
    assert password not in result.stdout + result.stderr
    for host in lab.hosts:
        found = lab.sh(host, f"grep -rlF -- '{password}' /etc/postgresql /var/lib/pgsql "
                             f"/var/log/postgresql /var/backups /tmp /var/lib/postgresql "
                             f"2>/dev/null || true").split()
        assert [f for f in found if f != passfile] == [], f"{host}: {found}"
    conninfo = lab.query("standby", "show primary_conninfo")[0][0]
    assert "password" not in conninfo and "passfile=" + passfile in conninfo


def test_replication_is_tls_verified_and_the_key_stays_on_the_primary(done):
    lab, result, _ = done
    # libpq matches the primary's address against its certificate from 15.
    sslmode = "verify-full" if lab.pg >= 15 else "verify-ca"
    assert lab.replication_tls() == (True, "TLSv1.3", sslmode)
    conninfo = lab.query("standby", "show primary_conninfo")[0][0]
    assert f"sslrootcert={lab.home('standby')}/.pg-hotstandby.primary.crt" in conninfo
    assert "channel_binding=require" in conninfo   # every lab major is 13+
    types = {r[0] for r in lab.query("master", "select type, user_name from pg_hba_file_rules")
             if r[1] == ["replicator"]}
    assert types == {"hostssl"}
    key = f"{lab.home('master')}/.pg-hotstandby.server.key"
    assert lab.exec("master", f"stat -c '%a %U' {key}").split() == ["600", "postgres"]
    body = lab.exec("master", f"grep -v -- ----- {key}").split()
    assert body and not any(line in result.stdout + result.stderr for line in body)
    assert "PRIVATE KEY" not in result.stdout + result.stderr
    # The key never left the primary: not on the standby, not in any copy.
    assert lab.exec("standby", "find /var /etc /srv /tmp /root /home -name "
                               "'.pg-hotstandby.server.key' 2>/dev/null").strip() == ""
    assert f"TLS, {sslmode} against the pinned certificate" in result.stdout


def test_status_shows_the_standby_streaming(done):
    lab, _, _ = done
    code, doc, stderr = lab.status()
    assert code == 0, (doc, stderr)
    primary, standby = doc["hosts"]
    assert (primary["role"], standby["role"], standby["wal"]) == ("primary", "standby", "streaming")
    assert standby["slot"] == "standby" and standby["lag_bytes"] is not None
    assert standby["tls"] == {"protocol": "TLSv1.3", "verified": True,
                              "sslmode": "verify-full" if lab.pg >= 15 else "verify-ca"}
    assert standby["version"].startswith(str(lab.pg))


def test_second_full_changes_nothing(done):
    lab, _, _ = done
    started = {h: lab.query(h, "select pg_postmaster_start_time()") for h in lab.hosts}
    files = "find /etc/postgresql /var/lib/pgsql -maxdepth 3 -name '*.conf' " \
            "-exec md5sum {} + 2>/dev/null | sort; " \
            "md5sum $(getent passwd postgres | cut -d: -f6)/.pg-hotstandby.* | sort"
    before = {h: lab.sh(h, files) for h in lab.hosts}
    again = lab.fab("full")
    assert again.returncode == 0, again.stdout + again.stderr
    assert "nothing to stop or copy" in again.stdout
    assert "nothing changed" in again.stdout
    assert {h: lab.sh(h, files) for h in lab.hosts} == before
    assert {h: lab.query(h, "select pg_postmaster_start_time()") for h in lab.hosts} == started


def test_every_server_runs_inside_its_unit_and_survives_a_restart(done):
    lab, result, _ = done
    if lab.init == "plain":   # no service manager: the tool says of none
        assert ", run by " not in result.stdout
        return
    assert f"layout, run by {unit(lab)}" in result.stdout
    for host in lab.hosts:
        assert lab.exec(host, f"systemctl is-active {unit(lab)}").strip() == "active", host
        assert postmaster_unit(lab, host) == unit(lab), host
        lab.exec(host, f"systemctl restart {unit(lab)}")   # fails for a server outside it
        assert lab.exec(host, f"systemctl is-active {unit(lab)}").strip() == "active", host
    lab.wait_ready()
    for _ in range(60):   # the standby reconnects to the restarted primary
        code, doc, stderr = lab.status()
        if code == 0:
            break
        time.sleep(0.5)
    assert code == 0, (doc, stderr)
    assert [h["unit"] for h in doc["hosts"]] == [unit(lab)] * len(lab.hosts)


def test_a_rebooted_standby_streams_again(done):
    lab, _, _ = done
    lab.reboot("standby")
    lab.query("master", "insert into before_full values (44)")
    for _ in range(100):
        if lab.query("standby", "select max(id) from before_full") == [(44,)]:
            break
        time.sleep(0.2)
    assert lab.query("standby", "select max(id) from before_full") == [(44,)]
    assert lab.query("standby", "select pg_is_in_recovery()") == [(True,)]
