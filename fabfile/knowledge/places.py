"""Directories root makes, replaces, moves or removes for postgres, proven
before it acts (issue #21).  Anyone with a database superuser login is the
postgres account (`COPY ... TO PROGRAM`), and postgres writes the files that
name these paths (postgresql.conf's data_directory, pg_tblspc's links): a
path postgres can change, acted on by root, is a way from a database login
to root.

So every such path is checked first: absolute and normalized, not one of the
system's own directories (SYSTEM), no symbolic link anywhere in it, the
directory itself owned by postgres where it exists, and every directory
above it owned by root or postgres (postgres-owned all the way down once one
is), writable by no one else (unless sticky).  One round trip proves all of
a host's paths (`script`, read by `verdicts`); each proven path says who
acts in the directory that holds it (`Place.actor`): postgres, where it owns
that directory, so that it can do no more than it already could; root only
where postgres has no right, a directory root owns all the way up.  Pure.
"""
import posixpath
from dataclasses import dataclass

from .shell import sh

TREE, ITSELF = "the tree", "itself"
# The system's own directories: the deepest entry at or above a path decides
# whether it is one (TREE: it and everything below; ITSELF: only it).
SYSTEM = {
    "/": ITSELF,
    "/bin": TREE, "/sbin": TREE, "/lib": TREE, "/lib32": TREE, "/lib64": TREE,
    "/libx32": TREE, "/etc": TREE, "/boot": TREE, "/root": TREE, "/proc": TREE,
    "/sys": TREE, "/dev": TREE, "/run": TREE, "/snap": TREE,
    "/usr": TREE,
    "/usr/local": ITSELF,    # source builds keep their data in /usr/local/pgsql/data
    "/usr/local/bin": TREE, "/usr/local/sbin": TREE, "/usr/local/lib": TREE,
    "/usr/local/lib64": TREE, "/usr/local/libexec": TREE, "/usr/local/etc": TREE,
    "/usr/local/share": TREE, "/usr/local/include": TREE, "/usr/local/games": TREE,
    "/var": ITSELF, "/var/lib": ITSELF, "/var/log": ITSELF, "/var/cache": ITSELF,
    "/var/tmp": ITSELF, "/var/opt": ITSELF, "/var/local": ITSELF,
    "/var/run": TREE, "/var/lock": TREE, "/var/spool": TREE, "/var/mail": TREE,
    "/var/backups": TREE, "/var/lib/dpkg": TREE, "/var/lib/apt": TREE,
    "/var/lib/rpm": TREE, "/var/lib/dnf": TREE, "/var/lib/systemd": TREE,
    "/var/lib/sudo": TREE, "/var/lib/polkit-1": TREE,
    "/tmp": ITSELF, "/home": ITSELF, "/opt": ITSELF, "/srv": ITSELF, "/mnt": ITSELF,
    "/media": ITSELF,
}

ROOT_UID = "0"
LINK, DIRECTORY, MISSING = "symbolic link", "directory", "missing"


class PlaceError(ValueError):
    """A path root must not act on: the message is the reason and the fix."""


@dataclass(frozen=True)
class Wanted:
    """A path the run will act on: what it is, and how to name another."""
    path: str
    what: str            # "the data directory", "tablespace ts1's location"
    elsewhere: str       # the fix when the path itself is wrong


@dataclass(frozen=True)
class Place:
    """A proven path: whether it exists, and who acts in the directory that
    holds it (renames, a new directory): postgres where it owns it, else root."""
    path: str
    exists: bool
    actor: str


def data_directory(path):
    return Wanted(path, "the data directory",
                  "point the cluster's data_directory (or hotstandby.data_directory) at a "
                  "directory of its own")


def tablespace(path, name):
    return Wanted(path, f"the location of tablespace {name}",
                  "map it to a directory of its own with hotstandby.tablespace_mapping")


def system_location(path):
    """The path is one of the system's own directories (SYSTEM)."""
    at = path
    while True:
        scope = SYSTEM.get(at)
        if scope is not None:
            return at == path or scope == TREE
        if at == "/":
            return False
        at = posixpath.dirname(at)


def name_problem(path):
    """Why a path is refused by its name alone, or None."""
    if not path.startswith("/") or path.startswith("//") or posixpath.normpath(path) != path:
        return "is not an absolute, normalized path"
    if system_location(path):
        return "is a system location: root does not hand it to postgres"
    return None


def prefixes(path):
    """Each directory from / down to path, path included."""
    parts = path.strip("/").split("/")
    return ["/"] + ["/" + "/".join(parts[:i]) for i in range(1, len(parts) + 1) if parts[0]]


def script(paths):
    """One command: postgres's uid, then each prefix of each path, in order:
    `type|uid|mode` (never following a link) or `missing`."""
    every = list(dict.fromkeys(p for path in paths for p in prefixes(path)))
    return sh("id -u postgres && for p in {every}; do "
              "stat -c '%F|%u|%a' -- \"$p\" 2>/dev/null || echo missing; done",
              every=every), every


def _fact(line):
    if line == MISSING:
        return MISSING, None, 0
    kind, uid, mode = line.split("|")
    return kind, uid, int(mode, 8)


def verdicts(wanted, every, output):
    """{path: Place} for each Wanted from the script's output (every: the
    prefixes it asked about); a PlaceError, naming the path, the reason and
    the fix, for the first one that fails."""
    lines = output.splitlines()
    if len(lines) != len(every) + 1 or not lines[0].strip().isdigit():
        raise PlaceError("the check of the paths it acts on gave an unexpected answer")
    postgres = lines[0].strip()
    facts = dict(zip(every, (_fact(line.strip()) for line in lines[1:])))
    return {w.path: _verdict(w, facts, postgres) for w in wanted}


def _verdict(w, facts, postgres):
    def refuse(reason, fix):
        raise PlaceError(f"{w.path} ({w.what}) {reason}: {fix}")
    problem = name_problem(w.path)
    if problem:
        refuse(problem, w.elsewhere)
    actor, exists = "root", False
    for at in prefixes(w.path):
        kind, uid, mode = facts[at]
        if kind == MISSING:
            break
        here = "it" if at == w.path else at
        if kind == LINK:
            refuse(f"is a symbolic link ({here}): root follows no link postgres may have made",
                   f"name the directory itself, or {w.elsewhere}")
        if kind != DIRECTORY:
            refuse(f"is not a directory ({here})", w.elsewhere)
        if at == w.path:
            exists = True
            if uid != postgres:
                refuse("is not owned by postgres", "chown it to postgres, or " + w.elsewhere)
            break
        if uid not in (ROOT_UID, postgres) or (actor == "postgres" and uid != postgres):
            owner = "postgres" if actor == "postgres" else "root or postgres"
            refuse(f"lies in {at}, owned by uid {uid}, not {owner}",
                   f"chown {at} to {'postgres' if actor == 'postgres' else 'root'}, "
                   f"or {w.elsewhere}")
        if mode & 0o022 and not mode & 0o1000:
            refuse(f"lies in {at}, which others can write", f"chmod go-w {at}, or {w.elsewhere}")
        if uid == postgres:
            actor = "postgres"
    return Place(w.path, exists, actor)
