"""Copying the primary's data directory to a standby: the mechanics behind the
copy methods (steps/methods.py).

- `cold`: rsync with both servers stopped (rsync-cold, and rsync's second
  pass).  An earlier copy is updated with --checksum; global/pg_control is
  checked to be the primary's.
- `copy_to(first_pass=True)`: rsync's bulk pass while the primary runs.
- `backup_to`: pg_basebackup run on the standby from the running primary (WAL
  streamed, through the standby's slot), written beside the data directory and
  swapped in only when complete.
- `fanned_out`: in waves (knowledge/fanout.py), the primary by backup_to
  and each standby whose copy is finished by rsync (`from_standby`, falling
  back to the primary) copy to one more standby each.

Every copy is compressed and rate-capped as the run asks, where its program
can (knowledge/transfer.py; `travel` says what a copy does).

Either way a standby directory that is not a copy of this primary is moved
aside, never deleted; an earlier copy of this primary is replaced.  Standbys
are copied at the same time, each in a thread of its own: one failing does
not stop the others, and each step returns {standby name: why it failed}.
"""
import time

from . import (access, server, service, standby as standby_step,
               tablespaces as tablespace_step)
from ..knowledge import datadir, fanout, progress, render, rsync, tablespaces, transfer
from ..hosts.cluster import ClusterError, at_once
from ..hosts.remote import RemoteError
from ..knowledge.shell import join, sh


def all_copied(failed):
    """A run fails when any standby's copy did (the others went on)."""
    if failed:
        raise ClusterError(f"copy failed on {len(failed)} standby(s): "
                           + "; ".join(f"{name}: {why}" for name, why in failed.items())
                           + "; fix the cause and run again")


def cold(run, report, targets, second_pass=False):
    """rsync with both servers stopped (rsync-cold, and rsync's second pass)."""
    p = run.primary
    pstate = server.read_state(p)
    if pstate.running and not run.options.dry:
        raise ClusterError(f"PostgreSQL is running on the primary {p.name}: a file copy of a "
                           "running server is not consistent; run stop-all first")
    for s in targets:
        state = server.read_state(s)
        if state.running and not run.options.dry:
            raise ClusterError(f"PostgreSQL is running on {s.name}: its data directory is in "
                               "use; run stop-all first")
        refuse_foreign_data(s, pstate, run.options.force, state)
    if run.options.dry:
        for s in targets:
            if second_pass:
                report.change(s.name, f"copy what changed on {p.name} since the first pass "
                                      f"(--checksum; {describe_travel(run, s, 'rsync')})")
            else:
                describe_copy(run, s, pstate, report, "rsync")
        return {}
    return each_standby(run, targets, lambda s: copy_to(run, s, pstate, report), report)


def from_running_primary(run, report, targets, how, program, copy):
    """copy(standby, primary state) to each standby, stopped for it: all at
    once, or fanned out (pg_basebackup).  how: the method's name for such a
    copy (a plan prints it); program: the program that copies (pg_basebackup
    or rsync)."""
    p = run.primary
    pstate = server.read_state(p)
    if not pstate.running:
        raise ClusterError(f"PostgreSQL is not running on the primary {p.name}: a copy by "
                           f"{how} is made from a running server; start it")
    states = {s.name: refuse_foreign_data(s, pstate, run.options.force) for s in targets}
    fans_out, why = fanout.applies(run.options.fan_out, program == "pg_basebackup",
                                   len(targets), run.settings.sync_identity_file)
    if why and len(targets) >= fanout.MIN_STANDBYS:
        report.note(p.name, f"every standby is copied from the primary ({why})")
    if run.options.dry:
        by_name = {s.name: s for s in targets}
        order = fanout.schedule([s.name for s in targets]) if fans_out \
            else [(s.name, None) for s in targets]
        for name, source in order:
            if states[name].running:
                report.change(name, "stop PostgreSQL")
            if source:
                describe_copy(run, by_name[name], pstate, report, "rsync",
                              source=by_name[source])
            else:
                describe_copy(run, by_name[name], pstate, report, program, how=how)
        return {}

    def stop_and_copy(s, source=None):
        if service.stop(s, states[s.name]):
            report.change(s.name, "stopped PostgreSQL")
        if source is None:
            return copy(s, pstate)
        try:
            from_standby(run, s, source, pstate, report)
        except (ClusterError, RemoteError) as exc:
            report.say(f"!! {s.name}: copy from {source.name} failed: {exc}; "
                       f"copying from the primary {p.name} instead")
            copy(s, pstate)
    if not fans_out:
        return each_standby(run, targets, stop_and_copy, report)
    return fanned_out(run, targets, stop_and_copy, report)


