"""SSH host keys as OpenSSH checks them: which known_hosts files, under which
name a host is looked up, what a file says about a presented key, and what
StrictHostKeyChecking then does.  Pure: text and facts in, decisions and
message lines out; the host layer (hosts/hostkeys.py) does the reading and
the connecting.
"""
import base64
import hashlib
import hmac
import os
import re
import shlex
from dataclasses import dataclass

# OpenSSH's defaults (ssh_config(5)).
USER_FILES = "~/.ssh/known_hosts ~/.ssh/known_hosts2"
GLOBAL_FILES = "/etc/ssh/ssh_known_hosts /etc/ssh/ssh_known_hosts2"

# StrictHostKeyChecking's spellings (readconf.c) to what this tool does.  We
# are not interactive, so `ask` (OpenSSH's default) refuses, as `yes` does.
MODES = {"yes": "yes", "true": "yes", "ask": "yes", "accept-new": "accept-new",
         "no": "no", "off": "no", "false": "no"}

# A known key type first in the negotiation, as OpenSSH orders HostKeyAlgorithms:
# an RSA key is offered under its signature algorithms.
ALGORITHMS = {"ssh-rsa": ("rsa-sha2-512", "rsa-sha2-256", "ssh-rsa")}


class HostKeyConfigError(ValueError):
    """An ssh_config value this tool cannot act on."""


def mode(value):
    """StrictHostKeyChecking's value as 'yes', 'accept-new' or 'no'."""
    if value is None:
        return "yes"
    try:
        return MODES[value.strip().lower()]
    except KeyError:
        raise HostKeyConfigError(f"StrictHostKeyChecking {value!r} in your ssh_config is not "
                                 "yes, accept-new or no: fix it") from None


def lookup_name(host, port, alias=None):
    """The name a host's keys are filed under: HostKeyAlias as given, else the
    host name, as `[host]:port` when the port is not 22."""
    if alias:
        return alias
    host = host.lower()
    return host if int(port) == 22 else f"[{host}]:{port}"


def expand_path(path, home, user, host, port, alias=None):
    """A known_hosts path from ssh_config: `~` and the tokens OpenSSH expands
    there (%d %u %h %p %k %%)."""
    if path == "~" or path.startswith("~/"):
        path = home + path[1:]
    tokens = {"d": home, "u": user, "h": host, "p": str(port), "k": alias or host, "%": "%"}
    return re.sub(r"%(.)", lambda m: tokens.get(m.group(1), m.group(0)), path)


def known_hosts_files(ssh_config, home, user, host, port):
    """(user files, global files) for a host's ssh_config lookup (lower-case
    keys, as paramiko gives them); `none` means no file."""
    alias = ssh_config.get("hostkeyalias")

    def files(key, default):
        value = ssh_config.get(key) or default
        paths = shlex.split(value) if isinstance(value, str) else list(value)
        return [expand_path(p, home, user, host, port, alias) for p in paths
                if p.lower() != "none"]
    return files("userknownhostsfile", USER_FILES), files("globalknownhostsfile", GLOBAL_FILES)


@dataclass(frozen=True)
class Entry:
    path: str
    line: int
    marker: str        # '', '@revoked' or '@cert-authority'
    hosts: str         # the host field: patterns, or one hashed name
    keytype: str
    blob: bytes


def parse(text, path):
    """The entries of one known_hosts file; lines it cannot read are skipped,
    as ssh skips them."""
    entries = []
    for number, raw in enumerate(text.splitlines(), 1):
        fields = raw.split()
        if not fields or fields[0].startswith("#"):
            continue
        marker = fields.pop(0) if fields[0].startswith("@") else ""
        if len(fields) < 3:
            continue
        try:
            blob = base64.b64decode(fields[2], validate=True)
        except ValueError:
            continue
        entries.append(Entry(path, number, marker, fields[0], fields[1], blob))
    return entries


def _pattern(pattern, name):
    """OpenSSH's match_pattern: `*` and `?` only, case-insensitive."""
    regex = "".join(".*" if c == "*" else "." if c == "?" else re.escape(c) for c in pattern)
    return re.fullmatch(regex, name, re.IGNORECASE | re.DOTALL) is not None


def host_matches(field, name):
    """Does a host field name this host?  A hashed name (|1|salt|hash, what
    HashKnownHosts writes), or comma-separated patterns where a match of a
    negated one (!pattern) wins over any other."""
    if field.startswith("|1|"):
        try:
            _, _, salt, digest = field.split("|")
            mac = hmac.new(base64.b64decode(salt), name.encode(), hashlib.sha1).digest()
            return hmac.compare_digest(mac, base64.b64decode(digest))
        except ValueError:
            return False
    found = False
    for pattern in field.split(","):
        if pattern.startswith("!"):
            if _pattern(pattern[1:], name):
                return False
        elif _pattern(pattern, name):
            found = True
    return found


