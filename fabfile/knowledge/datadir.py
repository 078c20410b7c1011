"""A data directory's working names and the shell steps that move it: where
the previous contents are kept (aside), where a copy lands before it is swapped
in (incoming), and the steps that empty, swap and carry the host's own config
files.  And what a directory's listing says about user data in it.  Pure: each
function returns text or Commands; the copy steps run them (steps/clone.py).

The scripts run as the `actor` of the data directory's place
(knowledge/places.py): postgres where it owns the directory that holds the
data directory, else root.  Whatever happens inside a directory postgres
owns is done as postgres; root only renames and makes directories in a
directory it owns, never following a link (`mv -T`, `mkdir` that fails on
anything already there).  Working names carry a random part: nobody can
plant a link at one before the run makes it.
"""
import re
import secrets
import time

from .shell import as_user, join, sh

ROOM_MARGIN = 1.10       # a copy needs the primary's size plus 10%
FIRST_USER_OID = 16384   # PostgreSQL's FirstNormalObjectId: initdb's objects are below


def holds_user_data(listing):
    """From `base/` paths (DBOID/RELFILENODE...), whether any user object exists.

    Databases and relations created after initdb get OIDs from 16384 on, so a
    stock cluster has none: moving it aside loses nothing anybody made.
    """
    for path in listing.split():
        parts = path.split("/")
        numbers = [p.split("_")[0].split(".")[0] for p in parts[:2]]
        if any(n.isdigit() and int(n) >= FIRST_USER_OID for n in numbers):
            return True
    return False


def suffix():
    """The time, to read, and a random part, so that no name can be guessed."""
    return f"{time.strftime('%Y%m%d-%H%M%S')}-{secrets.token_hex(4)}"


def aside_path(data, mount=False):
    """Where a data directory's previous contents are kept: beside it, or
    inside it when it is a mount point (the same file system either way)."""
    return f"{data}/{INSIDE}kept-{suffix()}" if mount else f"{data}.pg-hotstandby-{suffix()}"


# A data directory that is a mount point (a volume of its own) cannot be
# renamed: what would go beside it goes inside it, under these names (which
# rsync's filters and the moves below leave alone), and its contents move
# one by one: global/ (pg_control) out first and in last, so that no boot
# finds a half-moved cluster it would start.
INSIDE = ".pg-hotstandby-"
LEFT_IN_PLACE = ["!", "-name", f"{INSIDE}*", "!", "-name", "lost+found"]
INCOMING = "incoming-"


def incoming_place(data, mount):
    """(directory, name prefix) of the incoming directories: beside the data
    directory, or inside it when it is a mount point."""
    if mount:
        return data, f"{INSIDE}{INCOMING}"
    parent, name = data.rsplit("/", 1)
    return parent or "/", f"{name}.pg-hotstandby-{INCOMING}"


def incoming_path(data, mount, system_id):
    """Where pg_basebackup writes before the copy is swapped in.  Its name
    says whose copy it is (the primary's system identifier): one cut short
    is taken up by the next run (cut_copy)."""
    where, prefix = incoming_place(data, mount)
    return f"{where.rstrip('/')}/{prefix}{system_id}-{secrets.token_hex(4)}"


def cut_copy(names, data, mount, system_id):
    """The incoming directory that a copy of this primary (system_id) cut
    short left, among the `names` found where incoming directories go (as
    the host lists them: only a name of our own making counts), or ''."""
    where, prefix = incoming_place(data, mount)
    ours = re.compile(re.escape(f"{prefix}{system_id}-") + "[0-9a-f]{8}")
    found = sorted(name for name in names if system_id.isdigit() and ours.fullmatch(name))
    return f"{where.rstrip('/')}/{found[0]}" if found else ""


def as_postgres(actor, command):
    """command run as postgres from a script that `actor` runs; from /, as
    postgres may not enter the login user's directory (find -exec needs to)."""
    command = sh("cd / && {command}", command=command)
    return command if actor == "postgres" else as_user("postgres", command)


