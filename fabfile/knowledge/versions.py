"""What differs between PostgreSQL majors, as data.

Majors are numbers in server_version_num style without the minor: 90500 is
9.5, 150000 is 15.  Each fact lists values with the first major they apply to;
`fact(name, major)` is the one lookup callers make ("what is it called on 9.6?").
"""

OLDEST = 90400   # replication slots arrived in 9.4: the tool relies on them
NEWEST = 180000  # the newest major whose behaviour the tool knows

# name -> [(first major, value), ...] in ascending order
FACTS = {
    # wal_level that allows a hot standby: `hot_standby` became an alias of
    # `replica` in 9.6 and `replica` is rejected before.
    "wal_level": [(90400, "hot_standby"), (90600, "replica")],
    # pg_xlog was renamed pg_wal in 10.
    "wal_dir": [(90400, "pg_xlog"), (100000, "pg_wal")],
    # How a server is told to be a standby: recovery.conf with standby_mode
    # until 11; from 12 a standby.signal file plus ordinary settings (a server
    # that finds recovery.conf refuses to start).
    "standby_signal": [(90400, "recovery.conf"), (120000, "standby.signal")],
    # scram-sha-256 arrived in 10.
    "password_auth": [(90400, "md5"), (100000, "scram-sha-256")],
    # The verifier the replication role's password is sent as: SCRAM from 10,
    # which md5 pg_hba lines accept too (the server then runs SCRAM).
    "password_verifier": [(90400, "md5"), (100000, "scram-sha-256")],
    # libpq's passfile= conninfo parameter arrived in 10; before, ~/.pgpass only.
    "conninfo_passfile": [(90400, False), (100000, True)],
    # xlog became wal in function names in 10.
    "current_lsn_function": [(90400, "pg_current_xlog_location"), (100000, "pg_current_wal_lsn")],
    "walfile_name_function": [(90400, "pg_xlogfile_name"), (100000, "pg_walfile_name")],
    "receive_lsn_function": [(90400, "pg_last_xlog_receive_location"),
                             (100000, "pg_last_wal_receive_lsn")],
    "replay_lsn_function": [(90400, "pg_last_xlog_replay_location"),
                            (100000, "pg_last_wal_replay_lsn")],
    # pg_stat_replication's positions: sent_location ... became sent_lsn ... in 10.
    "sender_lsn_suffix": [(90400, "_location"), (100000, "_lsn")],
    # Its write/flush/replay_lag columns arrived in 10 (seconds; SQL text).
    "sender_replay_lag": [(90400, "null"), (100000, "extract(epoch from replay_lag)")],
    # The role that reads every statistics view (pg_stat_replication's
    # positions for a non-superuser) arrived in 10.
    "read_all_stats_role": [(90400, None), (100000, "pg_read_all_stats")],
    # The standby's own view of its WAL receiver arrived in 9.6, with its
    # conninfo (libpq's defaults filled in, shown to superusers).
    "wal_receiver_view": [(90400, None), (90600, "pg_stat_wal_receiver")],
    # Whether a connection (a WAL sender's too) runs over TLS, and its
    # protocol version: pg_stat_ssl, joined on pid, arrived in 9.5.
    "ssl_view": [(90400, None), (90500, "pg_stat_ssl")],
    # A delayed standby's replay delay: a recovery setting since 9.4 (in
    # recovery.conf before 12, an ordinary setting after).
    "recovery_min_apply_delay": [(90400, True)],
    # Whether a slot still holds the WAL its standby needs: 13.
    "slot_wal_status": [(90400, "null"), (130000, "wal_status")],
    # max_slot_wal_keep_size, a cap on the WAL a slot holds, arrived in 13.
    "slot_wal_keep": [(90400, False), (130000, True)],
    # idle_replication_slot_timeout invalidates a slot unused for that long: 18.
    "slot_idle_timeout": [(90400, False), (180000, True)],
    # libpq matches an address it connects to against the certificate's IP
    # subjectAltNames from 15 (before: only against its names' text).
    "tls_ip_names": [(90400, False), (150000, True)],
    # libpq's channel_binding (SCRAM bound to the TLS session) arrived in 13.
    "channel_binding": [(90400, False), (130000, True)],
    # pg_basebackup's server-side compression, decompressed by the client
    # into a plain (-Fp) copy: 15 (gzip too, not offered: slower than the wire).
    "basebackup_compress": [(90400, ()), (150000, ("lz4", "zstd"))],
    # The non-exclusive base backup API (9.6+), held on one session: renamed
    # in 15, when the exclusive mode went.  {label}: an SQL literal.  The
    # stop does not wait for archiving (10+): the copy's WAL comes through
    # the standby's slot.
    "backup_start": [(90400, None), (90600, "pg_start_backup({label}, true, false)"),
                     (150000, "pg_backup_start({label}, true)")],
    "backup_stop": [(90400, None), (90600, "pg_stop_backup(false)"),
                    (100000, "pg_stop_backup(false, false)"), (150000, "pg_backup_stop(false)")],
    # idle_session_timeout (14+) would end the session that holds a backup.
    "idle_session_timeout": [(90400, False), (140000, True)],
    # WAL summaries (summarize_wal, a reload): which blocks each stretch of
    # WAL changed, kept for wal_summary_keep_time; 17.
    "wal_summaries": [(90400, False), (170000, True)],
    # What pg_rewind needs granted to run as a non-superuser (11+).
    "rewind_functions": [(90400, ()), (110000, (
        "pg_ls_dir(text, boolean, boolean)", "pg_stat_file(text, boolean)",
        "pg_read_binary_file(text)", "pg_read_binary_file(text, bigint, bigint, boolean)"))],
}

# Settings a standby must have at least as high as its primary, or recovery
# aborts with "insufficient parameter settings".
STANDBY_MINIMUMS = {
    "max_connections": 90400,
    "max_prepared_transactions": 90400,
    "max_locks_per_transaction": 90400,
    "max_worker_processes": 90400,
    "max_wal_senders": 120000,   # counted since 12
}


class UnsupportedVersion(ValueError):
    pass


def major_num(text):
    """'9.6' -> 90600, '15' -> 150000 (PG_VERSION or pg_lsclusters style)."""
    text = str(text).strip()
    try:
        if "." in text:
            major, minor = text.split(".")[:2]
            if int(major) >= 10:
                return int(major) * 10000
            return int(major) * 10000 + int(minor) * 100
        return int(text) * 10000
    except ValueError:
        raise UnsupportedVersion(f"cannot read PostgreSQL version {text!r}") from None


def label(major):
    """150000 -> '15', 90600 -> '9.6'."""
    if major >= 100000:
        return str(major // 10000)
    return f"{major // 10000}.{major // 100 % 100}"


def check_supported(major):
    if not OLDEST <= major <= NEWEST:
        raise UnsupportedVersion(
            f"PostgreSQL {label(major)} is not supported: this tool handles "
            f"{label(OLDEST)} to {label(NEWEST)}: "
            + ("upgrade the server (pg_upgrade) first" if major < OLDEST else
               "use a release of pg-hotstandby that knows it"))


def fact(name, major):
    value = None
    for since, candidate in FACTS[name]:
        if major >= since:
            value = candidate
    if value is None and FACTS[name][0][0] > major:
        raise UnsupportedVersion(f"no {name} known for PostgreSQL {label(major)}")
    return value


def standby_minimums(major):
    return [name for name, since in STANDBY_MINIMUMS.items() if major >= since]
