"""TLS for the replication link: which certificate the primary serves, what
each standby pins, and the libpq keywords and pg_hba line type that follow.

Pure: `decide` takes what was read (the primary's ssl settings and
certificate text, the addresses standbys use, the user's own files) and
returns a `Plan`.  A certificate the tool makes is made here, on the control
machine, with `cryptography` (paramiko's own dependency): the hosts need
nothing new, and its key goes only into the primary's key file.
"""
import datetime
import ipaddress
from dataclasses import dataclass, field

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

from . import versions

# verify: encrypted and the primary's identity checked (its certificate, or
# its CA, pinned; the name checked, verify-full, unless the pin is the
# primary's own self-signed certificate); verify-ca: any certificate the pinned
# CA issued is taken for the primary's, whatever it names (a PKI whose
# certificates name no address the standbys use: the user's choice, never a
# fallback); require: encrypted, not checked; off: as libpq defaults (prefer:
# no check, may fall back to clear text).
MODES = ("verify", "verify-ca", "require", "off")
PINNING = ("verify", "verify-ca")   # the modes whose standbys pin a certificate
# In the postgres user's home: outside the data directory, so no copy (and no
# standby) ever gets the primary's key.
SERVER_CERT = ".pg-hotstandby.server.crt"
SERVER_KEY = ".pg-hotstandby.server.key"
PINNED = ".pg-hotstandby.primary.crt"
# Debian's ssl-cert package makes it once per image: hosts cloned from one
# image share its key, so it identifies no server.
SNAKEOIL = "/etc/ssl/certs/ssl-cert-snakeoil.pem"
VALID_DAYS = 3650
RENEW_DAYS = 90   # a certificate of ours closer to its end than this is made anew


class TlsError(ValueError):
    """One line naming the fix."""


@dataclass(frozen=True)
class Certificate:
    pem: str
    fingerprint: str      # SHA-256, hex pairs joined by ':' (as openssl x509 -fingerprint)
    subject: str
    issuer: str
    dns_names: tuple
    ip_addresses: tuple
    not_after: datetime.datetime
    self_signed: bool

    def names(self, host, ip_names=True):
        """Whether the certificate names `host` (an address or a DNS name).
        ip_names: an address may match an IP subjectAltName (libpq 15+:
        versions "tls_ip_names"); else an address is named by none."""
        try:
            ip = ipaddress.ip_address(host)
        except ValueError:
            return host.lower() in {n.lower() for n in self.dns_names}
        return ip_names and ip in {ipaddress.ip_address(a) for a in self.ip_addresses}

    def describe(self):
        names = ", ".join([*self.dns_names, *self.ip_addresses]) or "none"
        return (f"{self.subject} (names: {names}; SHA-256 {self.fingerprint[:23]}...; "
                f"until {self.not_after:%Y-%m-%d})")


def certificates(text, source):
    """Every certificate in PEM text, leaf first; TlsError when there is none
    or one does not parse."""
    try:
        loaded = x509.load_pem_x509_certificates(text.encode())
    except ValueError as exc:
        raise TlsError(f"{source}: not a PEM certificate ({exc})") from None
    return [_certificate(c) for c in loaded]


def _certificate(cert):
    try:
        san = cert.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
        dns = tuple(san.get_values_for_type(x509.DNSName))
        ips = tuple(str(a) for a in san.get_values_for_type(x509.IPAddress))
    except x509.ExtensionNotFound:
        dns, ips = (), ()
    digest = cert.fingerprint(hashes.SHA256()).hex().upper()
    return Certificate(
        pem=cert.public_bytes(serialization.Encoding.PEM).decode(),
        fingerprint=":".join(digest[i:i + 2] for i in range(0, len(digest), 2)),
        subject=cert.subject.rfc4514_string(), issuer=cert.issuer.rfc4514_string(),
        dns_names=dns, ip_addresses=ips, not_after=cert.not_valid_after_utc,
        self_signed=cert.issuer == cert.subject)


def check_key(text, source):
    """TlsError unless text is a private key in PEM (nothing of it is shown)."""
    try:
        serialization.load_pem_private_key(text.encode(), password=None)
    except (ValueError, TypeError):
        raise TlsError(f"{source}: not an unencrypted PEM private key (PostgreSQL cannot ask "
                       "for a passphrase on reload)") from None