def make_dir(path, actor):
    """Shell: a new directory for postgres (700), its missing parents made
    too; fails if anything is at path, a link too.  Root gives it to postgres
    without following a link (chown -h)."""
    made = sh("mkdir -p {parent} && mkdir -m 700 {path}", parent=path.rsplit("/", 1)[0] or "/",
              path=path)
    if actor == "postgres":
        return made
    return join([made, sh("chown -h postgres:postgres {path}", path=path)], " && ")


def ensure_dir(path, actor):
    """Shell: make_dir unless a directory is there (one that came through a
    link gets nothing from root: mkdir and chown run only when none is)."""
    return sh("[ -d {path} ] || {{ {make}; }}", path=path, make=make_dir(path, actor))


def remove_dir(path, actor):
    """Shell: a directory postgres owns and all in it: emptied by postgres,
    then removed by `actor` (a link there is not followed: rmdir fails)."""
    return join([as_postgres(actor, sh("find {path} -mindepth 1 -delete", path=path)),
                 sh("rmdir {path}", path=path)], " && ")


def drop_leftovers(data, mount, actor):
    """Shell: incoming directories of earlier backups cut short (ours to
    remove), emptied by postgres, then removed by `actor`."""
    where, prefix = incoming_place(data, mount)
    name = f"{prefix}*"
    found = sh("find {where} -mindepth 1 -maxdepth 1 -type d -name {name}", where=where,
               name=name)
    emptied = as_postgres(actor, sh("{found} -exec find {{}} -mindepth 1 -delete \\;",
                                    found=found))
    return join([emptied, sh("cd / && {found} -empty -delete", found=found)], " && ")


def clear_script(data, kept, mount, actor):
    """Shell steps that empty the data directory: into `kept`, or deleted
    (kept None: an earlier copy of this primary).  Inside a mount point it
    is all postgres's work."""
    if not mount:
        return [sh("mv -T {d} {k}", d=data, k=kept) if kept else remove_dir(data, actor)]
    if not kept:
        steps = [sh("rm -rf {g}", g=f"{data}/global"),
                 sh("find {d} -mindepth 1 -maxdepth 1 {left} -exec rm -rf {{}} +", d=data,
                    left=LEFT_IN_PLACE)]
    else:
        steps = [sh("mkdir -m 700 {k}", k=kept),
                 sh("{{ [ ! -e {g} ] || mv {g} {k}/; }}", g=f"{data}/global", k=kept),
                 sh("find {d} -mindepth 1 -maxdepth 1 {left} -exec mv -t {k} {{}} +", d=data,
                    left=LEFT_IN_PLACE, k=kept)]
    return [as_postgres(actor, join(steps, " && "))]


def swap_script(data, incoming, kept, mount, actor):
    """Shell steps that put the complete copy in `incoming` in the data
    directory's place, its old contents kept in `kept` (or deleted: None)."""
    if not mount:
        return [*clear_script(data, kept, mount, actor), sh("mv -T {i} {d}", i=incoming, d=data)]
    return [*clear_script(data, kept, mount, actor), as_postgres(actor, join([
        sh("find {i} -mindepth 1 -maxdepth 1 ! -name global -exec mv -t {d} {{}} +",
           i=incoming, d=data),
        sh("mv {g} {d}/", g=f"{incoming}/global", d=data), sh("rmdir {i}", i=incoming)],
        " && "))]


def keep_own_configs(names, source, target, actor):
    """Shell steps that carry the host's own config files (generic layout)
    from its old data directory into the new one: by postgres, whose
    directories both are; a link at the target is replaced, not written
    through."""
    return [as_postgres(actor, sh("{{ [ ! -e {old} ] || cp -p --remove-destination {old} "
                                  "{new}; }}", old=f"{source}/{name}", new=f"{target}/{name}"))
            for name in names]


def copy_aside(data, kept, actor):
    """Shell: a copy of the (stopped) data directory in a new directory
    `kept` beside it, made by postgres (pg_rewind's kept copy)."""
    return join([make_dir(kept, actor),
                 as_postgres(actor, sh("cp -a {d}/. {k}/", d=data, k=kept))], " && ")
