"""TLS for replication: the certificate the tool makes, what a standby pins,
its libpq keywords and pg_hba line per version and mode (knowledge/tls.py)."""
import datetime
import subprocess

import pytest
from cryptography.hazmat.primitives import serialization

from certs import issued
from fabfile.knowledge import render, tls

NOW = datetime.datetime(2026, 11, 27, tzinfo=datetime.timezone.utc)
HOME = "/var/lib/postgresql"
OURS = tls.server_settings(HOME)


def made(name="db1", addresses=("10.0.0.1",), now=NOW):
    key, cert = tls.make(name, [name], list(addresses), now)
    return key, cert


def decide(served, own=tls.Own(), mode="verify", address="10.0.0.1", now=NOW, major=170000):
    return tls.decide(mode, served, own, HOME, "db1", address, ["10.0.0.1", "fd00::1"], now,
                      major)


def test_made_certificate_names_the_host_and_its_addresses():
    key, pem = made(addresses=("10.0.0.1", "fd00::1"))
    cert = tls.certificates(pem, "made")[0]
    assert cert.self_signed and cert.dns_names == ("db1",)
    assert cert.ip_addresses == ("10.0.0.1", "fd00::1")
    assert cert.names("10.0.0.1") and cert.names("fd00:0::1") and cert.names("DB1")
    assert not cert.names("10.0.0.2") and not cert.names("db2")
    assert (cert.not_after - NOW).days >= tls.VALID_DAYS - 1
    tls.check_key(key, "key")   # a plain PKCS#8 key PostgreSQL loads without a passphrase
    assert "PRIVATE KEY" in key and "PRIVATE KEY" not in pem


def test_openssl_verifies_the_made_certificate_by_ip_as_libpq_verify_full_does(tmp_path):
    _, pem = made()
    (tmp_path / "c.pem").write_text(pem)
    checked = subprocess.run(["openssl", "verify", "-CAfile", tmp_path / "c.pem",
                              "-purpose", "sslserver", "-verify_ip", "10.0.0.1",
                              tmp_path / "c.pem"], capture_output=True, text=True)
    assert checked.returncode == 0, checked.stdout + checked.stderr
    wrong = subprocess.run(["openssl", "verify", "-CAfile", tmp_path / "c.pem",
                            "-verify_ip", "10.0.0.9", tmp_path / "c.pem"],
                           capture_output=True, text=True)
    assert wrong.returncode != 0


def test_ssl_off_gets_a_made_certificate_pinned_with_verify_full():
    plan = decide(tls.Served(ssl=False, cert_file="/data/server.crt"))
    assert plan.made and plan.settings == OURS and plan.hba_type == "hostssl"
    cert_pem, key_pem = plan.install
    assert plan.pin == cert_pem and plan.cert.pem == cert_pem
    assert plan.sslmode == "verify-full"
    assert plan.keywords("/h/pin.crt", channel_binding=True) == {
        "sslmode": "verify-full", "sslrootcert": "/h/pin.crt", "channel_binding": "require"}


def test_the_key_is_in_no_repr_of_a_plan():
    plan = decide(tls.Served(ssl=False, cert_file="/data/server.crt"))
    assert "PRIVATE" in plan.install[1] and "PRIVATE" not in repr(plan)


def test_a_ca_that_did_not_issue_the_certificate_is_refused():
    _, other_ca = made(name="Other CA", addresses=())
    _, pem = made(name="db1.example.com", addresses=())
    with pytest.raises(tls.TlsError, match="does not hold"):
        decide(tls.Served(ssl=True, cert_file="/etc/ssl/db1.pem", cert_text=pem),
               own=tls.Own(ca_text=other_ca))


@pytest.mark.parametrize("major,address,sslmode", [
    (150000, "10.0.0.1", "verify-full"),
    (140000, "10.0.0.1", "verify-ca"),   # libpq before 15 matches no IP subjectAltName
    (90600, "fd00::1", "verify-ca")])
def test_verify_full_where_libpq_can_check_the_name(major, address, sslmode):
    plan = decide(tls.Served(ssl=False, cert_file="/d/server.crt"), address=address,
                  major=major)
    assert plan.sslmode == sslmode and plan.pin == plan.cert.pem
    kept = decide(tls.Served(ssl=True, cert_file=OURS["ssl_cert_file"],
                             cert_text=plan.cert.pem, key_present=True),
                  address=address, major=major)
    assert kept.install is None   # named, if not checkable by name: not made anew


def test_debian_snakeoil_is_never_pinned():
    plan = decide(tls.Served(ssl=True, cert_file=tls.SNAKEOIL))
    assert plan.made and plan.settings == OURS
    assert "snakeoil" not in plan.pin


