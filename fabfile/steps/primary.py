"""The guide's "Changes to the master": settings, the replication role, a
pg_hba entry per standby, and a replication slot per standby."""
from ..knowledge import blocks, render, versions
from . import config, role, server, slots, tls
from ..hosts.cluster import ClusterError

def configure(run, report):
    """Configure the primary; returns the settings that wait for a restart."""
    p, cfg = run.primary, run.settings
    if not server.read_state(p).running:
        raise ClusterError(f"PostgreSQL is not running on the primary {p.name}: start it "
                           f"(fab -H {p.name},... start-standby-then-master) and run again")
    plan = run.tls   # decided (and refused, if it must be) before any change
    major = p.layout.major
    current = server.config_values(p, [*render.PRIMARY_SETTINGS_READ, "hot_standby",
                                       *versions.standby_minimums(major)])
    text = p.read(config.settings_file(p))
    owned_text = config.owned_text(p, text)
    owned = render.settings_in(owned_text)
    guard = server.wal_guard(p, cfg, current, owned_text)
    wanted = {**render.primary_settings(major, current, len(run.standbys),
                                        cfg.listen_addresses, guard.settings),
              **plan.settings}
    # After them, in the file's order of a run before: a rerun rewrites nothing.
    settings = {**wanted, **{name: value for name, value
                             in render.kept_as_primary(major, owned, current).items()
                             if name not in wanted}}
    tls.install(run, report)   # before the settings that name its files
    changed = config.write(p, settings, "primary of streaming standbys", cfg.backup_dir, text)
    if changed:
        report.change(p.name, changed)
    if guard.why:
        report.note(p.name, guard.why)
    hba_changed, removed = write_hba(run, report)
    role.ensure(run, report)
    role.grant(run, report)
    if changed or hba_changed or plan.install:
        server.reload(p)
    slots.ensure(run, report)
    slots.drop(run, report, removed)
    pending = server.pending_restart(p, settings)
    if pending:
        report.note(p.name, f"restart needed for {', '.join(pending)}")
    elif not (changed or hba_changed or plan.install):
        report.note(p.name, "already configured")
    return pending


def write_hba(run, report, host=None):
    """The pg_hba block of the primary (a line per standby) or of host, an
    upstream (a line per standby it feeds), for the replication role (TLS
    only, unless tls.mode is off).  Returns (the change or None, the
    standbys no longer listed)."""
    p, cfg = host or run.primary, run.settings
    plan = run.tls_of(p)
    method = render.auth_method(p.layout.major, cfg.auth_method)
    admitted = run.standbys if p is run.primary else run.fed_by(p)
    addresses = {s.name: run.addresses[s.name] for s in admitted}
    hba_text = p.read(p.layout.hba_file)
    removed = removed_standbys(run, hba_text) if p is run.primary else []
    hba = render.hba_lines(cfg.replication_role, addresses, method, plan.hba_type)
    changed = config.ensure_block(p, p.layout.hba_file, hba, "postgres", "640",
                                  cfg.backup_dir, at="start", current=hba_text)
    if changed:
        report.change(p.name, f"replication from {', '.join(addresses.values())} with {method}"
                              + (" over TLS only" if plan.hba_type == "hostssl" else "")
                              + (f", no longer from {', '.join(removed)}" if removed else "")
                              + f": {changed}")
    return changed, removed


def removed_standbys(run, hba_text=config.UNREAD):
    """Standbys this primary was configured for that are no longer listed: the
    hosts given are the standbys (its pg_hba block names those it serves).
    hba_text: pg_hba.conf's text, if just read."""
    p = run.primary
    if hba_text is config.UNREAD:
        hba_text = p.read(p.layout.hba_file)
    served = render.hba_standbys(blocks.block_lines(hba_text))
    listed = {s.name for s in run.standbys}
    return [name for name in served if name not in listed]
