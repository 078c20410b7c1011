"""The replication role on the primary: it exists, logs in for replication
with this run's password (its verifier made here, never the password), and
may read what pg_rewind reads (11+), so that a former primary can rejoin as
a standby without a superuser."""
from ..knowledge import passwords, render, versions


def ensure(cluster, report):
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


def grant(cluster, report):
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