def make(name, dns_names, addresses, now):
    """(key PEM, certificate PEM): a new ECDSA P-256 key and a self-signed
    certificate naming the host and its addresses (so that verify-full
    holds), its own root for the standbys that pin it."""
    key = ec.generate_private_key(ec.SECP256R1())
    subject = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, name),
                         x509.NameAttribute(NameOID.ORGANIZATION_NAME, "pg-hotstandby")])
    alt = [x509.DNSName(n) for n in dict.fromkeys(dns_names)] + \
          [x509.IPAddress(ipaddress.ip_address(a)) for a in dict.fromkeys(addresses)]
    cert = (x509.CertificateBuilder()
            .subject_name(subject).issuer_name(subject).public_key(key.public_key())
            .serial_number(x509.random_serial_number())
            .not_valid_before(now - datetime.timedelta(hours=1))
            .not_valid_after(now + datetime.timedelta(days=VALID_DAYS))
            .add_extension(x509.SubjectAlternativeName(alt), critical=False)
            .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
            .add_extension(x509.KeyUsage(digital_signature=True, key_cert_sign=True,
                                         content_commitment=False, key_encipherment=False,
                                         data_encipherment=False, key_agreement=False,
                                         crl_sign=False, encipher_only=False,
                                         decipher_only=False), critical=True)
            .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.SERVER_AUTH]),
                           critical=False)
            .sign(key, hashes.SHA256()))
    key_pem = key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                serialization.NoEncryption()).decode()
    return key_pem, cert.public_bytes(serialization.Encoding.PEM).decode()


@dataclass(frozen=True)
class Served:
    """What the primary serves now, as read from it."""
    ssl: bool
    cert_file: str          # ssl_cert_file, absolute
    cert_text: str = None   # its contents (None: missing or unreadable)
    key_present: bool = False   # our key file exists (its contents are never read)


@dataclass(frozen=True)
class Own:
    """The user's own PKI (hotstandby.tls.*), read on the control machine."""
    ca_text: str = None
    cert_text: str = None
    key_text: str = None


@dataclass(frozen=True)
class Plan:
    """This run's TLS: what the primary gets, what standbys pin and how they connect."""
    mode: str
    settings: dict              # the primary's ssl settings ({}: the server's own)
    cert: Certificate = None    # the certificate the primary serves (after this run)
    # (cert PEM, key PEM) to write on the primary, or None; never in a repr
    install: tuple = field(default=None, repr=False)
    made: bool = False          # install holds a certificate made in this run
    pin: str = None             # PEM the standbys pin (root certificate), or None
    sslmode: str = None         # None: libpq's default (mode off)

    @property
    def hba_type(self):
        return "host" if self.mode == "off" else "hostssl"

    def describe(self):
        """One line for the summary: what the replication link is."""
        if self.mode == "off":
            return ("not set up (tls.mode off): libpq's default, prefer: encrypted only if "
                    "the primary offers TLS, never checked; pg_hba accepts clear text")
        if self.mode == "require":
            return (f"TLS, not verified (tls.mode require): encrypted, but a man in the "
                    f"middle is not detected; the primary's certificate {self.cert.subject}")
        return (f"TLS, {self.sslmode} against the pinned certificate {self.cert.describe()}"
                + (" (tls.mode verify-ca: the name is not checked)"
                   if self.mode == "verify-ca" else ""))

    def keywords(self, pinned_path, channel_binding):
        """libpq keywords a standby adds to its connection to the primary."""
        if self.sslmode is None:
            return {}
        words = {"sslmode": self.sslmode}
        if self.pin:
            words["sslrootcert"] = pinned_path
        if channel_binding:   # SCRAM bound to this TLS session: no relay in between
            words["channel_binding"] = "require"
        return words


def server_settings(home):
    return {"ssl": "on", "ssl_cert_file": f"{home}/{SERVER_CERT}",
            "ssl_key_file": f"{home}/{SERVER_KEY}"}


def channel_binding(plan, major, auth_method):
    return plan.sslmode is not None and auth_method == "scram-sha-256" \
        and bool(versions.fact("channel_binding", major))


