"""The guide's "Changes to the master": settings, the replication role, a
pg_hba entry per standby, and a replication slot per standby."""
from ..knowledge import blocks, passwords, render, versions
from . import config, server
from ..hosts.cluster import ClusterError

SETTINGS_READ = ("wal_level", "max_wal_senders", "max_replication_slots", "data_checksums")


def configure(cluster, report):
    """Configure the primary; returns the settings that wait for a restart."""
    p, cfg = cluster.primary, cluster.settings
    if not server.read_state(p).running:
        raise ClusterError(f"PostgreSQL is not running on the primary {p.name}: start it "
                           f"(fab -H {p.name},... start-standby-then-master) and run again")
    current = server.config_values(p, SETTINGS_READ)
    settings = render.primary_settings(p.layout.major, current, len(cluster.standbys),
                                       cfg.listen_addresses, cfg.max_slot_wal_keep_size)
    changed = config.write(p, settings, "primary of streaming standbys", cfg.backup_dir)
    if changed:
        report.change(p.name, changed)
    method = render.auth_method(p.layout.major, cfg.auth_method)
    addresses = {s.name: cluster.addresses[s.name] for s in cluster.standbys}
    removed = removed_standbys(cluster)
    hba = render.hba_lines(cfg.replication_role, addresses, method)
    hba_changed = config.ensure_block(p, p.layout.hba_file, hba, "postgres", "640",
                                     cfg.backup_dir, at="start")
    if hba_changed:
        report.change(p.name, f"replication from {', '.join(addresses.values())} with {method}"
                              + (f", no longer from {', '.join(removed)}" if removed else "")
                              + f": {hba_changed}")
    ensure_role(cluster, report)
    ensure_rewind_grants(cluster, report)
    if changed or hba_changed:
        server.reload(p)
    ensure_slots(cluster, report)
    drop_slots(cluster, report, removed)
    pending = server.pending_restart(p, settings)
    if pending:
        report.note(p.name, f"restart needed for {', '.join(pending)}")
    elif not (changed or hba_changed):
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
    if rows and rows[0][:2] == ["t", "t"] and passwords.matches(rows[0][2], role, password):
        return
    method = render.auth_method(p.layout.major, cfg.auth_method)
    p.psql_secret(render.role_sql(p.layout.major, role, password, method, exists=bool(rows)))
    report.change(p.name, f"{'updated' if rows else 'created'} replication role {role}")


def ensure_rewind_grants(cluster, report):
    """What pg_rewind reads from this server (11+), granted to the replication
    role, so that a former primary can rejoin as its standby without a superuser."""
    p, role = cluster.primary, cluster.settings.replication_role
    functions = versions.fact("rewind_functions", p.layout.major)
    if not functions:
        return
    # No row (false) while the role does not exist yet: a plan's first run.
    granted = " and ".join(f"has_function_privilege(rolname, {render.sql_literal(f)}, "
                           "'execute')" for f in functions)
    if p.psql(f"select coalesce(bool_and({granted}), false) from pg_roles "
              f"where rolname = {render.sql_literal(role)}")[0][0] == "t":
        return
    p.psql_change(render.grant_execute(functions, role))
    report.change(p.name, f"granted {role} what pg_rewind reads (rejoin after a failover)")


def ensure_slots(cluster, report):
    """One physical slot per standby, reserving WAL from now on.

    Skipped while the running server has too few slots: the start step comes
    back here once the primary runs with the new max_replication_slots.
    """
    p = cluster.primary
    rows = p.psql("select slot_name from pg_replication_slots")
    have = {r[0] for r in rows}
    limit = int(p.psql("show max_replication_slots")[0][0])
    wanted = [cluster.slot(s) for s in cluster.standbys]
    missing = [slot for slot in wanted if slot not in have]
    if missing and len(have) + len(missing) > limit:
        report.note(p.name, f"slots {', '.join(missing)} wait for a restart "
                            f"(max_replication_slots is {limit})")
        return
    for slot in missing:
        p.psql_change(f"select pg_create_physical_replication_slot({render.sql_literal(slot)}, "
                      "true)")
        report.change(p.name, f"created replication slot {slot}")


def removed_standbys(cluster):
    """Standbys this primary was configured for that are no longer listed: the
    hosts given are the standbys (its pg_hba block names those it serves)."""
    p = cluster.primary
    served = render.hba_standbys(blocks.block_lines(p.read(p.layout.hba_file)))
    listed = {s.name for s in cluster.standbys}
    return [name for name in served if name not in listed]


def drop_slots(cluster, report, names):
    """Drop the slots of standbys no longer listed, so they hold no WAL."""
    p = cluster.primary
    have = {r[0] for r in p.psql("select slot_name from pg_replication_slots")}
    for slot in [render.slot_name(n) for n in names]:
        if slot in have:
            p.psql_change(f"select pg_drop_replication_slot({render.sql_literal(slot)})")
            report.change(p.name, f"dropped replication slot {slot} (its standby is no "
                                  "longer listed)")
