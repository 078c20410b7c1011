"""Checks made before anything is changed on any host.

Connecting already proved SSH and sudo on every host, found PostgreSQL and its
version, and compared majors (run.connect).  These checks cover the rest;
each failure names the host, the cause and the fix.
"""
from . import primary as primary_step, server, service, slots, tablespaces as tablespace_step
from ..knowledge import datadir, render
from ..knowledge.transfer import Program
from ..hosts.cluster import ClusterError
from ..hosts.remote import RemoteError
from ..knowledge.shell import sh



def room_problems(s, size, spaces, space_sizes):
    """Room on each of the standby's file systems for what lands there: the
    data directory beside the old one, and each tablespace."""
    needs = [(s.layout.data_dir, size)]   # its file system, a mount point or its parent's
    needs += [(t.target, space_sizes.get(t.oid, 0)) for t in spaces]
    results = []
    for index, (mount, avail, wanted) in enumerate(server.room(s, needs)):
        need = int(wanted * datadir.ROOM_MARGIN)
        if index == 0:   # the data directory's own file system
            results.append((s.name, f"room for the primary's {wanted / 1e6:.0f} MB",
                            None if avail >= need else
                            f"{s.name}: {avail / 1e6:.0f} MB free next to "
                            f"{s.layout.data_dir}, {need / 1e6:.0f} MB needed: free some space"))
        else:
            results.append((s.name, f"room on {mount} for tablespaces ({wanted / 1e6:.0f} MB)",
                            None if avail >= need else
                            f"{s.name}: {avail / 1e6:.0f} MB free on {mount} for its "
                            f"tablespaces, {need / 1e6:.0f} MB needed: free some space"))
    return results


def checks(run, states):
    """[(host, check, problem-or-None)] for every check; fills states
    {host name: its server's state}."""
    p, force = run.primary, run.options.force
    results = []
    pstate = states[p.name] = server.read_state(p)
    results.append((p.name, "PostgreSQL runs on the primary", None if pstate.running else
                    f"{p.name}: PostgreSQL is not running on the primary: start it and run again"))
    results.extend(unlisted_streaming(run))
    try:   # the certificate to serve and pin, before anything changes
        results.append((p.name, f"replication TLS ({run.tls.mode}): "
                                f"{run.tls.cert.subject if run.tls.cert else 'none'}",
                        None))
    except ClusterError as exc:
        results.append((p.name, "replication TLS", str(exc)))
    size = server.data_size(p)
    spaces = tablespace_step.of(run, pstate)
    space_sizes = tablespace_step.sizes(p, spaces)
    # What the copy method needs beyond the server's packages (pg_basebackup
    # comes with them; rsync may not).
    for needed in run.options.method.needs:
        program = needed.value
        for host in run.hosts:
            results.append((host.name, f"{program} installed", None if host.facts.get(program)
                            else f"{host.name}: {program} is not installed: install it "
                                 f"(apt-get install {program} / dnf install {program})"))
    key = run.settings.sync_identity_file
    if key and Program.RSYNC in run.options.method.needs:
        found = p.query(sh("test -f {key} && test ! -L {key}", key=key), warn=True).exited == 0
        results.append((p.name, f"key file {key}", None if found else
                        f"{p.name}: hotstandby.sync_identity_file {key} is not a file there: "
                        "name the primary's key file, or leave it empty for a temporary key"))
    for s in run.standbys:
        try:   # before anything else looks there
            server.proven(s, spaces)
            problem = None
        except RemoteError as exc:
            problem = str(exc)
        results.append((s.name, "the directories a copy acts on are postgres's, proven",
                        problem))
        # Where the copy is written: beside the data directory, or inside it
        # when it is a mount point (knowledge/datadir.incoming_path).
        data = s.layout.data_dir
        # access(2) answers EROFS for a read-only mount: nothing is written to know.
        answer = s.query(sh('if mountpoint -q {data}; then echo mount; w={data}; else w={parent}; '
                            'fi; test -w "$w" && echo writable', data=data,
                            parent=data.rsplit("/", 1)[0]), warn=True).stdout.split()
        where = data if "mount" in answer else data.rsplit("/", 1)[0]
        writable = "writable" in answer
        results.extend(room_problems(s, size, spaces, space_sizes))
        results.extend((s.name, name, problem)
                       for name, problem in tablespace_step.problems(s, spaces))
        results.append((s.name, "data directory's file system is writable", None if writable
                        else f"{s.name}: cannot write in {where} (read-only file system?): "
                             "fix the mount"))
        states[s.name] = server.read_state(s)
        results.append((s.name, "no other cluster's data would be replaced",
                        server.standby_data_problem(s, pstate, force, states[s.name])))
    return results


