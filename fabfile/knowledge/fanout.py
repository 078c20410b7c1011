"""Fan-out: several standbys copied without the primary sending every copy.

The first standby is copied from the primary (pg_basebackup).  Its finished
copy, not started yet, is a consistent base backup (backup_label, WAL to its
end), and a byte copy of a base backup is one too.  So every standby with a
finished copy becomes a source.  Each wave, the primary and every source copy
to one more standby each (a standby's copy by rsync over the tool's confined
SSH login), so the standbys holding a copy double: n standbys take
ceil(log2(n + 1)) waves, and the primary sends one copy per wave instead of
n (2 of 3, 3 of 7), each over a link no other copy of the wave shares.

A standby copied from another streams from the primary like any other,
through its own slot there.  That slot must have reserved WAL from before
the copy's backup began (configure-master creates the slots, reserving,
before any copy), else the WAL the standby needs first may be gone: checked
before each copy from a standby (`covers`).  A copy from a standby that
cannot be made or fails is made from the primary instead.  Pure.
"""
from .lsn import Lsn

CHOICES = ("auto", "off")
# `auto` fans out from this many standbys copied in one run: the first count
# whose waves (ceil(log2(n + 1))) are fewer than its copies through one link
# (n).  Two standbys would take two waves either way, one after the other
# instead of side by side: the primary would send half, but nothing is faster.
MIN_STANDBYS = 3


class BadValue(ValueError):
    """A fan_out value that cannot be used: the text names the fix."""


def parse(text):
    """'auto' or 'off'; unset (None) is the default, auto."""
    value = "auto" if text is None else str(text).strip().lower()
    if value not in CHOICES:
        raise BadValue("use auto (copy further standbys from finished copies) or off "
                       "(every standby from the primary)")
    return value


def applies(choice, basebackup, count, identity_file):
    """(fans out, why not): whether this run copies standbys from standbys.
    basebackup: the method copies a running primary with pg_basebackup;
    count: standbys to copy; identity_file: hotstandby.sync_identity_file set
    (rsync logs in with the primary's own key, which no standby holds)."""
    if choice == "off":
        return False, "fan-out is off"
    if count < MIN_STANDBYS:
        return False, ""
    if not basebackup:
        return False, "fan-out applies to the basebackup method"
    if identity_file:
        return False, "fan-out needs the tool's temporary key (sync_identity_file is set)"
    return True, ""


def wave(pending, sources):
    """The next wave: [(standby, source)] pairing each source (a standby with
    a finished copy), then the primary (None), with one pending standby each,
    in order: standbys first, so that the primary sends a copy only where no
    standby can."""
    return list(zip(pending, [*sources, None]))


def schedule(names):
    """[(standby, source or None, wave)] in the order of copy, each source a
    standby copied in an earlier wave: the run's plan, made before any copy."""
    pending, sources, order = list(names), [], []
    for number in range(len(names)):
        if not pending:
            break
        pairs = wave(pending, sources)
        order += [(target, source, number) for target, source in pairs]
        done = [target for target, _ in pairs]
        pending = [name for name in pending if name not in done]
        sources += done
    return order


def backup_start(label):
    """The WAL location a base backup starts at, from its backup_label
    ('START WAL LOCATION: 0/3000028 (file ...)'); None when not there."""
    for line in (label or "").splitlines():
        key, _, value = line.partition(":")
        if key.strip() == "START WAL LOCATION" and value.split():
            return Lsn.parse_or_none(value.split()[0])
    return None


def covers(restart_lsn, start, segment_size=1):
    """Whether a slot whose restart_lsn is this (text, or '' when it holds
    none) keeps every WAL a copy starting at `start` needs.  segment_size:
    WAL is kept and asked for by segments (a standby that streams on asks
    from the start of the segment its own WAL ends in)."""
    held = Lsn.parse_or_none(restart_lsn)
    return start is not None and held is not None \
        and held // segment_size <= start // segment_size
