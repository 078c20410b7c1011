"""Tablespaces on their way to a standby (the paths: knowledge/tablespaces.py).

Every method copies them: pg_basebackup maps each into an incoming directory
inside its location, swapped in once the whole copy is there; rsync copies
each one's directory in place after the data directory, before pg_control.
A standby's earlier copy is replaced; anything else found there is kept
aside, inside the same location, never deleted.  Before the standby starts,
`check` proves each tablespace arrived.  Work inside a location runs as
postgres, who owns it; root only creates a location that does not exist in
a directory root owns, once the location is proven (server.proven).
"""
from ..hosts.cluster import ClusterError
from ..knowledge.shell import join, sh
from ..knowledge import datadir, rsync, tablespaces


def of(run, primary_state):
    """The primary's tablespaces, read from its data directory's pg_tblspc
    (a stopped primary too); names from the server when it runs."""
    p = run.primary
    listing = p.query(sh('cd {dir} 2>/dev/null || exit 0; '
                         'for l in *; do [ -L "$l" ] && echo "$l|$(readlink "$l")"; done; exit 0',
                         dir=f"{p.layout.data_dir}/pg_tblspc"), user="postgres").stdout
    links = [line.split("|", 1) for line in listing.splitlines() if "|" in line]
    if not links:
        return []
    names = run.state.tablespace_names
    if primary_state.running and not names:
        names.update(p.psql("select oid, spcname from pg_tablespace") or [])
    try:
        return tablespaces.parse([(oid, names.get(oid, oid), location) for oid, location in links],
                                 p.layout.major, primary_state.catalog_version,
                                 run.settings.tablespace_mapping)
    except tablespaces.TablespaceError as exc:
        raise ClusterError(f"{p.name}: {exc}") from None


def sizes(primary, spaces):
    """{oid: bytes} of each tablespace's directory on the primary."""
    if not spaces:
        return {}
    out = primary.query(join([sh("du -sb {dir} 2>/dev/null || echo 0", dir=t.source)
                              for t in spaces]), user="postgres").stdout.split("\n")
    return {t.oid: int(line.split()[0]) for t, line in zip(spaces, out) if line.split()}


def earlier_copies(standby, spaces, copy_of_primary):
    """The oids whose directory on the standby is an earlier copy of this
    primary's: the data directory is one (copy_of_primary) and links there.
    Anything else found at a tablespace's place is not ours to replace."""
    if not (spaces and copy_of_primary):
        return set()
    data = standby.layout.data_dir
    links = standby.query(join([sh('echo "$(readlink {link})"', link=f"{data}/{t.link}")
                                for t in spaces]), user="postgres").stdout.split("\n")
    return {t.oid for t, link in zip(spaces, links) if link.strip() == t.target}


def prepare(standby, spaces, owned, places, incoming):
    """Make each location ready on the standby: created (for postgres) when
    missing, by whoever owns where it goes (places: server.proven's); with
    `incoming`, an empty incoming directory for pg_basebackup; else (rsync in
    place) what is there and not an earlier copy (owned: oids) kept aside.
    Returns what was kept, and where."""
    kept = []
    for t in spaces:
        actor = places[t.target].actor
        standby.change(datadir.ensure_dir(t.target, actor), user=actor)
        if incoming:
            standby.change(sh("rm -rf {dir} && mkdir -m 700 {dir}", dir=t.incoming),
                           user="postgres")
            continue
        if t.oid not in owned:
            aside = keep_aside(standby, t)
            if aside:
                kept.append(f"kept what was in {t.dest} (not a copy of this primary) in {aside}")
        standby.change(sh("mkdir -p -m 700 {dir}", dir=t.dest), user="postgres")
    return kept


def keep_aside(standby, t):
    """Rename what is at the tablespace's directory, inside its location;
    the new name, or None when there was nothing."""
    aside = f"{t.dest}.pg-hotstandby-{datadir.suffix()}"
    done = standby.change(sh("[ -e {dir} ] || exit 3; mv -T {dir} {aside}", dir=t.dest,
                             aside=aside), user="postgres", warn=True)
    return aside if done.exited == 0 else None