def decide(mode, served, own, home, host_name, address, addresses, now, major):
    """The Plan for a primary of PostgreSQL `major`.

    served: Served; own: Own; home: the postgres user's home on the primary;
    address: the primary's address its standbys connect to; addresses: every
    address it has (all go into a certificate the tool makes).
    """
    if mode == "off":
        return Plan(mode, {})
    ours = server_settings(home)
    if own.cert_text:
        chain = certificates(own.cert_text, "hotstandby.tls.cert_file")
        current = served.cert_file == ours["ssl_cert_file"] and served.cert_text == own.cert_text
        install = None if current and served.key_present else (own.cert_text, own.key_text)
        return _pinned(mode, ours, chain, own, install, address, major)
    if served.ssl and served.cert_file not in (SNAKEOIL, ours["ssl_cert_file"]):
        if not served.cert_text:
            raise TlsError(f"ssl_cert_file {served.cert_file} cannot be read: fix the "
                           "server's TLS set-up, or give hotstandby.tls.cert_file and key_file")
        chain = certificates(served.cert_text, served.cert_file)
        return _pinned(mode, {}, chain, own, None, address, major)
    if own.ca_text:
        raise TlsError("hotstandby.tls.ca_file is set but the primary has no certificate of "
                       "its own to check with it: give hotstandby.tls.cert_file and key_file")
    if served.cert_file == ours["ssl_cert_file"] and served.cert_text and served.key_present:
        cert = certificates(served.cert_text, served.cert_file)[0]
        if cert.names(address) and cert.not_after - now > datetime.timedelta(days=RENEW_DAYS):
            return _ours(mode, ours, cert, None, address, major)
    key_pem, cert_pem = make(host_name, [host_name], [address, *addresses], now)
    return _ours(mode, ours, certificates(cert_pem, "made")[0], (cert_pem, key_pem), address,
                 major)


def _ours(mode, settings, cert, install, address, major):
    """A plan with a certificate the tool made: its own root."""
    return Plan(mode, settings, cert, install, install is not None,
                cert.pem if mode in PINNING else None,
                _sslmode(mode, cert, address, major, pins_leaf=True))


def _pinned(mode, settings, chain, own, install, address, major):
    leaf = chain[0]
    if own.ca_text:
        authorities = certificates(own.ca_text, "hotstandby.tls.ca_file")
        if not any(a.subject == leaf.issuer for a in authorities):
            raise TlsError(f"the primary's certificate {leaf.subject} is issued by "
                           f"{leaf.issuer}, which hotstandby.tls.ca_file does not hold: "
                           "give the CA that issued it")
        pin, pinned = own.ca_text, authorities
    else:
        roots = [c for c in chain if c.self_signed]
        if not roots and mode in PINNING:
            raise TlsError(f"the primary's certificate {leaf.subject} is issued by "
                           f"{leaf.issuer}: give that CA's certificate as "
                           "hotstandby.tls.ca_file (or set hotstandby.tls.mode: require)")
        pin, pinned = (roots[-1].pem, roots[-1:]) if roots else (None, [])
    pins_leaf = [c.fingerprint for c in pinned] == [leaf.fingerprint]
    return Plan(mode, settings, leaf, install, False, pin if mode in PINNING else None,
                _sslmode(mode, leaf, address, major, pins_leaf))


def _sslmode(mode, cert, address, major, pins_leaf):
    """verify-full where libpq can check the name.  Where it cannot, verify-ca
    only when the pin is the primary's certificate itself, self-signed: only
    its key, which the primary alone holds, passes that check, as strong as
    verify-full.  A pinned CA vouches for every certificate it issued: then
    the name must be checked, unless tls.mode verify-ca says otherwise."""
    if mode in ("require", "verify-ca"):
        return mode
    ip_names = versions.fact("tls_ip_names", major)
    if cert.names(address, ip_names):
        return "verify-full"
    if pins_leaf:
        return "verify-ca"
    why = ("libpq before PostgreSQL 15 matches no address against its IP names"
           if cert.names(address) else
           f"it names {', '.join([*cert.dns_names, *cert.ip_addresses]) or 'nothing'}")
    raise TlsError(f"the primary's certificate {cert.subject} cannot be checked against "
                   f"{address}, the address its standbys connect to ({why}): sslmode "
                   "verify-full cannot hold, and its CA vouches for any certificate it "
                   f"issued: give the primary a certificate naming {address} "
                   "(an IP subjectAltName; PostgreSQL 15 or later), or set "
                   "hotstandby.tls.mode: verify-ca to accept any certificate of that CA")