def test_our_valid_certificate_is_kept_and_pinned_again():
    _, pem = made(addresses=("10.0.0.1", "fd00::1"))
    served = tls.Served(ssl=True, cert_file=OURS["ssl_cert_file"], cert_text=pem,
                        key_present=True)
    plan = decide(served)
    assert plan.install is None and not plan.made
    assert plan.pin == pem and plan.settings == OURS and plan.sslmode == "verify-full"


@pytest.mark.parametrize("why", ["no key", "expiring", "address not named"])
def test_our_certificate_is_made_anew(why):
    _, pem = made(now=NOW - datetime.timedelta(days=tls.VALID_DAYS - 30)
                  if why == "expiring" else NOW)
    served = tls.Served(ssl=True, cert_file=OURS["ssl_cert_file"], cert_text=pem,
                        key_present=why != "no key")
    plan = decide(served, address="10.0.0.7" if why == "address not named" else "10.0.0.1")
    assert plan.made and plan.install and plan.pin != pem


def test_servers_own_self_signed_certificate_is_used_and_pinned():
    _, pem = made(name="db1.example.com", addresses=())
    plan = decide(tls.Served(ssl=True, cert_file="/etc/ssl/db1.pem", cert_text=pem))
    assert plan.install is None and plan.settings == {}   # the server's own set-up stays
    assert plan.pin == pem
    assert plan.sslmode == "verify-ca"   # it does not name 10.0.0.1


def test_servers_own_ca_signed_certificate_needs_the_ca():
    ca_key_pem, ca_pem = made(name="Example CA", addresses=())
    _, leaf = issued(ca_key_pem, ca_pem, "db1", "10.0.0.1", NOW)
    with pytest.raises(tls.TlsError, match="hotstandby.tls.ca_file"):
        decide(tls.Served(ssl=True, cert_file="/etc/ssl/db1.pem", cert_text=leaf))
    plan = decide(tls.Served(ssl=True, cert_file="/etc/ssl/db1.pem", cert_text=leaf),
                  own=tls.Own(ca_text=ca_pem))
    assert plan.pin == ca_pem and plan.sslmode == "verify-full"
    # a chain file that ends with its root pins that root
    plan = decide(tls.Served(ssl=True, cert_file="/etc/ssl/db1.pem", cert_text=leaf + ca_pem))
    assert tls.certificates(plan.pin, "pin")[0].subject.endswith("CN=Example CA")


def test_ca_file_without_a_certificate_of_the_primary_is_refused():
    _, ca_pem = made(name="Example CA", addresses=())
    with pytest.raises(tls.TlsError, match="cert_file and key_file"):
        decide(tls.Served(ssl=False, cert_file="/d/server.crt"), own=tls.Own(ca_text=ca_pem))


def test_users_own_certificate_and_key_are_installed_once():
    key, pem = made()
    own = tls.Own(cert_text=pem, key_text=key)
    plan = decide(tls.Served(ssl=True, cert_file=tls.SNAKEOIL), own=own)
    assert plan.install == (pem, key) and not plan.made and plan.settings == OURS
    again = decide(tls.Served(ssl=True, cert_file=OURS["ssl_cert_file"], cert_text=pem,
                              key_present=True), own=own)
    assert again.install is None and again.pin == pem


def test_require_encrypts_without_pinning():
    plan = decide(tls.Served(ssl=False, cert_file="/d/server.crt"), mode="require")
    assert plan.install and plan.pin is None and plan.hba_type == "hostssl"
    assert plan.keywords("/h/pin.crt", channel_binding=False) == {"sslmode": "require"}
    assert "not verified" in plan.describe()


def test_off_changes_nothing_and_says_what_it_exposes():
    plan = decide(tls.Served(ssl=False, cert_file="/d/server.crt"), mode="off")
    assert (plan.settings, plan.install, plan.pin, plan.hba_type) == ({}, None, None, "host")
    assert plan.keywords("/h/pin.crt", channel_binding=True) == {}
    assert "clear text" in plan.describe()


@pytest.mark.parametrize("major,auth,bound", [(120000, "scram-sha-256", False),
                                              (130000, "scram-sha-256", True),
                                              (180000, "scram-sha-256", True),
                                              (180000, "md5", False)])
def test_channel_binding_from_13_with_scram(major, auth, bound):
    plan = decide(tls.Served(ssl=False, cert_file="/d/server.crt"))
    assert tls.channel_binding(plan, major, auth) is bound


@pytest.mark.parametrize("major", [90600, 110000, 120000, 170000])
def test_conninfo_and_recovery_settings_carry_the_pin(major):
    plan = decide(tls.Served(ssl=False, cert_file="/d/server.crt"))
    info = render.conninfo({**render.replication_keywords(major, "10.0.0.1", 5432, "replicator",
                                                          "db2", "/h/.pgpass"),
                            **plan.keywords("/h/.pg-hotstandby.primary.crt",
                                            tls.channel_binding(plan, major, "scram-sha-256"))})
    assert "sslmode=verify-full sslrootcert=/h/.pg-hotstandby.primary.crt" in info
    recovery = render.recovery_conf(major, info, "db2")
    if major < 120000:   # recovery.conf holds the connection before 12
        assert "sslmode=verify-full" in recovery
    else:
        assert render.standby_settings(major, {}, {}, info, "db2")["primary_conninfo"] == info


