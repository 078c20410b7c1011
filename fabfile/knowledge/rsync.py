"""What a file copy of a data directory must leave out, and the rsync
command that does the copy.  Pure: unit-tested for every major."""
from . import shell
from . import versions

# Runtime state a copy must not carry over (PostgreSQL docs, "Backup
# Manifest"/"Base backup" file lists): the directories stay, their contents go.
RUNTIME_DIRS = ("pg_replslot", "pg_dynshmem", "pg_notify", "pg_serial",
                "pg_snapshots", "pg_stat_tmp", "pg_subtrans")
RUNTIME_FILES = ("postmaster.pid", "postmaster.opts")
# Written into a fresh target before a copy and removed after it: a copy cut
# short is then known as this primary's, not mistaken for a foreign cluster.
COPYING_MARKER = ".pg-hotstandby-copying"
# Temporary files of a running server, in the data directory and tablespaces.
TEMP_FILES = ["-s pgsql_tmp*"]
# The standby's own state files: excluded, so --delete keeps them too.
STANDBY_OWN = ("standby.signal", "recovery.signal", "recovery.conf",
               "recovery.done", "backup_label.old", COPYING_MARKER,
               # what a data directory on its own volume keeps inside it
               ".pg-hotstandby-*", "lost+found")


def filters(major, own_config_files=(), wal=False):
    """rsync filter rules, anchored at the data directory's root.

    Runtime state is a sender-side exclude ('-s'): not sent, and --delete
    removes the target's own (an earlier copy's WAL could otherwise carry a
    later timeline, and recovery would follow it).  The standby's own files
    are a plain exclude ('-'): neither sent nor deleted.  wal: the source is
    a base backup, whose WAL is part of it (fan-out), so it is sent.
    """
    runtime = [] if wal else [f"/{versions.fact('wal_dir', major)}/*"]
    runtime += [f"/{d}/*" for d in RUNTIME_DIRS]
    runtime += [f"/{f}" for f in RUNTIME_FILES]
    runtime += ["pgsql_tmp*", "pg_internal.init"]
    own = [f"/{f}" for f in STANDBY_OWN + tuple(own_config_files)]
    return [f"-s {p}" for p in runtime] + [f"- {p}" for p in own]


# pg_control is copied last, on its own, and removed from the target before a
# copy starts: a copy cut short then has none, and no boot (systemd starts
# PostgreSQL at boot) can start it as a primary on half the primary's files.
CONTROL_FILE = "global/pg_control"
CONTROL_LAST = f"- /{CONTROL_FILE}"
# Where an online copy puts a running primary's pg_control until its
# backup_label is written: a name PostgreSQL never reads.
CONTROL_INCOMING = "global/pg_control.pg-hotstandby-incoming"


def control_file_command(source_dir, target, ssh, dest=CONTROL_FILE):
    """The rsync command that copies pg_control alone, once the rest is there
    (dest: its path in the target, relative to the data directory)."""
    args = ["rsync", "-a", "--checksum", "--timeout=60", "-e", ssh,
            f"{source_dir.rstrip('/')}/{CONTROL_FILE}", f"{target.rstrip('/')}/{dest}"]
    return shell.sh("{args}", args=args)


def wal_command(source_dir, wal_dir, names, target, ssh, transfer=()):
    """The rsync command run on the primary that sends the named WAL files
    into the target's WAL directory (an online copy's backup WAL:
    backup.wal_files), compressed and capped as the copy is."""
    args = ["rsync", "-a", "--inplace", "--timeout=60", "-e", ssh, *transfer,
            *(f"{source_dir.rstrip('/')}/{wal_dir}/{name}" for name in names),
            f"{target.rstrip('/')}/{wal_dir}/"]
    return shell.sh("{args}", args=args)


def command(source_dir, target, rules, ssh, checksum, transfer=()):
    """The rsync command run on the primary.

    checksum: compare contents, not size and whole-second mtime, when the
    target holds an earlier copy (global/pg_control keeps its size and may keep
    its mtime second across a stop).  transfer: compression and rate cap
    (transfer.rsync_options).
    """
    # --timeout: a standby that vanishes mid-copy fails the copy in a minute
    # instead of leaving the primary stopped until TCP gives up.  progress2
    # without incremental recursion: one overall figure against a known total.
    # --inplace: a changed file is updated where it is, its unchanged blocks
    # not written again (without it, the standby rewrote each changed file
    # whole, a 1 GB relation segment for a few pages: the delta copy took
    # 1.5x as long, docs/performance.md); a copy cut in a file leaves it part
    # updated, for the next copy's comparison (pg_control is not there: it
    # never boots).
    args = ["rsync", "-a", "--delete", "--stats", "--timeout=60",
            "--info=progress2", "--no-inc-recursive", "--inplace", "-e", ssh]
    if checksum:
        args.append("--checksum")
    args += transfer
    args += [f"--filter={rule}" for rule in rules]
    args += [source_dir.rstrip("/") + "/", target.rstrip("/") + "/"]
    return shell.sh("{args}", args=args)


def ssh_command(key, known_hosts, port):
    """ssh for rsync's -e: batch mode, only this key, only this host key."""
    return (f"ssh -i {key} -p {port} -o BatchMode=yes -o IdentitiesOnly=yes "
            f"-o StrictHostKeyChecking=yes -o UserKnownHostsFile={known_hosts} "
            "-o ConnectTimeout=15 -o ServerAliveInterval=5 -o ServerAliveCountMax=3")


# Exit code of a copy whose source files changed or vanished under it: what a
# online copy expects (WAL replay from the backup's start settles them).
VANISHED = 24


def parse_stats(text):
    """Bytes sent and files transferred from rsync --stats output."""
    stats = {}
    for line in text.splitlines():
        key, _, value = line.partition(":")
        if key.strip() in ("Total bytes sent", "Number of regular files transferred"):
            stats[key.strip()] = int(value.split()[0].replace(",", ""))
    return stats
