"""Role passwords: the verifier a server stores, made here, and whether a
stored one (pg_authid.rolpassword) matches a password.

The verifier is computed on the control machine, as psql's \\password does
(libpq's PQencryptPasswordConn), and sent instead of the password: a server
log, pg_stat_statements or pg_stat_activity then never holds the password.
A match is checked here too, so that a rerun neither resets the password nor
sends it anywhere.  The formats are PostgreSQL's: SCRAM-SHA-256 (RFC 5802 and
7677, stored as RFC 5803 says) and md5.
"""
import base64
import hashlib
import hmac
import re
import secrets
import stringprep
import unicodedata

SCRAM = "scram-sha-256"
MD5 = "md5"
SCRAM_PREFIX = "SCRAM-SHA-256$"
SCRAM_ITERATIONS = 4096   # libpq's and the server's default
SALT_BYTES = 16           # likewise
# The iteration counts of a stored verifier that a match is computed for: a
# verifier is a host's data, and its count sets the cost of checking it (a
# count in the billions takes hours).  Fewer than the default is weaker than
# the verifier this tool sets; a million (above OWASP's 600,000 for
# PBKDF2-HMAC-SHA256) takes under a second.  Any other is not trusted: set anew.
TRUSTED_ITERATIONS = range(SCRAM_ITERATIONS, 1_000_000 + 1)
# SCRAM-SHA-256$<iterations>:<salt>$<StoredKey>:<ServerKey>, base64 fields.
SCRAM_SHAPE = re.compile(r"SCRAM-SHA-256\$([0-9]{1,10}):([A-Za-z0-9+/=]+)"
                         r"\$([A-Za-z0-9+/=]+):([A-Za-z0-9+/=]+)")
# What new() makes: a password read back from a host is believed only in this
# shape (a standby's postgres user can write its passfile).
GENERATED = re.compile(r"[A-Za-z0-9_-]{32}")


def new():
    """A fresh random password (32 characters of [A-Za-z0-9_-])."""
    return secrets.token_urlsafe(24)


def generated(password):
    """Has the shape new() gives."""
    return bool(GENERATED.fullmatch(password or ""))


def saslprep(password):
    """The password as the server prepares it for SCRAM (src/common/saslprep.c):
    ASCII as it is; else RFC 4013's mapping, NFKC and checks, where a password
    that fails a check is used as it is (the server does the same, so the
    verifier still matches).  The check tables are RFC 3454's (Unicode 3.2,
    Python's stringprep), as the server's are."""
    if password.isascii():
        return password
    mapped = "".join(" " if stringprep.in_table_c12(c) else c for c in password
                     if not stringprep.in_table_b1(c))
    if not mapped:
        return password
    # The server checks the mapped text before normalizing it; so does this.
    prohibited = (stringprep.in_table_c12, stringprep.in_table_c21_c22, stringprep.in_table_c3,
                  stringprep.in_table_c4, stringprep.in_table_c5, stringprep.in_table_c6,
                  stringprep.in_table_c7, stringprep.in_table_c8, stringprep.in_table_c9,
                  stringprep.in_table_a1)
    if any(check(c) for c in mapped for check in prohibited):
        return password
    if any(stringprep.in_table_d1(c) for c in mapped):
        if any(stringprep.in_table_d2(c) for c in mapped) or not (
                stringprep.in_table_d1(mapped[0]) and stringprep.in_table_d1(mapped[-1])):
            return password
    return unicodedata.normalize("NFKC", mapped)


def scram_keys(password, salt, iterations):
    """(StoredKey, ServerKey) for a password, salt (bytes) and iteration count."""
    salted = hashlib.pbkdf2_hmac("sha256", saslprep(password).encode(), salt, iterations)
    client_key = hmac.new(salted, b"Client Key", hashlib.sha256).digest()
    server_key = hmac.new(salted, b"Server Key", hashlib.sha256).digest()
    return hashlib.sha256(client_key).digest(), server_key


def scram_verifier(password, salt=None, iterations=SCRAM_ITERATIONS):
    """`SCRAM-SHA-256$<iterations>:<salt>$<StoredKey>:<ServerKey>` (base64),
    with a fresh random salt unless one is given."""
    salt = secrets.token_bytes(SALT_BYTES) if salt is None else salt
    stored_key, server_key = scram_keys(password, salt, iterations)
    salt, stored_key, server_key = (base64.b64encode(x).decode()
                                    for x in (salt, stored_key, server_key))
    return f"{SCRAM_PREFIX}{iterations}:{salt}${stored_key}:{server_key}"


def md5_verifier(role, password):
    """`md5` + md5(password + role name): the role name is the salt."""
    return "md5" + hashlib.md5((password + role).encode()).hexdigest()


def verifier(kind, role, password):
    """The verifier of `kind` (SCRAM or MD5) to store for a role's password."""
    return scram_verifier(password) if kind == SCRAM else md5_verifier(role, password)


def kind(stored):
    """SCRAM or MD5 for a stored verifier, else None (none, or a plain password)."""
    if (stored or "").startswith(SCRAM_PREFIX):
        return SCRAM
    if re.fullmatch(r"md5[0-9a-f]{32}", stored or ""):
        return MD5
    return None


def iterations(stored):
    """The iteration count of a SCRAM verifier in the server's format, else None."""
    shape = SCRAM_SHAPE.fullmatch(stored or "")
    return int(shape.group(1)) if shape else None


def trusted(stored):
    """Whether a match may be computed for a stored verifier: md5, or SCRAM
    with an iteration count in TRUSTED_ITERATIONS."""
    return kind(stored) == MD5 or iterations(stored) in TRUSTED_ITERATIONS


def matches(stored, role, password):
    """Whether a stored verifier is the password's; False for one not trusted()."""
    if not trusted(stored):
        return False
    if kind(stored) == MD5:
        return hmac.compare_digest(stored, md5_verifier(role, password))
    _, salt, stored_key, _ = SCRAM_SHAPE.fullmatch(stored).groups()
    try:
        expected, _ = scram_keys(password, base64.b64decode(salt, validate=True),
                                 iterations(stored))
    except ValueError:
        return False
    return hmac.compare_digest(base64.b64encode(expected).decode(), stored_key)
