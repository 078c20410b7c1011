"""Values that come from a host or a config file, checked before any use.

A host's answers are data, never code: a version is digits, an address is an
IP address, a path is absolute and made of characters that no shell, rsync
filter, pg_basebackup mapping (`OLD=NEW`) or pg_hba line reads otherwise.
Each check returns the value (normalised) or raises `BadValue` naming what it
was and what is allowed.  What of a host's text may reach the operator's
terminal is here too (printable).  Pure.
"""
import ipaddress
import re
import unicodedata

SAFE_PATH = re.compile(r"/[A-Za-z0-9._@%+:/-]*")
VERSION = re.compile(r"\d+(\.\d+)?")
CLUSTER = re.compile(r"[A-Za-z0-9._-]{1,63}")
UNIT = re.compile(r"[A-Za-z0-9@._:-]+\.service")
# A host name as given to -H or in a config: an ssh_config alias or a DNS
# name, optionally user@ and :port (Fabric's own host string).
HOST = re.compile(r"([A-Za-z0-9._-]+@)?[A-Za-z0-9._-]+(:\d{1,5})?")
# One keyword=value of a libpq connection string, as PQconninfo and
# render.conninfo write them: a bare value has no quote, backslash or space;
# a quoted one escapes only ' and \.  Pairs are separated by white space.
CONNINFO_PAIR = re.compile(r"([a-z][a-z0-9_]*)=(?:'((?:[^'\\]|\\['\\])*)'|([^\s'\\]+))"
                           r"(?=\s|\Z)", re.ASCII)
CONNINFO_SPACE = re.compile(r"\s*", re.ASCII)


class BadValue(ValueError):
    pass


def printable(text):
    """Text for the operator's terminal without its control characters (C0,
    DEL and C1: escape sequences, bells, carriage returns) and format
    characters (Cf: bidirectional overrides that show a line in another
    order, zero-width ones), newlines and tabs kept: a host's text (a log
    line, a file in a diff) may carry sequences that retitle, clear or rewrite
    the terminal, or hide what precedes them."""
    return "".join(c for c in str(text)
                   if c in "\n\t" or unicodedata.category(c) not in ("Cc", "Cf"))


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


def conninfo(text, what):
    """A libpq connection string as {keyword: value}, read as data: a strict
    subset of libpq's syntax (no URI, no space around `=`), and a keyword
    given twice is refused rather than guessed at.  The text is not echoed:
    a connection string may hold a password."""
    if not isinstance(text, str):
        raise BadValue(f"{what} is not a connection string")
    keywords, pos = {}, 0
    while True:
        pos = CONNINFO_SPACE.match(text, pos).end()
        if pos == len(text):
            return keywords
        pair = CONNINFO_PAIR.match(text, pos)
        if not pair or pair[1] in keywords:
            raise BadValue(f"{what} is not a connection string of distinct keyword=value "
                           "pairs")
        quoted, bare = pair[2], pair[3]
        keywords[pair[1]] = bare if quoted is None else re.sub(r"\\(['\\])", r"\1", quoted)
        pos = pair.end()
