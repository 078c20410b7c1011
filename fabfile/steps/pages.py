"""Changed pages copied alone, inside the online delta copy's held backup
(knowledge/pages.py): staged on the primary, sent by the copy's rsync,
written in place on the standby; both hosts as postgres."""
import time

from . import server
from ..hosts.cluster import ClusterError
from ..knowledge import pages, rsync


def unfit(p, s, changes, spaces, user):
    """Why the changed pages cannot be copied alone ('' when they can)."""
    if user != "postgres":
        # rsync would read, as root, a directory postgres controls.
        return "the copy runs as root (sync_identity_file)"
    listed = pages.entries(changes.pages, spaces)
    why = pages.too_long(p.layout.data_dir, s.layout.data_dir, listed, changes.page_size)
    if why:
        return why
    staged = pages.staged_bytes(listed, changes.page_size)
    for host in (p, s):
        for _mount, free, _ in server.room(host, [(host.layout.data_dir, staged)]):
            why = pages.too_big(staged, free)
            if why:
                return f"on {host.name}, {why}"
    return ""


def copy(p, s, changes, spaces, ssh, target, user, transfer, slot, report):
    """Stage, send and write the changed pages; the primary's staging
    directory is removed whatever happens."""
    listed = pages.entries(changes.pages, spaces)
    stage = pages.primary_stage(slot)
    pdata, sdata = p.layout.data_dir, s.layout.data_dir
    started = time.monotonic()
    try:
        staged = p.change(pages.stage_command(pdata, stage, listed, changes.page_size),
                          user="postgres")
        try:
            sizes = pages.parse_sizes(staged.stdout, listed, changes.page_size)
        except ValueError as exc:
            raise ClusterError(f"{p.name}: {exc}") from None
        done = p.change(rsync.command(f"{pdata}/{stage}", f"{target}:{sdata}/{pages.STAGE}",
                                      [], ssh, checksum=False, transfer=transfer),
                        user=user, warn=True)
        if done.exited != 0:
            raise ClusterError(f"{p.name}: sending the changed pages to {s.name} failed "
                               f"(exit {done.exited}): {p.failure(done)}")
    finally:
        p.change(pages.remove_command(pdata, stage), user="postgres", warn=True)
    s.change(pages.apply_command(sdata, listed, changes.page_size, sizes), user="postgres")
    sent = rsync.parse_stats(done.stdout).get("Total bytes sent", 0)
    report.note(s.name, f"copied the changed pages of {changes.page_files()} relation "
                        f"files alone: {pages.staged_bytes(listed, changes.page_size) / 1e6:.1f}"
                        f" MB in {len(listed)} ranges, {sent / 1e6:.1f} MB sent, in "
                        f"{time.monotonic() - started:.1f} s")
