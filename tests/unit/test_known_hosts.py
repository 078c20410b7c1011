"""Host keys as OpenSSH checks them (knowledge/hostkeys.py): lookup names,
known_hosts parsing and matching, StrictHostKeyChecking, the refusal lines.
The vectors were made with OpenSSH's own ssh-keygen (-l, -H)."""
import base64

import pytest

from fabfile.knowledge import hostkeys as kh

# ssh-keygen -t ed25519; ssh-keygen -lf: SHA256:3deypwGSq5wkWCpTLjRW+RpLbXwPd752nS70722dhw0
ED = "AAAAC3NzaC1lZDI1NTE5AAAAICg4Oh6/yQSflIqCk2WAAEnh6C9FawIdIKyWSe8O+1Tj"
ED_BLOB = base64.b64decode(ED)
ED_FP = "SHA256:3deypwGSq5wkWCpTLjRW+RpLbXwPd752nS70722dhw0"
# ssh-keygen -H of "[127.0.0.1]:2222 ssh-ed25519 ED"
HASHED = "|1|lDU54WQhmsnnEf0zUlckPU7/Wcs=|cMRNBmoyYlCFjZxJBIgKRgksuPQ="
OTHER_BLOB = b"\x00\x00\x00\x0bssh-ed25519" + b"\x00\x00\x00\x20" + bytes(32)
RSA_BLOB = b"\x00\x00\x00\x07ssh-rsa" + bytes(20)


def entries(text, path="/home/u/.ssh/known_hosts"):
    return kh.parse(text, path)


def test_lookup_name_as_ssh_files_it():
    assert kh.lookup_name("db1.example.com", 22) == "db1.example.com"
    assert kh.lookup_name("DB1.Example.com", "22") == "db1.example.com"
    assert kh.lookup_name("127.0.0.1", 2222) == "[127.0.0.1]:2222"
    assert kh.lookup_name("127.0.0.1", 2222, alias="db-standby") == "db-standby"


@pytest.mark.parametrize("value,expected", [
    (None, "yes"), ("yes", "yes"), ("ask", "yes"), ("True", "yes"),
    ("accept-new", "accept-new"), ("no", "no"), ("off", "no"), ("false", "no")])
def test_strict_host_key_checking_values(value, expected):
    assert kh.mode(value) == expected


def test_strict_host_key_checking_unknown_value_names_the_fix():
    with pytest.raises(kh.HostKeyConfigError, match="'maybe'.*yes, accept-new or no"):
        kh.mode("maybe")


def test_known_hosts_files_defaults_and_tokens():
    users, globals_ = kh.known_hosts_files({}, "/home/u", "u", "db1", 22)
    assert users == ["/home/u/.ssh/known_hosts", "/home/u/.ssh/known_hosts2"]
    assert globals_ == ["/etc/ssh/ssh_known_hosts", "/etc/ssh/ssh_known_hosts2"]
    cfg = {"userknownhostsfile": "~/.ssh/kh_%h_%p %d/other none /x/%u/%%",
           "globalknownhostsfile": "none", "hostkeyalias": "al"}
    users, globals_ = kh.known_hosts_files(cfg, "/home/u", "u", "db1", 2222)
    assert users == ["/home/u/.ssh/kh_db1_2222", "/home/u/other", "/x/u/%"]
    assert globals_ == []


def test_parse_keeps_markers_and_line_numbers_and_skips_junk():
    found = entries(f"# comment\n\ndb1 ssh-ed25519 {ED}\nbroken-line\n"
                    f"db2 ssh-ed25519 !!notbase64!!\n@revoked * ssh-ed25519 {ED} old\n")
    assert [(e.line, e.marker, e.hosts) for e in found] == [(3, "", "db1"), (6, "@revoked", "*")]
    assert found[0].blob == ED_BLOB and found[0].keytype == "ssh-ed25519"


def test_hashed_name_made_by_ssh_keygen_matches_only_its_host():
    assert kh.host_matches(HASHED, "[127.0.0.1]:2222")
    assert not kh.host_matches(HASHED, "[127.0.0.1]:2223")
    assert not kh.host_matches(HASHED, "127.0.0.1")
    assert not kh.host_matches("|1|garbage", "127.0.0.1")


def test_patterns_wildcards_negation_and_brackets():
    assert kh.host_matches("db1,db2", "db2")
    assert kh.host_matches("*.example.com,!bad.example.com", "ok.example.com")
    assert not kh.host_matches("*.example.com,!bad.example.com", "bad.example.com")
    assert kh.host_matches("db?", "db7") and not kh.host_matches("db?", "db10")
    # Brackets are literal (not a character class), as ssh writes [host]:port.
    assert kh.host_matches("[127.0.0.1]:2222", "[127.0.0.1]:2222")
    assert not kh.host_matches("[127.0.0.1]:2222", "1:2222")
    assert kh.host_matches("DB1", "db1")


