"""Switchover's decisions, pure: whether a candidate is close enough behind
its primary to switch to, whether the proof holds once the primary has
stopped, what a candidate stopped during its promotion became, what the
other standbys pin across the switch, and the switch's steps as a plan
shows them."""
from dataclasses import dataclass


def lag_refusal(candidate, primary, sender_state, primary_lsn, replayed, replay_seconds,
                max_bytes, max_seconds):
    """Why `candidate` cannot be switched to now, or None.

    sender_state: its WAL sender's state on the primary (None: none);
    primary_lsn, replayed: Lsn (replayed None: nothing yet); replay_seconds:
    the sender's replay_lag (None once idle: nothing left to replay).  What it
    has not replayed yet it replays before it accepts writes: the outage."""
    if sender_state != "streaming":
        return (f"{candidate} does not stream from {primary} (its WAL sender: "
                f"{sender_state or 'none'}): start it or run full, then switch over once "
                f"fab status shows it streaming")
    behind = None if replayed is None else max(0, primary_lsn - replayed)
    if behind is None or behind > max_bytes:
        return (f"{candidate} has {'replayed nothing' if behind is None else f'{behind} bytes'}"
                f" of {primary}'s WAL left to replay, more than "
                f"hotstandby.switchover.max_lag_bytes ({max_bytes:.0f}): wait until it catches "
                "up (fab status), or raise the bound")
    if replay_seconds is not None and replay_seconds > max_seconds:
        return (f"{candidate} replays {replay_seconds:.1f} s behind {primary}, more than "
                f"hotstandby.switchover.max_lag_seconds ({max_seconds:g}): wait until it "
                "catches up (fab status), or raise the bound")
    return None


@dataclass(frozen=True)
class Proof:
    holds: bool
    line: str


def proof(old, cluster_state, checkpoint, candidate, received):
    """Did the candidate receive everything the stopped primary wrote?

    cluster_state, checkpoint: the old primary's pg_controldata ("Database
    cluster state", "Latest checkpoint location": after a clean stop, the
    shutdown checkpoint, its last record); received: the candidate's
    pg_last_wal_receive_lsn() (None: nothing).  Its WAL senders send the
    shutdown checkpoint before the primary exits: a candidate that received
    WAL past its start holds every commit the primary acknowledged."""
    if cluster_state != "shut down" or checkpoint is None:
        return Proof(False, f"no proof: {old} did not shut down cleanly (cluster state "
                            f"{cluster_state or 'unknown'!r}): its last WAL may not have "
                            "reached the standbys")
    if received is None or received <= checkpoint:
        return Proof(False, f"no proof: {candidate} received WAL up to "
                            f"{received or 'nothing'}, not past {old}'s shutdown checkpoint at "
                            f"{checkpoint}: it may lack commits {old} acknowledged")
    return Proof(True, f"proof: {candidate} received WAL up to {received}, past {old}'s "
                       f"shutdown checkpoint at {checkpoint}: it holds every commit {old} "
                       "acknowledged")


def promoted(cluster_state):
    """A candidate stopped after it was asked to promote: True when it had
    finished (a primary's clean stop), False when it stopped still a standby
    ("shut down in recovery").  Anything else counts as promoted: it must
    not start again beside the old primary."""
    return cluster_state != "shut down in recovery"


def sibling_pin(primary_pin, candidate_pin):
    """The pin file (sslrootcert) of a standby that is to follow the
    candidate, written before the switch: both certificates, so that it
    verifies the old primary until it is repointed and the candidate after,
    with no pin to write in between.  None: nothing to add (no TLS
    pinning, or the same certificate)."""
    if not primary_pin or not candidate_pin or candidate_pin in primary_pin:
        return None
    return primary_pin.rstrip("\n") + "\n" + candidate_pin


def switch_steps(old, unit, candidate):
    """The switch, in order, as a plan shows it: [(host, what)]."""
    return [(old, "CHECKPOINT (so that the shutdown checkpoint is short)"),
            (old, f"stop through {unit}: its WAL senders send the shutdown checkpoint to the "
                  "standbys before it exits (writes stop here)"),
            (candidate, f"prove it received WAL past {old}'s shutdown checkpoint "
                        f"(pg_controldata on {old} against pg_last_wal_receive_lsn()); "
                        f"if not, {old} starts again as the primary"),
            (candidate, "promote, and wait until it accepts writes (writes resume here)")]
