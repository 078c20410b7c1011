"""Name the classic replication failures from a server's log, with their fix.

Pure: `diagnose(log_text)` returns (the server's own line, what it means and
the fix) for the most recent known failure since the server last started, or
None.
"""
import re

# (pattern, meaning and fix); the first match from the END of the log wins.
KNOWN = [
    # A connection without TLS (`SSL off` on older servers, `no encryption` on
    # newer ones) matches no hostssl line either.
    (r"no pg_hba\.conf entry for replication connection .*(SSL off|no encryption)",
     "the primary's pg_hba.conf has no line for this standby's address: run "
     "configure-master with this standby in -H, or set hotstandby.addresses; or the "
     "standby connects without TLS while the line is hostssl: run full"),
    (r"no pg_hba\.conf entry for replication connection",
     "the primary's pg_hba.conf has no line for this standby's address: run "
     "configure-master with this standby in -H, or set hotstandby.addresses"),
    (r"password authentication failed for user",
     "wrong replication password: run configure-master and configure-standby again "
     "(the passfile and the role are set together)"),
    (r"requested WAL segment \S+ has already been removed",
     "the primary recycled WAL the standby still needs: run full again (the copy is "
     "redone; the replication slot then keeps WAL)"),
    (r"database system identifier differs between the primary and standby",
     "the standby's data directory is not a copy of this primary: run sync"),
    (r"(new timeline \d+ forked off|highest timeline \d+ of the primary is behind)",
     "the timelines forked (a promotion happened): resync the standby from the primary"),
    (r"recovery aborted because of insufficient parameter settings|"
     r"insufficient parameter settings",
     "a standby limit is below the primary's: run configure-standby (it raises them)"),
    (r"using recovery command file \"recovery\.conf\" is not supported",
     "a recovery.conf was found on PostgreSQL 12+: remove it; standby.signal replaces it"),
    # libpq's TLS failures come on the walreceiver's "could not connect to the
    # primary server: ..." line (libpq 14+ puts `connection to server at "H",
    # port P failed: ` between), so they stand before it.  The texts are
    # libpq's (fe-secure-openssl.c, fe-secure-common.c, fe-connect.c) and
    # OpenSSL's reason string.
    (r"SSL error: certificate verify failed",
     "the primary presents a certificate this standby does not trust (it was replaced "
     "or is not the primary's): run full to pin the primary's current certificate"),
    # Its names (libpq 9.5+), or its common name (before), are not the host
    # connected to (verify-full).
    (r"server (certificate for|common name) \"[^\"]*\"( \(and \d+ other names?\))? "
     r"does not match host name|could not get server's host name from server certificate",
     "the primary's certificate does not name the host this standby connects to "
     "(sslmode verify-full checks it): run full to pin the primary's current certificate"),
    (r"root certificate file \"[^\"]*\" does not exist|could not read root certificate file",
     "the standby's pinned copy of the primary's certificate (sslrootcert) is missing or "
     "unreadable: run full to pin the primary's current certificate"),
    (r"server does not support SSL, but SSL was required",
     "the primary does not serve TLS: run full (configure-master turns ssl on)"),
    (r"could not connect to the primary server",
     "the standby cannot reach the primary's port: check listen_addresses, firewalls "
     "and hotstandby.addresses"),
]


# The postmaster's first line (10+); what came before it belongs to an earlier
# run, e.g. a standby's "could not connect" while its primary was still down.
STARTED = "starting PostgreSQL "


def diagnose(log_text, ignore=()):
    """ignore: strings marking lines that are not the server's own trouble
    (e.g. the smoke test's own failed logins)."""
    lines = (log_text or "").splitlines()
    starts = [n for n, line in enumerate(lines) if STARTED in line]
    lines = lines[starts[-1]:] if starts else lines
    for line in reversed(lines):
        if any(mark in line for mark in ignore):
            continue
        for pattern, meaning in KNOWN:
            if re.search(pattern, line):
                return line.strip(), meaning
    return None


def explain(host_name, log_text, ignore=()):
    """One message for an error: the diagnosis, or the log's last lines."""
    found = diagnose(log_text, ignore)
    if found:
        line, meaning = found
        return f"{host_name}: {meaning} (its log: {line})"
    tail = "\n".join([line for line in (log_text or "").splitlines()
                      if not any(mark in line for mark in ignore)][-10:])
    return f"{host_name}: no known cause in its log; last lines:\n{tail}"


# Words of a line that says why a command failed.
FAILURE_WORDS = re.compile(r"error|fatal|failed|denied|no such|cannot|could not|timeout|"
                           r"refused|no space", re.I)


def failure_line(output):
    """The line of a failed command's output that says why: the last one
    naming an error, else the last line.  rsync and pg_basebackup redraw
    their progress with carriage returns: those are lines too, and skipped."""
    lines = [line.strip() for line in re.split(r"[\r\n]+", output) if line.strip()]
    for line in reversed(lines):
        if FAILURE_WORDS.search(line):
            return line[:300]
    return lines[-1][:300] if lines else "no output"
