"""Values that come from a host or a config file, checked before any use.

A host's answers are data, never code: a version is digits, an address is an
IP address, a path is absolute and made of characters that no shell, rsync
filter, pg_basebackup mapping (`OLD=NEW`) or pg_hba line reads otherwise.
Each check returns the value (normalised) or raises `BadValue` naming what it
was and what is allowed.  Pure.
"""
import ipaddress
import re

SAFE_PATH = re.compile(r"/[A-Za-z0-9._@%+:/-]*")
VERSION = re.compile(r"\d+(\.\d+)?")
CLUSTER = re.compile(r"[A-Za-z0-9._-]{1,63}")
UNIT = re.compile(r"[A-Za-z0-9@._:-]+\.service")
# A host name as given to -H or in a config: an ssh_config alias or a DNS
# name, optionally user@ and :port (Fabric's own host string).
HOST = re.compile(r"([A-Za-z0-9._-]+@)?[A-Za-z0-9._-]+(:\d{1,5})?")


class BadValue(ValueError):
    pass


def path(text, what):
    """An absolute path without shell, newline or `=` characters, no `..`."""
    if not isinstance(text, str) or not SAFE_PATH.fullmatch(text) \
            or "/../" in text + "/" or text.rstrip("/") == "":
        raise BadValue(f"{what} {text!r}: use an absolute path of letters, digits "
                       "and ._@%+:-")
    return text.rstrip("/")


def version(text, what):
    if not VERSION.fullmatch(text or ""):
        raise BadValue(f"{what} {text!r} is not a version number")
    return text


def address(text, what):
    """An IPv4 or IPv6 address, as Python's ipaddress reads it."""
    try:
        return str(ipaddress.ip_address(text))
    except ValueError:
        raise BadValue(f"{what} {text!r} is not an IP address") from None


def unit(text, what):
    if not UNIT.fullmatch(text or ""):
        raise BadValue(f"{what} {text!r} is not a systemd service name")
    return text


def cluster(text, what):
    if not CLUSTER.fullmatch(text or ""):
        raise BadValue(f"{what} {text!r}: use letters, digits and ._-")
    return text


def port(text, what):
    if not (str(text).isdigit() and 0 < int(text) < 65536):
        raise BadValue(f"{what} {text!r} is not a TCP port")
    return int(text)


def host(text, what):
    if not isinstance(text, str) or not HOST.fullmatch(text):
        raise BadValue(f"{what} {text!r}: use a host name or ssh_config alias "
                       "(letters, digits and ._-)")
    return text
