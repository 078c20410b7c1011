"""Verifiers made on the control machine: PostgreSQL's formats, the RFC's keys."""
import base64
import hashlib
import hmac
import time

import pytest

from fabfile.knowledge import passwords

# Made by PostgreSQL 17 for 'secret' (also in test_blocks: matches()).
PG17_SECRET = ("SCRAM-SHA-256$4096:PbNnYRMUFuEpaklo7Qb8EA==$"
               "7JK1auENjRCVF007aWlpHK5deCxOKQNCiLTCL7A0KbQ=:"
               "FY/kneJg5lsFUQt0VwVT7dksa25L+GMI3VRm7/1c9zw=")


def test_scram_verifier_is_the_servers_for_the_same_salt():
    salt = base64.b64decode("PbNnYRMUFuEpaklo7Qb8EA==")
    assert passwords.scram_verifier("secret", salt) == PG17_SECRET


def test_scram_keys_answer_rfc_7677s_exchange():
    # RFC 7677 section 3: user 'user', password 'pencil'.  The client's proof
    # and the server's signature there follow from StoredKey and ServerKey.
    salt = base64.b64decode("W22ZaJ0SNY7soEsUEjb6gQ==")
    stored_key, server_key = passwords.scram_keys("pencil", salt, 4096)
    nonce = "rOprNGfwEbeRWgbNEkqO%hvYDpWUa2RaTCAfuxFIlj)hNlF$k0"
    auth = (f"n=user,r=rOprNGfwEbeRWgbNEkqO,r={nonce},s=W22ZaJ0SNY7soEsUEjb6gQ==,i=4096,"
            f"c=biws,r={nonce}").encode()
    server_signature = hmac.new(server_key, auth, hashlib.sha256).digest()
    assert base64.b64encode(server_signature).decode() == \
        "6rriTRBi23WpRR/wtup+mMhUZUn/dB5nLTJRsjl95G4="
    proof = base64.b64decode("dHzbZapWIk4jUhN+Ute9ytag9zjfMHgsqmmiz7AndVQ=")
    client_signature = hmac.new(stored_key, auth, hashlib.sha256).digest()
    client_key = bytes(a ^ b for a, b in zip(proof, client_signature))
    assert hashlib.sha256(client_key).digest() == stored_key


@pytest.mark.parametrize("password", ["x", "a\\'b; \\! touch /tmp/pwn", "pässwörd", " "])
def test_scram_round_trip_with_a_fresh_salt(password):
    made = passwords.verifier(passwords.SCRAM, "rep", password)
    head, keys = made.split("$")[1:]
    iterations, salt = head.split(":")
    assert made.startswith("SCRAM-SHA-256$") and iterations == "4096"
    assert len(base64.b64decode(salt)) == 16
    assert passwords.kind(made) == passwords.SCRAM
    assert passwords.matches(made, "rep", password)
    assert not passwords.matches(made, "rep", password + "x")
    assert passwords.verifier(passwords.SCRAM, "rep", password) != made   # salted afresh


def test_md5_verifier():
    # 'md5' + md5(password + role): postgres/postgres is the well-known one
    assert passwords.md5_verifier("postgres", "postgres") == "md53175bce1d3201d16594cebf9d7eb3f9d"
    made = passwords.verifier(passwords.MD5, "rep", "a\\b")
    assert passwords.kind(made) == passwords.MD5
    assert passwords.matches(made, "rep", "a\\b")
    assert not passwords.matches(made, "other", "a\\b")   # the role name is the salt


def test_kind_of_what_is_stored():
    assert passwords.kind("") is None and passwords.kind(None) is None
    assert passwords.kind("md5nothex") is None          # a plain password, say
    assert not passwords.matches("md5nothex", "r", "nothex")


@pytest.mark.parametrize("password,prepared", [
    ("pencil", "pencil"),
    ("tab\there\x7f", "tab\there\x7f"),       # ASCII: as it is, controls too
    ("I\u00adX", "IX"),                       # soft hyphen: mapped to nothing
    ("a\u00a0b\u3000c", "a b c"),             # non-ASCII spaces: a space
    ("\u2168", "IX"),                         # NFKC: ROMAN NUMERAL NINE
    ("\ufb01x", "fix"),                       # NFKC: the ligature
    ("ä\u0007", "ä\u0007"),                   # a control char: used as it is
    ("a\ue000", "a\ue000"),                   # private use: as it is
    ("\u00ad", "\u00ad"),                     # empty once mapped: as it is
    ("\u05d0a\u05d0", "\u05d0a\u05d0"),       # right-to-left mixed with left-to-right
    ("\u05d01", "\u05d01"),                   # right-to-left not at both ends
    ("\u05d0\u05d1", "\u05d0\u05d1"),         # right-to-left throughout: fine
])
def test_saslprep_as_the_server_does(password, prepared):
    assert passwords.saslprep(password) == prepared


def test_only_passwords_this_tool_makes_are_believed():
    made = passwords.new()
    assert passwords.generated(made) and len(made) == 32
    for other in (None, "", "short", made + "x", made[:-1] + "\\", made[:-1] + "'",
                  made[:-1] + " ", made[:-1] + "ä"):
        assert not passwords.generated(other)


def huge(count):
    """A well-formed verifier of 'secret' but for its iteration count."""
    return PG17_SECRET.replace("$4096:", f"${count}:")


@pytest.mark.parametrize("count", [2_000_000_000, 9_999_999_999, 1_000_001, 4095, 1])
def test_a_verifier_with_an_iteration_count_out_of_bounds_is_not_checked(count):
    started = time.monotonic()
    assert not passwords.trusted(huge(count))
    assert not passwords.matches(huge(count), "rep", "secret")
    assert time.monotonic() - started < 1
    assert passwords.iterations(huge(count)) == count


def test_the_bounds_are_trusted_and_checked():
    assert passwords.trusted(PG17_SECRET) and passwords.matches(PG17_SECRET, "rep", "secret")
    salt = base64.b64decode("PbNnYRMUFuEpaklo7Qb8EA==")
    made = passwords.scram_verifier("secret", salt, iterations=1_000_000)
    assert passwords.trusted(made) and passwords.matches(made, "rep", "secret")


@pytest.mark.parametrize("stored", [
    "SCRAM-SHA-256$99999999999999999999:PbNnYRMUFuEpaklo7Qb8EA==$a:b",   # more than 10 digits
    "SCRAM-SHA-256$4096:Pb!n$a:b", "SCRAM-SHA-256$4096:abc=", "SCRAM-SHA-256$-1:a$b:c"])
def test_a_verifier_not_in_the_servers_format_is_not_trusted(stored):
    assert not passwords.trusted(stored) and not passwords.matches(stored, "rep", "secret")
    assert passwords.kind(stored) == passwords.SCRAM   # so the role is set anew


def test_md5_verifiers_stay_trusted():
    made = passwords.md5_verifier("rep", "secret")
    assert passwords.trusted(made) and passwords.matches(made, "rep", "secret")
