"""Copying a relation file's changed pages alone (17+): the online delta copy
over a standby's own earlier copy, for the files whose changed blocks the
primary's WAL summaries list (knowledge/summaries.py, `Changes.pages`).

Without this, rsync updates a changed file by reading all of it on both
hosts (its delta algorithm): a 1 GB segment for a few changed pages.  Here
the primary, as postgres, copies each range of changed pages with dd into a
staging directory (`pgsql_tmp*`: no base backup takes it), rsync sends that
directory to the standby over the copy's confined key (into STAGE, which no
copy deletes), and the standby, as postgres, writes each range where it
belongs with dd.  Only the changed pages are read, sent and written.  Pages
torn by writes during the copy are repaired by WAL replay from the backup's
start, as every file of an online copy.  Pure.
"""
from . import shell
from .summaries import DEFAULT_TABLESPACE, GLOBAL_TABLESPACE

# In the standby's data directory (STANDBY_OWN's '.pg-hotstandby-*': the
# copy's rsync neither sends nor deletes it).
STAGE = ".pg-hotstandby-pages"
# The staged pages may take at most this share of either host's free space.
FREE_SHARE = 0.5


def primary_stage(slot):
    """The staging directory in the primary's data directory, one per
    standby (copies to several run at once): PostgreSQL's base backups and
    the copy's filters leave out names starting with pgsql_tmp."""
    return f"pgsql_tmp.pg-hotstandby-{slot}"


def entries(pages, spaces):
    """[(n, path from the data directory, first block, blocks)] for
    Changes.pages; spaces: the copied tablespaces (knowledge/tablespaces.py),
    whose files are reached through pg_tblspc, as on both hosts."""
    roots = {DEFAULT_TABLESPACE: "base", GLOBAL_TABLESPACE: "global"}
    roots.update({t.oid: f"{t.link}/{t.version_dir}" for t in spaces})
    listed = []
    for space in sorted(pages, key=int):
        for path in sorted(pages[space]):
            for first, count in pages[space][path]:
                listed.append((len(listed), f"{roots[space]}/{path}", first, count))
    return listed


def staged_bytes(listed, block_size):
    return sum(count for _, _, _, count in listed) * block_size


def _lines(listed, *fields):
    return "\n".join(" ".join(str(entry[i]) for i in fields) for entry in listed) + "\n"


def stage_command(data_dir, stage, listed, block_size):
    """Shell (as postgres on the primary) that copies each range into its own
    file in stage: a file vanished since (a relation dropped) is skipped; one
    shorter than the range gives a shorter file (WAL replay settles both)."""
    return shell.sh(
        'umask 077 && cd {data} && s={stage} && rm -rf "$s" && mkdir "$s" && '
        'printf %s {lines} | while read -r n path first count; do '
        '[ -e "$path" ] || continue; '
        'dd if="$path" of="$s/$n" bs={size} skip="$first" count="$count" status=none '
        '|| exit 1; done',
        data=data_dir, stage=stage, lines=_lines(listed, 0, 1, 2, 3), size=block_size)


def apply_command(data_dir, listed, block_size):
    """Shell (as postgres on the standby) that writes each staged range into
    its file in place (conv=notrunc: the rest of the file stays), then
    removes STAGE.  The ranges are the tool's own list, not the staged
    directory's: nothing a host sent is read as a command."""
    return shell.sh(
        'umask 077 && cd {data} && s={stage} && '
        'printf %s {lines} | while read -r n path first; do '
        '[ -e "$s/$n" ] || continue; '
        'dd if="$s/$n" of="$path" bs={size} seek="$first" conv=notrunc status=none '
        '|| exit 1; done && rm -rf "$s"',
        data=data_dir, stage=STAGE, lines=_lines(listed, 0, 1, 2), size=block_size)


def remove_command(data_dir, stage):
    return shell.sh("cd {data} && rm -rf {stage}", data=data_dir, stage=stage)


def free_space_command(path):
    return shell.sh("df -P -k {path}", path=path)


def parse_free(text):
    """Bytes available from `df -P -k`'s output; ValueError otherwise."""
    rows = [line.split() for line in text.strip().splitlines()]
    if len(rows) != 2 or len(rows[1]) < 6 or not rows[1][3].isdigit():
        raise ValueError(f"unexpected df output {text.strip()[:120]!r}")
    return int(rows[1][3]) * 1024


def too_big(staged, free):
    """Why the staged pages do not fit on a host with `free` bytes, or ''."""
    if staged > free * FREE_SHARE:
        return (f"the changed pages ({staged / 1e6:.0f} MB) would take over half of the "
                f"{free / 1e6:.0f} MB free")
    return ""
