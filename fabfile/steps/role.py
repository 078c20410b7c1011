"""The replication role on the primary: it exists, logs in for replication
with this run's password (its verifier made here, never the password), and
may read what pg_rewind reads (11+), so that a former primary can rejoin as
a standby without a superuser."""
from ..knowledge import passwords, render, versions


def ensure(run, report):
    """The replication role exists and has the run's password (set only if not)."""
    p, cfg = run.primary, run.settings
    role = cfg.replication_role
    if run.state.role_ensured:
        return
    run.state.role_ensured = True
    rows = p.psql("select rolreplication, rolcanlogin, coalesce(rolpassword, '') "
                  f"from pg_authid where rolname = {render.sql_literal(role)}")
    password = run.password
    for name, path in run.state.ignored_passfiles:
        report.note(name, f"the password in {path} is not one this tool makes: "
                          "not used, a new one is set")
    # md5 pg_hba lines accept a SCRAM verifier, scram-sha-256 lines no md5 one.
    kind = versions.fact("password_verifier", p.layout.major)
    stored = rows[0][2] if rows else None
    if passwords.kind(stored) == passwords.SCRAM and not passwords.trusted(stored):
        count = passwords.iterations(stored)
        report.note(p.name, f"role {role}'s verifier "
                            + (f"has {count} iterations" if count is not None
                               else "is not in the server's format")
                            + f" (checked only with {passwords.TRUSTED_ITERATIONS.start} to "
                            f"{passwords.TRUSTED_ITERATIONS.stop - 1}): not checked, a new "
                            "one is set")
    if rows and rows[0][:2] == ["t", "t"] and passwords.kind(stored) == kind \
            and passwords.matches(stored, role, password):
        return
    p.psql_secret(render.role_sql(role, passwords.verifier(kind, role, password),
                                  exists=bool(rows)))
    report.change(p.name, f"{'updated' if rows else 'created'} replication role {role}")


def grant(run, report):
    """What pg_rewind reads from this server (11+), granted to the replication
    role, so that a former primary can rejoin as its standby without a superuser."""
    p, role = run.primary, run.settings.replication_role
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


def password(run):
    """The configured password, else the one a host already holds (after a
    failover the new primary holds it, from its days as a standby) if it has
    the shape this tool makes, else a new one."""
    if run.settings.replication_password:
        return run.settings.replication_password
    role = run.settings.replication_role
    for host in [*run.standbys, run.primary]:
        path = run.passfile(host)
        found = render.passfile_password(host.read(path) or "", role)
        if found and passwords.generated(found):
            return found
        if found:
            run.state.ignored_passfiles.append((host.name, path))
    return passwords.new()
