"""A standby's copy, decided once before any copy starts: what `plan` prints
and what the copy carries out (steps/clone.py).  Pure data.
"""
from dataclasses import dataclass
from enum import Enum


class PrimaryStop(Enum):
    """When a copy method stops the primary."""
    NEVER = "never"                       # copied while it runs (basebackup, rsync)
    WHOLE_COPY = "for the whole copy"     # the guide's (rsync-cold)


@dataclass(frozen=True)
class CopyPlan:
    """One standby's copy.

    way: the steps.clone.Way that makes it (its program, what a plan says);
    source: the host copied from, the primary or a standby whose finished copy
    is sent (fan-out), with `fallback` the plan from the primary should that
    fail; state: the standby's server state when decided (the copy reads it
    again before it touches the data directory: an earlier pass or a failed
    copy from a standby changes it); earlier_copy: the standby holds a copy,
    finished or not, of this primary, updated in place or replaced, never kept
    aside; compression and why_not (transfer.choose), max_rate (kB/s or None),
    tablespaces (knowledge.tablespaces.Tablespace, as the source holds them);
    wave: fan-out's wave, 0 when every standby is copied at once; why: why
    this way, when the run picked it (the default method, auto)."""
    standby: object
    way: object
    source: object
    primary: object
    primary_state: object
    state: object
    earlier_copy: bool
    compression: object
    why_not: str
    max_rate: int
    tablespaces: tuple
    wave: int = 0
    fallback: "CopyPlan" = None
    why: str = ""

    @property
    def from_primary(self):
        return self.source is self.primary

    @property
    def keeps_aside(self):
        """The standby's data directory holds another cluster: kept aside."""
        return self.state.exists and not self.earlier_copy
