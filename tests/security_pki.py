"""A throw-away PKI for the security tests: a CA, server certificates for loopback, client
certificates, and a CA that signs a charge point's CSR the way a CSMS's CA would."""
from __future__ import annotations

import hashlib
import ssl
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from ipaddress import ip_address
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

Key = ec.EllipticCurvePrivateKey | rsa.RSAPrivateKey


def _name(common_name: str, organization: str = "Test CPO") -> x509.Name:
    return x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, common_name),
                      x509.NameAttribute(NameOID.ORGANIZATION_NAME, organization)])


def key_pem(key: Key) -> bytes:
    return key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                             serialization.NoEncryption())


def cert_pem(certificate: x509.Certificate) -> bytes:
    return certificate.public_bytes(serialization.Encoding.PEM)


@dataclass
class Issued:
    certificate: x509.Certificate
    key: Key

    @property
    def pem(self) -> str:
        return cert_pem(self.certificate).decode()

    def write(self, directory: Path, stem: str, chain: list[x509.Certificate] = ()) -> tuple[Path, Path]:
        """`stem`.pem (with `chain` after it) and `stem`.key (mode 0600)."""
        certificate_file, key_file = directory / f"{stem}.pem", directory / f"{stem}.key"
        certificate_file.write_bytes(cert_pem(self.certificate) + b"".join(cert_pem(c) for c in chain))
        key_file.write_bytes(key_pem(self.key))
        key_file.chmod(0o600)
        return certificate_file, key_file


class TestCa:
    """A root CA (self-signed, EC P-256 unless told otherwise) that issues certificates."""

    __test__ = False

    def __init__(self, name: str = "Test Root CA", key: Key | None = None, serial: int | None = None,
                 not_before: datetime | None = None, days: int = 365) -> None:
        self.key = key or ec.generate_private_key(ec.SECP256R1())
        now = datetime.now(timezone.utc)
        self.certificate = (
            x509.CertificateBuilder()
            .subject_name(_name(name)).issuer_name(_name(name))
            .public_key(self.key.public_key())
            .serial_number(serial or x509.random_serial_number())
            .not_valid_before(not_before or now - timedelta(days=1))
            .not_valid_after(now + timedelta(days=days))
            .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
            .add_extension(x509.KeyUsage(digital_signature=True, content_commitment=False, key_encipherment=False,
                                         data_encipherment=False, key_agreement=False, key_cert_sign=True,
                                         crl_sign=True, encipher_only=False, decipher_only=False), critical=True)
            .sign(self.key, hashes.SHA256())
        )

    @property
    def pem(self) -> str:
        return cert_pem(self.certificate).decode()

    def write(self, path: Path) -> Path:
        path.write_bytes(cert_pem(self.certificate))
        return path

    def _issue(self, subject: x509.Name, public_key: object, *, ca: bool = False, days: int = 30,
               not_before: datetime | None = None, serial: int | None = None,
               extensions: list[tuple[x509.ExtensionType, bool]] = ()) -> x509.Certificate:
        now = datetime.now(timezone.utc)
        builder = (
            x509.CertificateBuilder()
            .subject_name(subject).issuer_name(self.certificate.subject)
            .public_key(public_key)  # type: ignore[arg-type]
            .serial_number(serial or x509.random_serial_number())
            .not_valid_before(not_before or now - timedelta(hours=1))
            .not_valid_after(now + timedelta(days=days))
            .add_extension(x509.BasicConstraints(ca=ca, path_length=None), critical=True)
        )
        for extension, critical in extensions:
            builder = builder.add_extension(extension, critical=critical)
        return builder.sign(self.key, hashes.SHA256())

    def intermediate(self, name: str = "Test Sub CA") -> TestCa:
        sub = TestCa.__new__(TestCa)
        sub.key = ec.generate_private_key(ec.SECP256R1())
        sub.certificate = self._issue(_name(name), sub.key.public_key(), ca=True, days=365)
        return sub

    def server(self, *hosts: str, common_name: str | None = None) -> Issued:
        """A TLS server certificate for `hosts` (DNS names or IP addresses, as subjectAltName)."""
        key = ec.generate_private_key(ec.SECP256R1())
        names: list[x509.GeneralName] = []
        for host in hosts:
            try:
                names.append(x509.IPAddress(ip_address(host)))
            except ValueError:
                names.append(x509.DNSName(host))
        extensions: list[tuple[x509.ExtensionType, bool]] = [
            (x509.ExtendedKeyUsage([ExtendedKeyUsageOID.SERVER_AUTH]), False)]
        if names:
            extensions.append((x509.SubjectAlternativeName(names), False))
        certificate = self._issue(_name(common_name or (hosts[0] if hosts else "csms")), key.public_key(),
                                  extensions=extensions)
        return Issued(certificate, key)

    def client(self, common_name: str, organization: str = "Test CPO", days: int = 30) -> Issued:
        key = ec.generate_private_key(ec.SECP256R1())
        certificate = self._issue(_name(common_name, organization), key.public_key(), days=days,
                                  extensions=[(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.CLIENT_AUTH]), False)])
        return Issued(certificate, key)

    def sign_csr(self, csr_pem: str, days: int = 90, not_before: datetime | None = None) -> x509.Certificate:
        """What the CSMS's CA does with a SignCertificate.req: sign the CSR's subject and key."""
        csr = x509.load_pem_x509_csr(csr_pem.encode())
        assert csr.is_signature_valid
        return self._issue(csr.subject, csr.public_key(), days=days, not_before=not_before,
                           extensions=[(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.CLIENT_AUTH]), False)])


def certificate_id(root: x509.Certificate) -> dict[str, str]:
    """A self-signed EC root's CertificateHashDataType (SHA256), computed from the key's X9.62
    point rather than by parsing the certificate, as a CSMS would hold it."""
    key = root.public_key()
    assert isinstance(key, ec.EllipticCurvePublicKey)
    point = key.public_bytes(serialization.Encoding.X962, serialization.PublicFormat.UncompressedPoint)
    return {"hashAlgorithm": "SHA256", "issuerNameHash": hashlib.sha256(root.issuer.public_bytes()).hexdigest(),
            "issuerKeyHash": hashlib.sha256(point).hexdigest(), "serialNumber": format(root.serial_number, "X")}


def server_context(issued: Issued, directory: Path, trust_clients: TestCa | None = None,
                   maximum: ssl.TLSVersion | None = None) -> ssl.SSLContext:
    """A CSMS's TLS context; with `trust_clients` it demands a client certificate from that CA."""
    certificate_file, key_file = issued.write(directory, f"server-{issued.certificate.serial_number:x}")
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(certificate_file, key_file)
    if maximum is not None:
        context.maximum_version = maximum
    if trust_clients is not None:
        context.verify_mode = ssl.CERT_REQUIRED
        context.load_verify_locations(cadata=trust_clients.pem)
    return context