def unlisted_streaming(run):
    """A standby that streams from the primary but is not listed would lose
    its pg_hba entry and slot: the hosts given are the standbys."""
    p = run.primary
    removed = primary_step.removed_standbys(run)
    if not removed:
        return []
    names = {render.slot_name(n): n for n in removed}
    active = slots.existing(p, active_only=True)
    listed = ",".join(h.name for h in run.hosts)
    return [(p.name, f"{names[slot]}, no longer listed, does not stream",
             f"{names[slot]} streams from {p.name} but is not in the host list: list it "
             f"(-H {listed},{names[slot]}) to keep it, or stop it to remove it")
            for slot in names if slot in active]


def preflight(run, report):
    failed, states = [], {}
    for host, name, problem in checks(run, states):
        report.say(f"  {'ok  ' if problem is None else 'FAIL'}  {host}: {name}")
        if problem:
            failed.append(problem)
    for host in run.hosts:   # not a refusal: the run itself can put it right
        outside = service.outside_unit(host, states[host.name])
        if outside:
            report.say(f"  warn  {outside}")
    if failed:
        raise ClusterError("; ".join(failed))
    report.say("  preflight passed")


def replication_login(run, standby):
    """From the standby, a replication connection to the primary authenticates
    (IDENTIFY_SYSTEM).  Returns the primary's system identifier it reported."""
    lay = standby.layout
    info = run.conninfo(standby, dbname="replication", replication="true",
                            connect_timeout=10)
    result = standby.query(sh("{psql} -X -At {info} -c IDENTIFY_SYSTEM", psql=lay.pg("psql"),
                              info=info), user="postgres", warn=True)
    if result.exited != 0:
        return None, (result.stderr.strip().splitlines() or ["no answer"])[-1]
    return result.stdout.split("|")[0].strip(), None


def attach_problem(name, primary_state, standby_state, primary_lsn=None):
    """Why starting this stopped standby against the primary would be wrong, or None.

    primary_lsn: the running primary's current WAL position (an Lsn); else its last
    checkpoint (a cleanly stopped primary has written nothing after it).
    """
    if standby_state.copying_from:
        return (f"{name}: its copy of the primary is unfinished (a copy cut short): run full "
                "or sync (what arrived is kept; only the rest is sent)")
    if standby_state.system_id != primary_state.system_id:
        return (f"{name}: its data directory is not a copy of this primary (system identifier "
                f"{standby_state.system_id}, primary {primary_state.system_id}): run sync")
    if int(standby_state.timeline or 0) > int(primary_state.timeline or 0):
        return (f"{name}: its timeline {standby_state.timeline} is ahead of the primary's "
                f"{primary_state.timeline} (it was promoted): run sync to copy it again")
    if server.diverged(standby_state, primary_state):
        return (f"{name}: its WAL goes past where the primary's history left its timeline "
                f"{standby_state.timeline}: it took writes the primary never had; run full "
                "(pg_rewind, a copy of it kept first) or rejoin")
    reference = primary_state.checkpoint if primary_lsn is None else primary_lsn
    if standby_state.checkpoint is not None and reference is not None \
            and standby_state.checkpoint > reference:
        return (f"{name}: its WAL position {standby_state.checkpoint} is ahead of the primary's "
                f"{reference}: it was written to as a primary (split brain); refusing to "
                "attach it: run sync (--force keeps the old directory)")
    return None