def test_check_known_changed_new_revoked():
    text = f"[127.0.0.1]:2222 ssh-ed25519 {ED}\nother ssh-ed25519 {ED}\n"
    assert kh.check(entries(text), "[127.0.0.1]:2222", "ssh-ed25519", ED_BLOB).status == "known"
    assert kh.check(entries(f"{HASHED} ssh-ed25519 {ED}\n"), "[127.0.0.1]:2222",
                    "ssh-ed25519", ED_BLOB).status == "known"
    changed = kh.check(entries(text), "[127.0.0.1]:2222", "ssh-ed25519", OTHER_BLOB)
    assert changed.status == "changed" and changed.entry.line == 1
    # Only a key of another type filed: new, as for ssh.
    rsa = base64.b64encode(RSA_BLOB).decode()
    assert kh.check(entries(f"[127.0.0.1]:2222 ssh-rsa {rsa}\n"), "[127.0.0.1]:2222",
                    "ssh-ed25519", ED_BLOB).status == "new"
    assert kh.check(entries(text), "[127.0.0.1]:2223", "ssh-ed25519", ED_BLOB).status == "new"
    revoked = kh.check(entries(text + f"@revoked * ssh-ed25519 {ED}\n"), "[127.0.0.1]:2222",
                       "ssh-ed25519", ED_BLOB)
    assert revoked.status == "revoked" and revoked.entry.line == 3
    # A CA line files no host key of its own.
    assert kh.check(entries(f"@cert-authority * ssh-ed25519 {ED}\n"), "db1",
                    "ssh-ed25519", ED_BLOB).status == "new"


@pytest.mark.parametrize("strict,status,expected", [
    ("yes", "known", "accept"), ("yes", "new", "refuse"), ("yes", "changed", "refuse"),
    ("accept-new", "new", "add"), ("accept-new", "changed", "refuse"),
    ("no", "new", "add"), ("no", "changed", "warn"),
    ("no", "revoked", "refuse"), ("accept-new", "revoked", "refuse")])
def test_action_per_strictness(strict, status, expected):
    assert kh.action(strict, status) == expected


def test_known_key_types_are_offered_first_in_the_clients_order():
    rsa = base64.b64encode(RSA_BLOB).decode()
    offered = ("ssh-ed25519", "ecdsa-sha2-nistp256", "rsa-sha2-512", "rsa-sha2-256", "ssh-rsa")
    found = entries(f"db1 ecdsa-sha2-nistp256 {ED}\ndb1 ssh-rsa {rsa}\ndb2 ssh-ed25519 {ED}\n")
    assert kh.order_algorithms(offered, found, "db1") == [
        "ecdsa-sha2-nistp256", "rsa-sha2-512", "rsa-sha2-256", "ssh-rsa", "ssh-ed25519"]
    # Every type filed (the file lists ECDSA first): the client's first wins.
    found += entries(f"db1 ssh-ed25519 {ED}\n")
    assert kh.order_algorithms(offered, found, "db1")[0] == "ssh-ed25519"
    assert kh.order_algorithms(offered, found, "db3") == list(offered)


def test_fingerprint_and_kind_as_ssh_prints_them():
    assert kh.fingerprint(ED_BLOB) == ED_FP
    assert kh.kind("ssh-ed25519") == "ED25519" and kh.kind("ssh-rsa") == "RSA"
    assert kh.kind("ecdsa-sha2-nistp384") == "ECDSA"


def test_lines_written_plain_or_hashed_are_found_again():
    plain = kh.known_hosts_line("[127.0.0.1]:2222", "ssh-ed25519", ED_BLOB)
    assert plain == f"[127.0.0.1]:2222 ssh-ed25519 {ED}\n"
    hashed = kh.known_hosts_line("[127.0.0.1]:2222", "ssh-ed25519", ED_BLOB, hashed=True)
    assert hashed.startswith("|1|") and "127.0.0.1" not in hashed
    assert kh.check(entries(hashed), "[127.0.0.1]:2222", "ssh-ed25519", ED_BLOB).status == "known"
    fixed = kh.known_hosts_line("[127.0.0.1]:2222", "ssh-ed25519", ED_BLOB, hashed=True,
                                salt=base64.b64decode("lDU54WQhmsnnEf0zUlckPU7/Wcs="))
    assert fixed == f"{HASHED} ssh-ed25519 {ED}\n"


def test_refusal_lines_name_host_fingerprint_and_fix():
    ssh = "ssh -F lab/ssh_config standby"
    scan = kh.keyscan_command("127.0.0.1", 2222, None, "/home/u/.ssh/known_hosts")
    assert scan == "ssh-keyscan -p 2222 127.0.0.1 >> /home/u/.ssh/known_hosts"
    assert kh.keyscan_command("db1", 22, None, "/k") == "ssh-keyscan db1 >> /k"
    assert kh.keyscan_command("db1", 22, "alias", "/k") is None
    new = kh.refusal("standby", kh.Verdict("new"), "[127.0.0.1]:2222", "ssh-ed25519", ED_BLOB,
                     ssh, scan)
    assert new == (f"standby: unknown SSH host key (ED25519 {ED_FP}) for [127.0.0.1]:2222: "
                   f"check it and run `{ssh}` once, or add it with `{scan}`, then run again")
    old = entries(f"[127.0.0.1]:2222 ssh-ed25519 {ED}\n")[0]
    changed = kh.refusal("standby", kh.Verdict("changed", old), "[127.0.0.1]:2222",
                         "ssh-ed25519", OTHER_BLOB, ssh, scan)
    assert "standby: SSH host key CHANGED (ED25519 SHA256:" in changed
    assert "possible man in the middle" in changed and "\n" not in changed
    assert "`ssh-keygen -f /home/u/.ssh/known_hosts -R '[127.0.0.1]:2222'`" in changed
    revoked = kh.refusal("standby", kh.Verdict("revoked", old), "db", "ssh-ed25519", ED_BLOB,
                         ssh, None)
    assert "@revoked in /home/u/.ssh/known_hosts:1" in revoked and ED_FP in revoked
