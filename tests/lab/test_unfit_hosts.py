"""Hosts that cannot take part: different majors, a full or read-only standby
disk.  Each is one error line naming the fix, exit 1, and no host changed."""
import re

CONFIGS = "md5sum /etc/postgresql/*/main/*.conf /etc/postgresql/*/main/conf.d/* 2>/dev/null; true"


def state(lab):
    """Every host's configuration files, and the primary's data."""
    files = {h: lab.sh(h, CONFIGS) for h in lab.hosts}
    return files, lab.query("master", "select md5(string_agg(aid || ':' || abalance, ',' "
                                      "order by aid)) from pgbench_accounts")


def refused(lab, expected, scale=10):
    """expected: the one error line, a regular expression.  pgbench's scale 10
    is about 360 MB with WAL: more than a small disk's 200 MB."""
    lab.sh("master", f"sudo -u postgres pgbench -q -i -s {scale} -h /run/postgresql postgres")
    before = state(lab)
    result = lab.fab("full")
    assert result.returncode == 1, result.stdout + result.stderr
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and re.fullmatch(expected, lines[0]), lines
    assert state(lab) == before
    assert lab.query("master", "select pg_is_in_recovery()") == [(False,)]


def test_different_majors(lab_factory):
    lab = lab_factory(pg=15, standby_pg=17)
    refused(lab, r"error: standby runs PostgreSQL 17 but the primary master runs 15: install "
                 r"the same major on both")


def test_full_standby_disk(lab_factory):
    lab = lab_factory(pg=15, small_disk=True)
    refused(lab, r"error: standby: 1\d\d MB free next to /var/lib/postgresql/15/main, 3\d\d MB "
                 r"needed: free some space")


def test_read_only_standby_disk(lab_factory):
    lab = lab_factory(pg=15, small_disk=True)
    # A file system remounted read-only after errors: its server is down too.
    lab.exec("standby", "pg_ctlcluster 15 main stop && mount -o remount,ro /var/lib/postgresql")
    refused(lab, r"error: standby: cannot write in /var/lib/postgresql/15 \(read-only file "
                 r"system\?\): fix the mount", scale=1)
