"""The link limit between lab hosts: parsing the option, building tc commands.

The lab's bridge copies at memory speed, which flatters any copy made while the
primary is down; an egress limit on every host's eth0 (tbf) makes the link look
like a real network between two servers.  Pure, unit-tested.
"""
import re

UNITS = {"": 1, "k": 10**3, "m": 10**6, "g": 10**9}


def parse_rate(text):
    """'1gbit', '500mbit', '100m' -> bits per second; 'unlimited' -> None."""
    text = str(text).strip().lower()
    if text in ("unlimited", "none", "0", ""):
        return None
    found = re.fullmatch(r"(\d+(?:\.\d+)?)\s*([kmg]?)(bit)?", text)
    if not found:
        raise ValueError(f"bandwidth {text!r}: expected e.g. 1gbit, 500mbit or unlimited")
    bits = float(found.group(1)) * UNITS[found.group(2)]
    if bits <= 0:
        raise ValueError(f"bandwidth {text!r} must be positive")
    return int(bits)


def label(bits):
    if bits is None:
        return "unlimited"
    for unit, size in (("gbit", 10**9), ("mbit", 10**6), ("kbit", 10**3)):
        if bits >= size:
            return f"{bits / size:g}{unit}"
    return f"{bits}bit"


def tc_command(bits, dev="eth0"):
    """The shell command (run as root in a host) that sets the limit, or
    removes it for unlimited.

    tbf's bucket must hold at least one timer tick of traffic (rate / HZ, HZ
    as low as 100), or the rate is never reached: 1/80 of a second of
    traffic, at least 64 KB.  latency bounds the queue, so a full queue drops
    packets and TCP backs off as on a real link instead of queueing forever.
    """
    if bits is None:
        # Deleting the root qdisc restores the default; it fails when none
        # was set, which is fine.
        return f"tc qdisc del dev {dev} root 2>/dev/null; true"
    burst = max(bits // 8 // 80, 64 * 1024)
    return f"tc qdisc replace dev {dev} root tbf rate {bits}bit burst {burst} latency 50ms"