@pytest.mark.parametrize("text", ["", "hello", "-----BEGIN CERTIFICATE-----\nAAAA\n"
                                                "-----END CERTIFICATE-----\n"])
def test_garbage_is_no_certificate(text):
    with pytest.raises(tls.TlsError, match="not a PEM certificate"):
        tls.certificates(text, "x")


def test_an_encrypted_key_is_refused_without_showing_it():
    key, _ = made()
    loaded = serialization.load_pem_private_key(key.encode(), None)
    encrypted = loaded.private_bytes(serialization.Encoding.PEM,
                                     serialization.PrivateFormat.PKCS8,
                                     serialization.BestAvailableEncryption(b"pw")).decode()
    with pytest.raises(tls.TlsError) as err:
        tls.check_key(encrypted, "hotstandby.tls.key_file")
    assert "passphrase" in str(err.value) and "PRIVATE" not in str(err.value)



def ca_and_leaf(address=None, dns=("db1.example.com",)):
    ca_key, ca_pem = made(name="Example CA", addresses=())
    _, leaf = issued(ca_key, ca_pem, "db1", address, NOW, dns=dns)
    return ca_pem, leaf


SERVED = "/etc/ssl/db1.pem"


def test_a_ca_signed_certificate_that_does_not_name_the_address_is_refused():
    # The user's own PKI names DNS names only: pinning the CA, the standby
    # would take any certificate it issued for the primary's.
    ca_pem, leaf = ca_and_leaf()
    for own, text in [(tls.Own(ca_text=ca_pem), leaf), (tls.Own(), leaf + ca_pem)]:
        served = tls.Served(ssl=True, cert_file=SERVED, cert_text=text)
        with pytest.raises(tls.TlsError) as err:
            decide(served, own=own)
        assert "cannot be checked against 10.0.0.1" in str(err.value)
        assert "it names db1.example.com" in str(err.value)
        assert "hotstandby.tls.mode: verify-ca" in str(err.value)


def test_verify_ca_is_the_users_choice():
    ca_pem, leaf = ca_and_leaf()
    served = tls.Served(ssl=True, cert_file=SERVED, cert_text=leaf)
    plan = decide(served, own=tls.Own(ca_text=ca_pem), mode="verify-ca")
    assert plan.sslmode == "verify-ca" and plan.pin == ca_pem and plan.hba_type == "hostssl"
    assert "(tls.mode verify-ca: the name is not checked)" in plan.describe()
    assert plan.keywords("/h/pin.crt", channel_binding=True) == {
        "sslmode": "verify-ca", "sslrootcert": "/h/pin.crt", "channel_binding": "require"}
    # our own certificate too, though it names the address
    ours = decide(tls.Served(ssl=False, cert_file="/d/server.crt"), mode="verify-ca")
    assert ours.sslmode == "verify-ca" and ours.pin == ours.cert.pem


@pytest.mark.parametrize("major,sslmode", [(150000, "verify-full"), (140000, None)])
def test_before_15_a_ca_signed_certificate_naming_the_address_is_refused(major, sslmode):
    ca_pem, leaf = ca_and_leaf(address="10.0.0.1", dns=())
    served = tls.Served(ssl=True, cert_file=SERVED, cert_text=leaf)
    if sslmode:
        assert decide(served, own=tls.Own(ca_text=ca_pem), major=major).sslmode == sslmode
        return
    with pytest.raises(tls.TlsError, match="libpq before PostgreSQL 15 matches no address"):
        decide(served, own=tls.Own(ca_text=ca_pem), major=major)
    assert decide(served, own=tls.Own(ca_text=ca_pem), major=major,
                  mode="verify-ca").sslmode == "verify-ca"


@pytest.mark.parametrize("major", [130000, 140000])
def test_a_pinned_self_signed_certificate_keeps_verify_ca_before_15(major):
    # Only the primary's key passes a check against its own self-signed
    # certificate: as strong as verify-full, and nothing to say.
    ours = decide(tls.Served(ssl=False, cert_file="/d/server.crt"), major=major)
    assert ours.sslmode == "verify-ca" and ours.pin == ours.cert.pem
    key, pem = made()
    for own in (tls.Own(cert_text=pem, key_text=key),
                tls.Own(cert_text=pem, key_text=key, ca_text=pem)):
        plan = decide(tls.Served(ssl=True, cert_file=tls.SNAKEOIL), own=own, major=major)
        assert plan.sslmode == "verify-ca" and plan.pin == pem
