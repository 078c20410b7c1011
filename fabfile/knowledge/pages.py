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


# dd's transfer size: pages go in 1 MiB reads and writes, at byte offsets
# (GNU dd's skip_bytes, count_bytes, seek_bytes).  One page per call took
# 7 s for 800 MB on the lab's fuse-overlayfs, 1 MiB 1 s.
DD_BLOCK = "1M"


def _lines(listed, block_size, length=True):
    """'n path offset length' lines (bytes), or without the length."""
    return "".join(f"{n} {path} {first * block_size}"
                   + (f" {count * block_size}" if length else "") + "\n"
                   for n, path, first, count in listed)


def _files(listed):
    return sorted({path for _, path, _, _ in listed})


def stage_command(data_dir, stage, listed, block_size):
    """Shell (as postgres on the primary) that copies each range into its own
    file in stage (a batch's directory in primary_stage), then prints each
    file's size ('PATH BYTES' lines: parse_sizes).  A file vanished since (a
    relation dropped) is skipped; one shorter than the range gives a shorter
    file (WAL replay settles both)."""
    return shell.sh(
        'umask 077 && cd {data} && s={stage} && rm -rf "$s" && mkdir -p "$s" && '
        'printf %s {lines} | while read -r n path offset length; do '
        '[ -e "$path" ] || continue; '
        'dd if="$path" of="$s/$n" bs={dd} iflag=skip_bytes,count_bytes skip="$offset" '
        'count="$length" status=none || exit 1; done && '
        'printf %s {files} | while read -r path; do '
        '[ ! -e "$path" ] || echo "$path $(stat -c %s "$path")" || exit 1; done',
        data=data_dir, stage=stage, lines=_lines(listed, block_size), dd=DD_BLOCK,
        files="".join(f"{path}\n" for path in _files(listed)))


def parse_sizes(text, listed, block_size):
    """{path: bytes} from stage_command's output: only the listed files, and
    only whole pages (a size in between is left alone, as pg_basebackup
    --incremental sends such a file whole); ValueError for any other line."""
    wanted = set(_files(listed))
    sizes = {}
    for line in text.splitlines():
        path, _, size = line.partition(" ")
        if path not in wanted or not size.isdigit():
            raise ValueError(f"unexpected line from the staging of pages: {line[:120]!r}")
        if int(size) % block_size == 0:
            sizes[path] = int(size)
    return sizes


def apply_command(data_dir, batch, listed, block_size, sizes, last):
    """Shell (as postgres on the standby) that writes each range batch
    `batch` staged into its file in place (conv=notrunc: the rest of the
    file stays), gives each file the primary's size (sizes: parse_sizes; as
    the incremental files of pg_basebackup do: zero pages the primary added
    without WAL, or a truncation after the backup's start, which WAL replay
    repeats), then removes the batch (the last one: STAGE).  The ranges are
    the tool's own list, not the staged directory's: nothing a host sent is
    read as a command."""
    return shell.sh(
        'umask 077 && cd {data} && s={stage} && '
        'printf %s {lines} | while read -r n path offset; do '
        '[ -e "$s/$n" ] || continue; '
        'dd if="$s/$n" of="$path" bs={dd} oflag=seek_bytes seek="$offset" conv=notrunc '
        'status=none || exit 1; done && '
        'printf %s {sizes} | while read -r path bytes; do '
        'truncate -c -s "$bytes" "$path" || exit 1; done && rm -rf {done}',
        data=data_dir, stage=f"{STAGE}/{batch}", lines=_lines(listed, block_size, length=False),
        dd=DD_BLOCK, sizes="".join(f"{path} {size}\n" for path, size in sorted(sizes.items())),
        done=STAGE if last else f"{STAGE}/{batch}")


# The copy is a pipeline: while one batch of ranges is sent, the next is
# staged on the primary and the one before written on the standby.  Each
# batch costs its own rsync (an SSH connection) and two commands, so few:
# BATCHES of at least MIN_BATCH bytes.
BATCHES = 4
MIN_BATCH = 32 * 2 ** 20


def batches(listed, block_size):
    """listed cut into at most BATCHES lists of about equal bytes, a range
    split where a cut falls inside it; ranges numbered anew (one stage file
    each)."""
    total = staged_bytes(listed, block_size)
    count = max(1, min(BATCHES, total // MIN_BATCH))
    share = -(-total // (count * block_size))   # pages per batch, rounded up
    cut, room = [[]], share
    for _, path, first, pages in listed:
        while pages:
            if not room:
                cut.append([])
                room = share
            taken = min(pages, room)
            cut[-1].append((path, first, taken))
            first, pages, room = first + taken, pages - taken, room - taken
    numbered, n = [], 0
    for batch in cut:
        numbered.append([(n + i, path, first, pages) for i, (path, first, pages)
                         in enumerate(batch)])
        n += len(batch)
    return numbered


def batch_rules(batch):
    """rsync filters that send one batch's directory of the primary's
    staging directory and leave the others alone on both hosts (one being
    staged there, one being written here)."""
    return [f"+ /{batch}/", f"+ /{batch}/**", "- *"]


def remove_command(data_dir, stage):
    return shell.sh("cd {data} && rm -rf {stage}", data=data_dir, stage=stage)


# What one command may hold: the kernel's limit for one argument (sh -c's
# script), 128 kB, less room for what wraps it (sudo, runuser).
MAX_COMMAND = 120 * 1024


def too_long(primary_dir, standby_dir, listed, block_size):
    """Why the ranges do not fit in the two commands ('' when they do)."""
    widest = {path: 10 ** 12 for path in _files(listed)}   # the sizes, not known yet
    stage = f"{primary_stage('x' * 63)}/{BATCHES}"
    longest = max(len(stage_command(primary_dir, stage, listed, block_size)),
                  len(apply_command(standby_dir, BATCHES, listed, block_size, widest, False)))
    if longest > MAX_COMMAND:
        return f"{len(listed)} ranges of changed pages are too many for one command"
    return ""


def replayed_before(redo, stopped, start):
    """Why the changed pages are better left to rsync's comparison ('' when
    they are copied alone).  The summaries list every page changed since the
    standby's last restartpoint (redo), the backup's start being `start`; but
    the standby had replayed the WAL up to where it stopped (`stopped`: its
    pg_control's, ServerState.wal_end), and most pages that WAL changed are
    on its disk already (written out as it replayed; only the shutdown's
    restartpoint, skipped when no new checkpoint was replayed, is not sure to
    have written them all).  Copying every listed page would send those
    again; rsync's comparison sends only what differs.  So when more of the
    WAL since redo came before it stopped than after, rsync compares the
    changed files (at 100 Mbit/s, 470 MB of WAL before and 235 MB after: the
    page copy sent 253 MB, rsync 65).  WAL's length stands for the pages
    it changed: rough (a segment switch pads up to a segment), but both
    paths are safe, and this only chooses the cheaper."""
    if stopped is None or redo is None or stopped <= redo:
        return ""
    before, after = stopped - redo, max(start - stopped, 0)
    if before <= after:
        return ""
    return (f"its replay had gone {before / 1e6:.0f} MB of WAL past its last restartpoint "
            f"when it stopped, and {after / 1e6:.0f} MB came after: it most likely holds most "
            "changed pages already")


def too_big(staged, free):
    """Why the staged pages do not fit on a host with `free` bytes, or ''."""
    if staged > free * FREE_SHARE:
        return (f"the changed pages ({staged / 1e6:.0f} MB) would take over half of the "
                f"{free / 1e6:.0f} MB free")
    return ""
