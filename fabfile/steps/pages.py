"""Changed pages copied alone, inside the online delta copy's held backup
(knowledge/pages.py): staged on the primary, sent by the copy's rsync,
written in place on the standby; both hosts as postgres."""
import time
from concurrent.futures import ThreadPoolExecutor, wait

from . import server
from ..hosts.cluster import ClusterError
from ..knowledge import pages, rsync


def unfit(p, s, changes, spaces, user, sstate, start):
    """Why the changed pages are not copied alone ('' when they are): sstate
    is the standby's state before its copy, start the backup's start."""
    why = pages.replayed_before(sstate.redo, sstate.wal_end, start)
    if why:
        return why
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
    """Stage, send and write the changed pages, in batches (pages.batches)
    as a pipeline: each step stages one batch on the primary, sends the one
    before and writes the one before that on the standby, at once.  The
    primary's staging directory is removed whatever happens."""
    size = changes.page_size
    listed = pages.entries(changes.pages, spaces)
    cut = pages.batches(listed, size)
    stage = pages.primary_stage(slot)
    pdata, sdata = p.layout.data_dir, s.layout.data_dir
    sizes, sent = {}, []
    started = time.monotonic()

    def staged(k):
        out = p.change(pages.stage_command(pdata, f"{stage}/{k}", cut[k], size), user="postgres")
        try:
            sizes[k] = pages.parse_sizes(out.stdout, cut[k], size)
        except ValueError as exc:
            raise ClusterError(f"{p.name}: {exc}") from None

    def send(k):
        done = p.change(rsync.command(f"{pdata}/{stage}", f"{target}:{sdata}/{pages.STAGE}",
                                      pages.batch_rules(k), ssh, checksum=False,
                                      transfer=transfer),
                        user=user, warn=True)
        if done.exited != 0:
            raise ClusterError(f"{p.name}: sending the changed pages to {s.name} failed "
                               f"(exit {done.exited}): {p.failure(done)}")
        sent.append(rsync.parse_stats(done.stdout).get("Total bytes sent", 0))
        p.change(pages.remove_command(pdata, f"{stage}/{k}"), user="postgres")

    def write(k):
        s.change(pages.apply_command(sdata, k, cut[k], size, sizes.pop(k), k == len(cut) - 1),
                 user="postgres")

    try:
        with ThreadPoolExecutor(max_workers=3) as pool:
            for step in range(len(cut) + 2):
                jobs = [pool.submit(job, step - lag)
                        for lag, job in enumerate((staged, send, write))
                        if 0 <= step - lag < len(cut)]
                wait(jobs)
                for job in jobs:
                    job.result()   # the first failure, once the step's others ended
    finally:
        p.change(pages.remove_command(pdata, stage), user="postgres", warn=True)
    report.note(s.name, f"copied the changed pages of {changes.page_files()} relation "
                        f"files alone: {pages.staged_bytes(listed, size) / 1e6:.1f} MB in "
                        f"{len(listed)} ranges, {sum(sent) / 1e6:.1f} MB sent in {len(cut)} "
                        f"batches, in {time.monotonic() - started:.1f} s")
