"""Statistics over repetitions and the probe's write gaps: pure, unit-tested."""
import statistics


def summarize(values):
    """Median and spread (min, max) of the values that were measured (None
    means that repetition failed); None when nothing was measured."""
    values = [v for v in values if v is not None]
    if not values:
        return None
    return {"median": statistics.median(values), "min": min(values), "max": max(values),
            "n": len(values)}


def write_gaps(successes, failures, start, end):
    """What the probe saw in the window [start, end] (monotonic seconds).

    successes and failures are the times of committed and failed probe
    inserts.  Returns (longest gap, failed count): the longest time between
    two successive commits, counting the window's edges as commits, so that a
    primary that is down at the end of the run (or from its start) counts too.
    """
    inside = sorted(t for t in successes if start <= t <= end)
    points = [start, *inside, end]
    longest = max(b - a for a, b in zip(points, points[1:]))
    failed = sum(1 for t in failures if start <= t <= end)
    return longest, failed


def ratio(value, baseline):
    """value / baseline, or None when either is missing or the baseline is 0."""
    if value is None or not baseline:
        return None
    return value / baseline


def busy_rate(samples, share=0.2):
    """The rate while a copy moves data, from (time, bytes received) samples:
    the median rate of the intervals that reach `share` of the fastest one
    (idle spells and the ramp at either end left out); None without any."""
    rates = [(b2 - b1) / (t2 - t1) for (t1, b1), (t2, b2) in zip(samples, samples[1:])
             if t2 > t1]
    if not rates or max(rates) <= 0:
        return None
    return statistics.median(r for r in rates if r >= share * max(rates))


def lost(acked, found):
    """How many acknowledged commits (their numbers) are not among those found."""
    return len(set(acked) - set(found))
