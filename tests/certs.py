"""Certificates for the tests: a server certificate issued by a CA, as a
user's own PKI gives one (the tool itself only makes self-signed ones)."""
import datetime
import ipaddress

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID


def issued(ca_key_pem, ca_pem, name, address, now, dns=()):
    """(key PEM, certificate PEM) for `name` at `address` (None: no address)
    and the DNS names `dns`, signed by the CA."""
    ca_key = serialization.load_pem_private_key(ca_key_pem.encode(), None)
    ca = x509.load_pem_x509_certificate(ca_pem.encode())
    key = ec.generate_private_key(ec.SECP256R1())
    cert = (x509.CertificateBuilder()
            .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, name)]))
            .issuer_name(ca.subject).public_key(key.public_key())
            .serial_number(x509.random_serial_number())
            .not_valid_before(now - datetime.timedelta(days=1))
            .not_valid_after(now + datetime.timedelta(days=365))
            .add_extension(x509.SubjectAlternativeName(
                [x509.DNSName(n) for n in dns]
                + ([x509.IPAddress(ipaddress.ip_address(address))] if address else [])),
                critical=False)
            .sign(ca_key, hashes.SHA256()))
    return (key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                              serialization.NoEncryption()).decode(),
            cert.public_bytes(serialization.Encoding.PEM).decode())