def fanned_out(run, targets, copy, report):
    """copy(standby, source) in waves (knowledge/fanout.py): the primary
    (source None) and each standby whose copy is finished copy to one more
    standby each; {name: why} for those that failed."""
    pending, sources, failures = list(targets), [], {}
    while pending:
        pairs = fanout.wave(pending, sources)
        source_of = {s.name: source for s, source in pairs}
        wave = [s for s, _ in pairs]
        failed = each_standby(run, wave, lambda s: copy(s, source_of[s.name]), report)
        failures.update(failed)
        pending = [s for s in pending if s not in wave]
        sources += [s for s in wave if s.name not in failed]
    return failures


def from_standby(run, s, source, pstate, report):
    """rsync the finished copy on `source` (a base backup, not started yet)
    to s, once the primary's slot for s is seen to hold the WAL s will need."""
    slot = run.slot(s)
    start = fanout.backup_start(source.read(f"{source.layout.data_dir}/backup_label"))
    held = run.primary.psql("select coalesce(restart_lsn::text, '') from "
                                f"pg_replication_slots where slot_name = {render.sql_literal(slot)}")
    if not fanout.covers(held[0][0] if held else "", start):
        raise ClusterError(f"the primary's slot {slot} does not hold WAL from where "
                           f"{source.name}'s copy begins")
    report.note(s.name, f"copying from {source.name}, whose copy is finished (fan-out)")
    copy_to(run, s, pstate, report, source=source)


def refuse_foreign_data(s, pstate, force, state=None):
    """Refuses a standby whose data is not ours to replace; else its state
    (state: if just read)."""
    state = state or server.read_state(s)
    problem = server.standby_data_problem(s, pstate, force, state)
    if problem:
        raise ClusterError(problem)
    return state


def each_standby(run, targets, copy, report):
    """copy(standby) for every standby at once; {name: why} for those that
    failed, also kept in the run's state."""
    def copy_one(s):
        try:
            copy(s)
        finally:
            report.copy_done(s.name)
    failures = {name: str(exc) for name, exc in at_once(targets, copy_one).items()}
    for name, why in failures.items():
        report.say(f"!! {name}: copy failed: {why}")
    run.state.failed.update(failures)
    return failures


def travel(run, s, program, source=None):
    """(Compression, why not) of a copy to s by `program` (pg_basebackup or
    rsync) from the primary (or source), for the compression this run asks for."""
    asked, lists = run.options.compress, ()
    if program == "rsync" and asked != transfer.NONE:
        # Both ends of the copy must know the algorithm.  No rsync at all is
        # preflight's to report (or the copy's): here it lists nothing.
        lists = tuple(transfer.rsync_compress_list(
            host.query(sh("rsync --version"), warn=True).stdout)
            for host in (source or run.primary, s))
    return transfer.choose(asked, program, run.primary.layout.major, lists)


def describe_travel(run, s, program, source=None):
    return transfer.describe(*travel(run, s, program, source), run.options.max_rate)


def describe_copy(run, s, pstate, report, program, how=None, source=None):
    """What copy_to or backup_to would do (plan); source: the standby whose
    finished copy it would be copied from (fan-out)."""
    p = run.primary
    sstate = server.read_state(s)
    earlier_copy = server.is_copy_of(sstate, pstate)
    if sstate.exists and not earlier_copy:
        kept = datadir.aside_path(s.layout.data_dir, server.is_mount_point(s, s.layout.data_dir))
        report.change(s.name, f"move its own cluster (system identifier {sstate.system_id}) "
                              f"aside to {kept}")
    how = how or ("update, --checksum" if earlier_copy else "fresh copy")
    origin = f"{p.name}:{p.layout.data_dir}"
    if source:
        origin = f"{source.name}:{source.layout.data_dir} (fan-out: its finished copy of {p.name})"
    report.change(s.name, f"copy {origin} ({server.data_size(p) / 1e6:.0f} "
                          f"MB, {how}; {describe_travel(run, s, program, source)})")
    spaces = tablespace_step.of(run, pstate)
    for line in tablespace_step.describe(s, spaces, tablespace_step.sizes(p, spaces)):
        report.change(s.name, line)


