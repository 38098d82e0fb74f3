"""The charge point's key pair and its certificate signing request (A02/A03, RFC 2986, PEM).

The key is made on the device and never leaves it (A02.FR.05). EC P-256 is the default: it
meets A00.FR.503 (at least 224 bits), it is what the recommended ECDHE-ECDSA cipher suites use,
and it is fast on a Pi; RSA 2048 (A00.FR.502) is there for CAs that sign RSA only."""
from __future__ import annotations

from enum import Enum
from typing import Union

from chargepoint.lazy_modules import lazy

# cryptography is loaded when first used (see chargepoint/lazy_modules.py).
x509 = lazy("cryptography.x509")
hashes = lazy("cryptography.hazmat.primitives.hashes")
serialization = lazy("cryptography.hazmat.primitives.serialization")
ec = lazy("cryptography.hazmat.primitives.asymmetric.ec")
rsa = lazy("cryptography.hazmat.primitives.asymmetric.rsa")


PrivateKey = Union["ec.EllipticCurvePrivateKey", "rsa.RSAPrivateKey"]


class KeyType(str, Enum):
    EC_P256 = "ec-p256"
    RSA_2048 = "rsa-2048"


def generate_key(key_type: KeyType = KeyType.EC_P256) -> PrivateKey:
    if key_type is KeyType.RSA_2048:
        return rsa.generate_private_key(public_exponent=65537, key_size=2048)
    return ec.generate_private_key(ec.SECP256R1())


def private_key_pem(key: PrivateKey) -> bytes:
    """PKCS #8, unencrypted: the file's mode is what protects it (there is nowhere safer on the
    device to keep a passphrase)."""
    return key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                             serialization.NoEncryption())


def load_private_key(pem: bytes) -> PrivateKey:
    key = serialization.load_pem_private_key(pem, password=None)
    if not isinstance(key, (ec.EllipticCurvePrivateKey, rsa.RSAPrivateKey)):
        raise ValueError("the private key is neither EC nor RSA")
    return key


def build_csr(key: PrivateKey, common_name: str, organization: str) -> str:
    """A PEM CSR with CN = the charge point's serial number (A00.FR.511) and O = CpoName
    (A02.FR.13), signed with SHA-256; no subjectAltName (A00.FR.511 note). Key usage and
    extended key usage ask for a TLS client certificate (A00.FR.512)."""
    subject = x509.Name([
        x509.NameAttribute(x509.NameOID.COMMON_NAME, common_name),
        x509.NameAttribute(x509.NameOID.ORGANIZATION_NAME, organization),
    ])
    request = (
        x509.CertificateSigningRequestBuilder()
        .subject_name(subject)
        .add_extension(x509.KeyUsage(digital_signature=True, content_commitment=False, key_encipherment=False,
                                     data_encipherment=False, key_agreement=False, key_cert_sign=False,
                                     crl_sign=False, encipher_only=False, decipher_only=False), critical=True)
        .add_extension(x509.ExtendedKeyUsage([x509.ExtendedKeyUsageOID.CLIENT_AUTH]), critical=False)
        .sign(key, hashes.SHA256())
    )
    return request.public_bytes(serialization.Encoding.PEM).decode()
