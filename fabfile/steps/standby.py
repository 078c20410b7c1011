"""The guide's "Changes to the slave": hot_standby, the connection to the
primary with its password in a passfile and its certificate pinned (TLS),
limits no lower than the primary's,
and the marker that makes the server start as a standby.  A standby also gets
the primary's own settings, so that once promoted it serves its standbys."""
from . import config, primary as primary_step, role, server, slots, tls
from ..knowledge import render, versions

LEFT_OUT_WHY = ("from the primary they would run its superuser's commands on the standby; "
                "a standby's own belong in its own postgresql.conf or conf.d")


def configure(run, report):
    """Configure every standby; returns {name: its settings} for those that changed."""
    cfg = run.settings
    role.ensure(run, report)   # a new password must reach the primary too
    primary_only(run, report)
    names = versions.standby_minimums(run.major)
    primary_values = server.config_values(run.primary, names)
    pstate = None   # read when a standby needs it
    changed_hosts = {}
    upstreams = [s for s in run.feeders() if s is not run.primary]
    for u in upstreams:   # before the settings and pins that name its certificate
        tls.install(run, report, u)
    for s in run.standbys:
        changes = []
        current = s.read(config.settings_file(s))
        settings = settings_of(run, s, primary_values, current)
        changes.append(config.write(s, settings, purpose(run, s), cfg.backup_dir, current))
        changes.append(write_passfile(run, s))
        changes.append(tls.pin(run, s))
        state = server.read_state(s)
        pstate = pstate or (server.read_state(run.primary) if state.exists else None)
        if state.exists and state.system_id == pstate.system_id:
            changes.extend(write_marker(run, s))
        else:
            report.note(s.name, "holds no copy of the primary yet: the standby marker is "
                                "written after sync")
        changes = [c for c in changes if c]
        for change in changes:
            report.change(s.name, change)
        if changes:
            changed_hosts[s.name] = settings
        else:
            report.note(s.name, "already configured")
    for u in upstreams:
        serve(run, report, u, changed_hosts.get(u.name))
    return changed_hosts


def serve(run, report, upstream, settings):
    """An upstream admits the standbys it feeds (pg_hba, TLS only) and, once
    it runs as a standby, holds their slots.  settings: its own, when this run
    changed them (applied with its other changes: workflow, switchover)."""
    hba_changed, _ = primary_step.write_hba(run, report, upstream)
    # Now, not with the others' settings: a standby it feeds may be copied
    # from it (pg_basebackup) before those are applied.
    if (hba_changed or settings) and server.in_recovery(upstream):
        server.reload(upstream)
    slots.ensure(run, report, [upstream])


def settings_of(run, standby, primary_values, current):
    """The standby's settings: the primary's own (to serve its standbys once
    promoted) and its own as a standby of run.primary.  primary_values: the
    primary's standby minimums; current: the text of the standby's settings file."""
    cfg, major = run.settings, standby.layout.major
    names = versions.standby_minimums(major)
    owned = config.owned_text(standby, current)
    pinned = render.settings_in(owned)
    own = server.config_values(standby, [*names, *render.PRIMARY_SETTINGS_READ])
    guard = server.wal_guard(standby, cfg, own, owned)
    # A standby that feeds others serves TLS with its own certificate.
    serves = run.tls_of(standby).settings if run.topology.feeds(standby.name) else {}
    return {**render.primary_settings(major, own, len(run.standbys), cfg.listen_addresses,
                                      guard.settings),
            **serves,
            **render.standby_settings(major, primary_values, own, run.conninfo(standby),
                                      run.slot(standby), pinned,
                                      run.topology.delay_ms(standby.name))}


def purpose(run, standby):
    """The header of a standby's settings file: whom it streams from."""
    return "standby of " + run.feeder(standby).name


def write_passfile(run, standby):
    """The replication password, in a 0600 file owned by postgres and nowhere
    else, for its feeder (the primary, or its upstream)."""
    feeder = run.feeder(standby)
    line = render.passfile_line(run.address(feeder), feeder.layout.port,
                                run.settings.replication_role, run.password)
    path = run.passfile(standby)
    if standby.read(path) == line:
        return None
    standby.install(path, line, owner="postgres", mode="600")
    return f"wrote passfile {path} (0600, postgres)"


def write_marker(run, standby, data=None):
    """Make the data directory (or a copy on its way there) start as a
    standby of this primary.

    standby.signal (12+) or recovery.conf (before 12), and in postgresql.auto.conf
    no recovery settings, which would win over ours, and nothing that runs
    the primary's commands (render.standby_auto_conf).  Returns changes.
    """
    lay, changes = standby.layout, []
    data = data or lay.data_dir
    recovery = render.recovery_conf(lay.major, run.conninfo(standby), run.slot(standby),
                                    run.topology.delay_ms(standby.name))
    marker = versions.fact("standby_signal", lay.major)
    wanted = recovery if recovery is not None else ""
    if standby.read(f"{data}/{marker}") != wanted:
        standby.install(f"{data}/{marker}", wanted, owner="postgres", mode="600")
        changes.append(f"wrote {data}/{marker}")
    path = f"{data}/postgresql.auto.conf"
    auto = standby.read(path)
    wanted, left_out = render.standby_auto_conf(auto or "")
    if auto is not None and wanted != auto:
        standby.install(path, wanted, owner="postgres", mode="600")
        changes.append(f"{path}: " + (f"left out {', '.join(left_out)}: {LEFT_OUT_WHY}"
                                      if left_out else "removed stale recovery settings"))
    return changes


def primary_only(run, report):
    """Name what of the primary's postgresql.auto.conf its standbys' copies
    leave out (render.PRIMARY_ONLY): plan says it before a copy is made."""
    p = run.primary
    _, left_out = render.standby_auto_conf(p.read(f"{p.layout.data_dir}/postgresql.auto.conf")
                                           or "")
    if left_out:
        report.note(p.name, f"its postgresql.auto.conf sets {', '.join(left_out)}: standbys' "
                            f"copies leave them out: {LEFT_OUT_WHY}")