def swap_in(standby, spaces, owned):
    """After pg_basebackup (and the data directory's swap): each incoming
    directory becomes the tablespace's, and the data directory points there;
    an earlier copy (owned: oids) is replaced, anything else kept aside.
    Returns what was kept, and where."""
    kept = []
    data = standby.layout.data_dir
    for t in spaces:
        if t.oid in owned:
            standby.change(sh("rm -rf {dir}", dir=t.dest), user="postgres")
        else:
            aside = keep_aside(standby, t)
            if aside:
                kept.append(f"kept what was in {t.dest} (not a copy of this primary) in {aside}")
        standby.change(sh("mv -T {copied} {dir} && rmdir {incoming} && ln -sfn {target} {link}",
                          copied=f"{t.incoming}/{t.version_dir}", dir=t.dest,
                          incoming=t.incoming, target=t.target, link=f"{data}/{t.link}"),
                       user="postgres")
    return kept


def copy(primary, spaces, target, ssh, user, checksum, transfer=(), changes=None):
    """rsync each tablespace's directory to the standby (target: user@address),
    compressed and capped as the data directory (transfer: rsync's options).
    changes: what the primary's WAL summaries say changed (only that among
    relation files is read: knowledge/summaries.py), or None."""
    for t in spaces:
        rules = rsync.TEMP_FILES + (changes.rules(t.oid) if changes else [])
        done = primary.change(rsync.command(t.source, f"{target}:{t.dest}", rules,
                                            ssh, checksum=checksum, transfer=transfer),
                              user=user, warn=True)
        if done.exited not in (0, rsync.VANISHED):
            raise ClusterError(f"{primary.name}: copying {t.describe()} failed "
                               f"(exit {done.exited}): {primary.failure(done)}")


def relink(standby, spaces):
    """Point the standby's pg_tblspc links at its own locations (rsync copies
    the primary's links as they are)."""
    data = standby.layout.data_dir
    for t in spaces:
        if t.target != t.location:
            standby.change(sh("ln -sfn {target} {link}", target=t.target,
                              link=f"{data}/{t.link}"), user="postgres")


def check(primary, standby, spaces, exact):
    """Every tablespace is on the standby, where its link points, before it
    starts; exact (a copy of a stopped primary): as many files as there."""
    data = standby.layout.data_dir
    count = "find {dir} -type f -not -name 'pgsql_tmp*' 2>/dev/null | wc -l"
    for t in spaces:
        there = standby.query(sh("readlink {link}; " + count, link=f"{data}/{t.link}",
                                 dir=t.dest), user="postgres").stdout.split("\n")
        link, files = there[0].strip(), int(there[1].strip() or 0)
        wanted = int(primary.query(sh(count, dir=t.source), user="postgres").stdout.strip())
        if link != t.target or files == 0 < wanted or (exact and files != wanted):
            raise ClusterError(f"{standby.name}: {t.describe()} is incomplete after the copy "
                               f"({files} of {wanted} files, link to {link or 'nothing'}): "
                               "run sync again")


def problems(standby, spaces):
    """[(check, problem-or-None)] for preflight: each location usable by
    postgres (room: checks.py, per file system)."""
    results = []
    for t in spaces:
        ok = standby.query(sh("test ! -e {dir} || test -w {dir}", dir=t.target),
                           user="postgres", warn=True).exited == 0
        results.append((f"{t.describe()}: location usable by postgres", None if ok else
                        f"{standby.name}: {t.target} exists but postgres cannot write in it "
                        f"(the location of {t.describe()}): chown it to postgres"))
    return results


def describe(standby, spaces, need):
    """Plan lines: what would be copied where."""
    return [f"copy {t.describe()} to {standby.name}:{t.dest} "
            f"({need.get(t.oid, 0) / 1e6:.0f} MB)" for t in spaces]