@dataclass(frozen=True)
class Verdict:
    status: str          # 'known', 'new', 'changed' or 'revoked'
    entry: Entry = None  # the entry that changed or revoked it


def check(entries, name, keytype, blob):
    """What the files say about the key a host presents under `name`, as
    ssh decides: a revoked key is refused; a key filed for the host is known;
    another key of the same type filed for it means it changed; else it is new
    (also when keys of other types are filed: OpenSSH adds those)."""
    mine = [e for e in entries if e.marker != "@cert-authority" and host_matches(e.hosts, name)]
    for entry in mine:
        if entry.marker == "@revoked" and entry.blob == blob:
            return Verdict("revoked", entry)
    plain = [e for e in mine if not e.marker]
    if any(e.blob == blob for e in plain):
        return Verdict("known")
    for entry in plain:
        if entry.keytype == keytype:
            return Verdict("changed", entry)
    return Verdict("new")


def action(strict, status):
    """'accept', 'add' (to the first user file), 'warn' (accept a changed
    key, with StrictHostKeyChecking no) or 'refuse'."""
    if status == "known":
        return "accept"
    if status == "revoked":
        return "refuse"
    if status == "changed":
        return "warn" if strict == "no" else "refuse"
    return "refuse" if strict == "yes" else "add"


def order_algorithms(offered, entries, name):
    """The client's host key algorithms with those of the keys filed for the
    host moved first, each group in the client's own order (as ssh orders
    HostKeyAlgorithms): the server then shows a key we can check."""
    known = {algorithm for entry in entries
             if not entry.marker and host_matches(entry.hosts, name)
             for algorithm in ALGORITHMS.get(entry.keytype, (entry.keytype,))}
    return [a for a in offered if a in known] + [a for a in offered if a not in known]


def fingerprint(blob):
    """As ssh prints it: SHA256:base64 without padding."""
    return "SHA256:" + base64.b64encode(hashlib.sha256(blob).digest()).decode().rstrip("=")


def kind(keytype):
    """ssh's short name of a key type: ED25519, ECDSA, RSA."""
    names = {"ssh-ed25519": "ED25519", "ssh-rsa": "RSA", "ssh-dss": "DSA",
             "sk-ssh-ed25519@openssh.com": "ED25519-SK",
             "sk-ecdsa-sha2-nistp256@openssh.com": "ECDSA-SK"}
    if keytype in names:
        return names[keytype]
    return "ECDSA" if keytype.startswith("ecdsa-") else keytype.upper()


def known_hosts_line(name, keytype, blob, hashed=False, salt=None):
    """A line to file a key under name; hashed as HashKnownHosts does."""
    if hashed:
        salt = salt or os.urandom(20)
        mac = hmac.new(salt, name.encode(), hashlib.sha1).digest()
        name = f"|1|{base64.b64encode(salt).decode()}|{base64.b64encode(mac).decode()}"
    return f"{name} {keytype} {base64.b64encode(blob).decode()}\n"


def describe(keytype, blob):
    return f"{kind(keytype)} {fingerprint(blob)}"


def refusal(label, verdict, name, keytype, blob, ssh_command, keyscan):
    """The one line that refuses a host key, with the fix."""
    key = describe(keytype, blob)
    if verdict.status == "revoked":
        return (f"{label}: SSH host key ({key}) is marked @revoked in "
                f"{verdict.entry.path}:{verdict.entry.line}: refused; the host must get a new key")
    if verdict.status == "changed":
        return (f"{label}: SSH host key CHANGED ({key}; {verdict.entry.path}:{verdict.entry.line} "
                f"holds another for {name}): possible man in the middle; if the host was "
                f"reinstalled, check the new key, remove the old entry with "
                f"`ssh-keygen -f {shlex.quote(verdict.entry.path)} -R {shlex.quote(name)}`, "
                f"then run again")
    scan = f" or add it with `{keyscan}`," if keyscan else " or add it with ssh-keyscan,"
    return (f"{label}: unknown SSH host key ({key}) for {name}: check it and run "
            f"`{ssh_command}` once,{scan} then run again")


def keyscan_command(host, port, alias, path):
    """ssh-keyscan files keys under `host` or `[host]:port`, not under an alias."""
    if alias:
        return None
    port_flag = "" if int(port) == 22 else f"-p {port} "
    return f"ssh-keyscan {port_flag}{shlex.quote(host)} >> {shlex.quote(path)}"


def changed_warning(label, verdict, name, keytype, blob):
    return (f"warning: {label}: SSH host key CHANGED ({describe(keytype, blob)}; "
            f"{verdict.entry.path}:{verdict.entry.line} holds another for {name}): "
            "accepted because StrictHostKeyChecking is no")


def added_note(label, name, keytype, blob, path, strict):
    return (f"{label}: new SSH host key ({describe(keytype, blob)}) added for {name} to {path} "
            f"(StrictHostKeyChecking {strict})")
