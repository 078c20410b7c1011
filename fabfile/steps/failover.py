"""A bad day: make a standby the primary (promote), and later bring the former
primary back as a standby of the new one (rejoin, with pg_rewind).

Promote works when the old primary is down or unreachable (that is when it is
needed), so it opens hosts one by one (hosts.cluster.open_host) instead of
through hosts.cluster.connect.
Rejoin keeps a copy of the former primary's data directory before rewinding
it: transactions it took after the failover live only there.
"""
import time

from . import (clone, lifecycle, methods, primary as primary_step, rewind, server, service,
               standby as standby_step, tls)
from ..hosts.cluster import ClusterError, HostKeyError, open_host
from ..hosts.remote import RemoteError
from ..knowledge.shell import sh


def candidate_name(standby_names, wanted):
    """The standby to promote: the one named, or the only one."""
    if wanted:
        if wanted not in standby_names:
            raise ClusterError(f"--standby {wanted} is not one of the standbys given "
                               f"({', '.join(standby_names)})")
        return wanted
    if len(standby_names) > 1:
        raise ClusterError(f"several standbys ({', '.join(standby_names)}): name the one to "
                           "promote with --standby")
    return standby_names[0]


def old_primary_writable(name, config, settings):
    """True when the old primary runs and takes writes; False when it is down
    or cannot be reached (the usual reason to promote)."""
    try:
        host = open_host(name, config, settings, dry=True)
    except HostKeyError:   # it may well take writes: that host is not trusted to say
        raise
    except ClusterError:
        return False
    try:
        return server.read_state(host).running and server.in_recovery(host) is False
    except RemoteError:
        return False
    finally:
        host.close()


def promote(config, settings, primary_name, standby_name, force, report):
    """Promote standby_name; refuse while primary_name still takes writes."""
    if not force and old_primary_writable(primary_name, config, settings):
        raise ClusterError(f"{primary_name} still accepts writes as the primary: stop it first "
                           "(two primaries would both take writes: split brain), or run again "
                           "with --force")
    s = open_host(standby_name, config, settings)
    try:
        if not server.read_state(s).running:
            raise ClusterError(f"{s.name}: PostgreSQL is not running: start it "
                               "(it must replay what it received before it is promoted)")
        if server.in_recovery(s) is False:
            raise ClusterError(f"{s.name} is already a primary")
        received, replayed = server.received_and_replayed(s)
        report.note(s.name, f"received WAL up to {'nothing' if received is None else received}, "
                            f"replayed up to {'nothing' if replayed is None else replayed}")
        lay = s.layout
        s.change(sh("{pg_ctl} promote -D {data}", pg_ctl=lay.pg("pg_ctl"), data=lay.data_dir),
                 user="postgres")
        if not wait_writable(s, settings.timeouts.start):
            raise ClusterError(f"{s.name} was asked to promote but does not accept writes "
                               "yet: check its log")
        report.change(s.name, "promoted: it is the primary now and accepts writes")
    finally:
        s.close()


def wait_writable(host, timeout):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if server.in_recovery(host) is False:
            return True
        time.sleep(0.5)
    return False


def rejoin(run, report, resync=False):
    """Bring each former primary (run.standbys) back as a standby of the
    primary, keeping a copy of its old data directory."""
    p = run.primary
    pstate = server.read_state(p)
    if not pstate.running or server.in_recovery(p) is not False:
        raise ClusterError(f"{p.name} is not a running primary: promote it first "
                           f"(fab -H <old primary>,{p.name} promote)")
    for s in run.standbys:
        state = server.read_state(s)
        if state.system_id != pstate.system_id:
            raise ClusterError(f"{s.name} holds another cluster (system identifier "
                               f"{state.system_id}), not a former primary of {p.name}: use full")
    if primary_step.configure(run, report):
        with lifecycle.primary_kept_up(run, report):
            lifecycle.restart_primary(run, report)
    streaming = server.streaming_standbys(run)
    for name in streaming:
        report.note(name, f"already a standby streaming from {p.name}: nothing to rewind")
    targets = [s for s in run.standbys if s.name not in streaming]
    # pg_rewind reads the source's timeline from its last checkpoint; right
    # after a promotion that can still be the old one ("no rewind required").
    p.psql("checkpoint")
    failed = []
    for s in targets:
        if service.stop(s):
            report.change(s.name, "stopped PostgreSQL (the former primary)")
        kept = rewind.keep_copy(run, s)
        report.change(s.name, f"kept a copy of its data directory (the old timeline) in {kept}")
        standby_step.write_passfile(run, s)
        tls.pin(run, s)   # pg_rewind checks the new primary's certificate
        error = rewind.onto_primary(run, s)
        if error:
            failed.append((s, error, kept))
        else:
            report.change(s.name, f"rewound to {p.name}'s timeline with pg_rewind")
    if failed and not resync:
        s, error, kept = failed[0]
        raise ClusterError(f"{s.name}: pg_rewind failed ({error}): run rejoin again with "
                           f"--resync to copy what differs from {p.name}'s data instead ({p.name} "
                           f"keeps running); {s.name} stays stopped, its old data directory is kept "
                           f"in {kept}")
    standby_step.configure(run, report)
    if failed:
        copies = [s for s, _, _ in failed]
        methods.copy_standbys(run, report, copies, methods.ONLINE)
        clone.all_copied({name: why for name, why in run.state.failed.items()
                          if name in {s.name for s in copies}})
    lifecycle.start_standbys_then_primary(run, report)