def backup_to(run, s, pstate, report):
    lay = s.layout
    data = lay.data_dir
    mount = server.is_mount_point(s, data)
    incoming, kept = datadir.incoming_path(data, mount), datadir.aside_path(data, mount)
    sstate = server.read_state(s)
    ours = server.is_copy_of(sstate, pstate)
    spaces = tablespace_step.of(run, pstate)
    owned = tablespace_step.earlier_copies(s, spaces, ours)
    # A leftover incoming directory is an earlier backup cut short: ours to remove.
    s.change(sh("rm -rf {dir} && install -d -o postgres -g postgres -m 700 {dir}", dir=incoming))
    tablespace_step.prepare(s, spaces, owned, incoming=True)
    # Keepalives: a primary that vanishes fails the backup instead of hanging it.
    # Its own application_name: while it copies, the primary must not list it
    # as the standby streaming.
    source = run.conninfo(s, connect_timeout=15, keepalives_idle=10,
                              keepalives_interval=5, keepalives_count=3,
                              application_name="pg_basebackup")
    compression, why = travel(run, s, "pg_basebackup")
    max_rate = run.options.max_rate
    started = time.monotonic()
    done = s.change(
        sh("{basebackup} -D {dir} -X stream -c fast -P -S {slot} -d {source} {travel} "
           "{mappings}", basebackup=lay.pg("pg_basebackup"), dir=incoming,
           slot=run.slot(s), source=source,
           travel=transfer.basebackup_options(compression, max_rate),
           mappings=tablespaces.mapping_options(spaces)), user="postgres",
        output=progress.Stream(report, s.name, progress.basebackup_line,
                               transfer.progress_note(compression, max_rate)))
    # pg_basebackup's own count (its last progress line), WAL aside: du of
    # the whole copy would read it all again.  Compressed on the server, it
    # counts what crossed the wire: then du.
    copied = progress.last(done.stderr, progress.basebackup_line) \
        if compression == transfer.NONE else None
    size = copied[0] if copied else server.data_size(s, incoming)
    # The standby marker before the swap: a data directory swapped in is never
    # one that a boot would start as a second primary.
    marked = standby_step.write_marker(run, s, data=incoming)
    keep = sstate.exists and not ours
    s.change(join([*datadir.keep_own_configs(lay.own_config_files, data, incoming),
                   *datadir.swap_script(data, incoming, kept if keep else None, mount)], " && "))
    if keep:   # said once done, not before
        report.change(s.name, f"moved its own cluster (system identifier {sstate.system_id}) "
                              f"aside to {kept}")
    for change in tablespace_step.swap_in(s, spaces, owned):
        report.change(s.name, change)
    tablespace_step.check(run.primary, s, spaces, exact=False)
    report.change(s.name, f"copied {run.primary.name} with pg_basebackup (primary running): "
                          f"{size / 1e6:.1f} MB in {time.monotonic() - started:.1f} s, "
                          + transfer.describe(compression, why, max_rate)
                          + with_tablespaces(spaces))
    for change in marked:
        report.change(s.name, change.replace(incoming, data))


