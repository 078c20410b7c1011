"""pg_rewind: the copy of a former primary's data directory kept before it is
rewound, and the rewind itself.  What it needs on the primary: grants to the
replication role (role.grant, 11+) and wal_log_hints or data checksums
(render.primary_settings)."""

from . import server
from ..hosts.cluster import ClusterError
from ..knowledge import datadir, versions
from ..knowledge.shell import sh


def keep_copy(host):
    """Copy the (stopped) data directory aside on its own file system."""
    data = host.layout.data_dir
    actor = server.proven(host)[data].actor
    kept = datadir.aside_path(data)
    free = server.free_space(host, data)
    size = server.data_size(host)
    if free < size * datadir.ROOM_MARGIN:
        raise ClusterError(f"{host.name}: no room to keep a copy of {data} ({size / 1e6:.0f} MB "
                           f"needed, {free / 1e6:.0f} MB free): free some space")
    host.change(datadir.copy_aside(data, kept, actor), user=actor)
    return kept


def onto_primary(run, s):
    """pg_rewind s's data directory onto the primary's timeline, keeping s's own
    config files; the error's last line, or None on success."""
    lay = s.layout
    if not versions.fact("rewind_functions", lay.major):
        return "before PostgreSQL 11 it needs a superuser's connection"
    own = {name: s.read(f"{lay.data_dir}/{name}") for name in lay.own_config_files}
    source = run.conninfo(s, dbname="postgres")
    result = s.change(sh("{rewind} -D {data} --source-server={source}",
                         rewind=lay.pg("pg_rewind"), data=lay.data_dir, source=source),
                      user="postgres", warn=True)
    for name, text in own.items():
        if text is not None:
            s.install(f"{lay.data_dir}/{name}", text, owner="postgres", mode="600")
    if result.exited != 0:
        return ((result.stderr or result.stdout).strip().splitlines() or ["no output"])[-1]
    return None
