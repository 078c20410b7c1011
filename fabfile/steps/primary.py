"""The guide's "Changes to the master": settings, the replication role, a
pg_hba entry per standby, and a replication slot per standby."""
from ..knowledge import blocks, passwords, render, versions
from . import config, rewind, server, slots, tls
from ..hosts.cluster import ClusterError

SETTINGS_READ = ("wal_level", "max_wal_senders", "max_replication_slots", "data_checksums")


def configure(cluster, report):
    """Configure the primary; returns the settings that wait for a restart."""
    p, cfg = cluster.primary, cluster.settings
    if not server.read_state(p).running:
        raise ClusterError(f"PostgreSQL is not running on the primary {p.name}: start it "
                           f"(fab -H {p.name},... start-standby-then-master) and run again")
    plan = cluster.tls   # decided (and refused, if it must be) before any change
    current = server.config_values(p, SETTINGS_READ)
    settings = {**render.primary_settings(p.layout.major, current, len(cluster.standbys),
                                          cfg.listen_addresses, cfg.max_slot_wal_keep_size),
                **plan.settings}
    tls.install(cluster, report)   # before the settings that name its files
    changed = config.write(p, settings, "primary of streaming standbys", cfg.backup_dir)
    if changed:
        report.change(p.name, changed)
    method = render.auth_method(p.layout.major, cfg.auth_method)
    addresses = {s.name: cluster.addresses[s.name] for s in cluster.standbys}
    hba_text = p.read(p.layout.hba_file)
    removed = removed_standbys(cluster, hba_text)
    hba = render.hba_lines(cfg.replication_role, addresses, method, plan.hba_type)
    hba_changed = config.ensure_block(p, p.layout.hba_file, hba, "postgres", "640",
                                      cfg.backup_dir, at="start", current=hba_text)
    if hba_changed:
        report.change(p.name, f"replication from {', '.join(addresses.values())} with {method}"
                              + (" over TLS only" if plan.hba_type == "hostssl" else "")
                              + (f", no longer from {', '.join(removed)}" if removed else "")
                              + f": {hba_changed}")
    ensure_role(cluster, report)
    rewind.grant(cluster, report)
    if changed or hba_changed or plan.install:
        server.reload(p)
    slots.ensure(cluster, report)
    slots.drop(cluster, report, removed)
    pending = server.pending_restart(p, settings)
    if pending:
        report.note(p.name, f"restart needed for {', '.join(pending)}")
    elif not (changed or hba_changed or plan.install):
        report.note(p.name, "already configured")
    return pending


def ensure_role(cluster, report):
    """The replication role exists and has the run's password (set only if not)."""
    p, cfg = cluster.primary, cluster.settings
    role = cfg.replication_role
    if cluster.role_ensured:
        return
    cluster.role_ensured = True
    rows = p.psql("select rolreplication, rolcanlogin, coalesce(rolpassword, '') "
                  f"from pg_authid where rolname = {render.sql_literal(role)}")
    password = cluster.password
    for name, path in cluster.state.ignored_passfiles:
        report.note(name, f"the password in {path} is not one this tool makes: "
                          "not used, a new one is set")
    # md5 pg_hba lines accept a SCRAM verifier, scram-sha-256 lines no md5 one.
    kind = versions.fact("password_verifier", p.layout.major)
    stored = rows[0][2] if rows else None
    if rows and rows[0][:2] == ["t", "t"] and passwords.kind(stored) == kind \
            and passwords.matches(stored, role, password):
        return
    p.psql_secret(render.role_sql(role, passwords.verifier(kind, role, password),
                                  exists=bool(rows)))
    report.change(p.name, f"{'updated' if rows else 'created'} replication role {role}")


def removed_standbys(cluster, hba_text=config.UNREAD):
    """Standbys this primary was configured for that are no longer listed: the
    hosts given are the standbys (its pg_hba block names those it serves).
    hba_text: pg_hba.conf's text, if just read."""
    p = cluster.primary
    if hba_text is config.UNREAD:
        hba_text = p.read(p.layout.hba_file)
    served = render.hba_standbys(blocks.block_lines(hba_text))
    listed = {s.name for s in cluster.standbys}
    return [name for name in served if name not in listed]
