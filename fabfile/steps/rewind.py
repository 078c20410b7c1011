"""pg_rewind: what it needs on the primary (grants to the replication role,
11+, so that a former primary can rejoin without a superuser; wal_log_hints or
data checksums, in render.primary_settings), the copy of a former primary's
data directory kept before it is rewound, and the rewind itself."""

from . import checks, clone, server
from ..hosts.cluster import ClusterError
from ..knowledge import render, versions
from ..knowledge.shell import sh


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


def keep_copy(host):
    """Copy the (stopped) data directory aside on its own file system."""
    data = host.layout.data_dir
    kept = clone.aside_path(data)
    free = server.free_space(host, data)
    size = server.data_size(host)
    if free < size * checks.MARGIN:
        raise ClusterError(f"{host.name}: no room to keep a copy of {data} ({size / 1e6:.0f} MB "
                           f"needed, {free / 1e6:.0f} MB free): free some space")
    host.change(sh("cp -a {data} {kept}", data=data, kept=kept))
    return kept


def run(cluster, s):
    """pg_rewind s's data directory onto the primary's timeline, keeping s's own
    config files; the error's last line, or None on success."""
    lay = s.layout
    if not versions.fact("rewind_functions", lay.major):
        return "before PostgreSQL 11 it needs a superuser's connection"
    own = {name: s.read(f"{lay.data_dir}/{name}") for name in lay.own_config_files}
    source = cluster.conninfo(s, dbname="postgres")
    result = s.change(sh("{rewind} -D {data} --source-server={source}",
                         rewind=lay.pg("pg_rewind"), data=lay.data_dir, source=source),
                      user="postgres", warn=True)
    for name, text in own.items():
        if text is not None:
            s.install(f"{lay.data_dir}/{name}", text, owner="postgres", mode="600")
    if result.exited != 0:
        return ((result.stderr or result.stdout).strip().splitlines() or ["no output"])[-1]
    return None