def copy_to(run, s, pstate, report, first_pass=False, source=None):
    """rsync the primary's data directory into the standby's.

    first_pass: the primary runs; files change under the copy, so it is only
    the bulk: no checksums, its copying marker stays, no standby marker.
    source: a standby whose finished copy is sent instead (fan-out), WAL
    included: it is part of that base backup.
    """
    p = source or run.primary
    data = s.layout.data_dir
    sstate = server.read_state(s)
    earlier_copy = server.is_copy_of(sstate, pstate)
    spaces = tablespace_step.of(run, pstate)
    if source:   # its tablespaces are where every standby keeps them
        spaces = tablespaces.from_standby(spaces)
    owned = tablespace_step.earlier_copies(s, spaces, earlier_copy)
    if sstate.exists and not earlier_copy:
        kept = move_aside(s)
        report.change(s.name, f"moved its own cluster (system identifier {sstate.system_id}) "
                              f"aside to {kept}")
    marker = f"{data}/{rsync.COPYING_MARKER}"
    s.change(sh("install -d -o postgres -g postgres -m 700 {dir}", dir=data))
    s.change(sh("echo {system_id} > {marker} && rm -f {control}", system_id=pstate.system_id,
                marker=marker, control=f"{data}/{rsync.CONTROL_FILE}"), user="postgres")
    for change in tablespace_step.prepare(s, spaces, owned, incoming=False):
        report.change(s.name, change)
    rules = rsync.filters(p.layout.major, s.layout.own_config_files, wal=bool(source)) \
        + [rsync.CONTROL_LAST]
    compression, why = travel(run, s, "rsync", source)
    max_rate = run.options.max_rate
    options = transfer.rsync_options(compression, max_rate)
    started = time.monotonic()
    # Checksums wherever the target may hold files already (see rsync.command);
    # a directory just emptied by move_aside needs none.
    update = (earlier_copy or not sstate.exists) and not first_pass
    # What the copy's key may write into: nothing else on the standby.
    targets = [data, f"{data}/{rsync.CONTROL_FILE}", *(t.dest for t in spaces)]
    with access.host_to_host_ssh(run, s, report, targets, p) as (ssh, target, user):
        cmd = rsync.command(p.layout.data_dir, f"{target}:{data}", rules, ssh,
                            checksum=update, transfer=options)
        done = p.change(cmd, user=user, warn=first_pass,
                        output=progress.Stream(report, s.name, progress.rsync_line,
                                               transfer.progress_note(compression, max_rate)))
        if done.exited not in (0, rsync.VANISHED):
            raise RemoteError(f"{p.name}: rsync to {s.name} failed (exit {done.exited}): "
                              + p.failure(done))
        tablespace_step.copy(p, spaces, target, ssh, user, checksum=update, transfer=options)
        tablespace_step.relink(s, spaces)
        if not first_pass:
            # The standby marker before pg_control: once a boot could start
            # this directory, it starts a standby.
            marked = standby_step.write_marker(run, s)
            p.change(rsync.control_file_command(p.layout.data_dir, f"{target}:{data}", ssh),
                     user=user)
    stats = rsync.parse_stats(done.stdout)
    how = "first pass, primary running" if first_pass else \
        "update, --checksum" if update else "fresh copy"
    if source:
        how = f"fan-out: its finished copy of {run.primary.name}; {how}"
    report.change(s.name, f"copied {p.name}:{p.layout.data_dir} ({how}): "
                          f"{stats.get('Number of regular files transferred', '?')} files, "
                          f"{stats.get('Total bytes sent', 0) / 1e6:.1f} MB in "
                          f"{time.monotonic() - started:.1f} s, "
                          + transfer.describe(compression, why, max_rate)
                          + with_tablespaces(spaces))
    if first_pass:
        return
    tablespace_step.check(p, s, spaces, exact=True)
    check_control_file(p, s)
    s.change(sh("rm -f {marker}", marker=marker), user="postgres")
    for change in marked:
        report.change(s.name, change)


def with_tablespaces(spaces):
    return "; with " + ", ".join(t.describe() for t in spaces) if spaces else ""


def move_aside(s):
    """Keep the data directory's contents aside (a rename: beside it, or
    inside it when it is a mount point); the host's own config files stay."""
    data = s.layout.data_dir
    mount = server.is_mount_point(s, data)
    kept = datadir.aside_path(data, mount)
    s.change(join([*datadir.clear_script(data, kept, mount),
                   sh("install -d -o postgres -g postgres -m 700 {dir}", dir=data),
                   *datadir.keep_own_configs(s.layout.own_config_files, kept, data)], " && "))
    return kept


def check_control_file(p, s):
    """global/pg_control on the standby must be the primary's, byte for byte."""
    def digest(host):
        return host.query(sh("md5sum {path}", path=f"{host.layout.data_dir}/global/pg_control"),
                          user="postgres").stdout.split()[0]
    if digest(p) != digest(s):
        raise ClusterError(f"{s.name}: global/pg_control differs from the primary's after "
                           "the copy; run sync again")
