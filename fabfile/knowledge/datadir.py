"""A data directory's working names and the shell steps that move it: where
the previous contents are kept (aside), where a copy lands before it is swapped
in (incoming), and the steps that empty, swap and carry the host's own config
files.  And what a directory's listing says about user data in it.  Pure: each
function returns text or Commands; the copy steps run them (steps/clone.py).
"""
import time

from .shell import sh

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


def aside_path(data, mount=False):
    """Where a data directory's previous contents are kept: beside it, or
    inside it when it is a mount point (the same file system either way)."""
    stamp = time.strftime('%Y%m%d-%H%M%S')
    return f"{data}/{INSIDE}kept-{stamp}" if mount else f"{data}.pg-hotstandby-{stamp}"


# A data directory that is a mount point (a volume of its own) cannot be
# renamed: what would go beside it goes inside it, under these names (which
# rsync's filters and the moves below leave alone), and its contents move
# one by one: global/ (pg_control) out first and in last, so that no boot
# finds a half-moved cluster it would start.
INSIDE = ".pg-hotstandby-"
LEFT_IN_PLACE = ["!", "-name", f"{INSIDE}*", "!", "-name", "lost+found"]


def incoming_path(data, mount):
    """Where pg_basebackup writes before the copy is swapped in."""
    return f"{data}/{INSIDE}incoming" if mount else f"{data}.pg-hotstandby-incoming"


def clear_script(data, kept, mount):
    """Shell steps that empty the data directory: into `kept`, or deleted
    (kept None: an earlier copy of this primary)."""
    if not mount:
        return [sh("mv {d} {k}", d=data, k=kept) if kept else sh("rm -rf {d}", d=data)]
    if not kept:
        return [sh("rm -rf {g}", g=f"{data}/global"),
                sh("find {d} -mindepth 1 -maxdepth 1 {left} -exec rm -rf {{}} +", d=data,
                   left=LEFT_IN_PLACE)]
    return [sh("mkdir -m 700 {k}", k=kept),
            sh("{{ [ ! -e {g} ] || mv {g} {k}/; }}", g=f"{data}/global", k=kept),
            sh("find {d} -mindepth 1 -maxdepth 1 {left} -exec mv -t {k} {{}} +", d=data,
               left=LEFT_IN_PLACE, k=kept)]


def swap_script(data, incoming, kept, mount):
    """Shell steps that put the complete copy in `incoming` in the data
    directory's place, its old contents kept in `kept` (or deleted: None)."""
    if not mount:
        return [*clear_script(data, kept, mount), sh("mv {i} {d}", i=incoming, d=data)]
    return [*clear_script(data, kept, mount),
            sh("find {i} -mindepth 1 -maxdepth 1 ! -name global -exec mv -t {d} {{}} +",
               i=incoming, d=data),
            sh("mv {g} {d}/", g=f"{incoming}/global", d=data), sh("rmdir {i}", i=incoming)]


def keep_own_configs(names, source, target):
    """Shell steps that carry the host's own config files (generic layout)
    from its old data directory into the new one."""
    return [sh("{{ [ ! -e {old} ] || cp -p {old} {new}; }}", old=f"{source}/{name}",
               new=f"{target}/{name}") for name in names]
