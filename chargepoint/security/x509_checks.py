"""X.509 arithmetic the whitepaper relies on: reading PEM, the certificate ids of
GetInstalledCertificateIds/DeleteCertificate (OCSP CertID fields, RFC 6960), and a certification
path check (RFC 5280 §6, the parts a charge point can do without revocation data)."""
from __future__ import annotations

import hashlib
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime

from chargepoint.lazy_modules import lazy

# cryptography is loaded when first used (see chargepoint/lazy_modules.py).
x509 = lazy("cryptography.x509")
serialization = lazy("cryptography.hazmat.primitives.serialization")
dsa = lazy("cryptography.hazmat.primitives.asymmetric.dsa")
ec = lazy("cryptography.hazmat.primitives.asymmetric.ec")
rsa = lazy("cryptography.hazmat.primitives.asymmetric.rsa")
_exceptions = lazy("cryptography.exceptions")


HASH_ALGORITHMS = {"SHA256": "sha256", "SHA384": "sha384", "SHA512": "sha512"}
MAX_PATH_LENGTH = 8
# A00.FR.501-503: security equivalent to 112 symmetric bits.
MIN_RSA_BITS = 2048
MIN_EC_BITS = 224


class CertificateError(ValueError):
    """A certificate that cannot be used; the message says why (it is safe to log and to send
    as techInfo: it never holds key material)."""


@dataclass(frozen=True)
class CertificateHashData:
    """A certificate's id as OCPP names it (CertificateHashDataType, whitepaper edition 3 §6.1)."""

    hash_algorithm: str  # SHA256 | SHA384 | SHA512
    issuer_name_hash: str  # hex of the hash of the DER issuer name
    issuer_key_hash: str  # hex of the hash of the issuer's subjectPublicKey BIT STRING value
    serial_number: str  # hex, no leading zeroes

    def matches(self, other: CertificateHashData) -> bool:
        """The fields are CiStrings, and a serial may arrive with leading zeroes."""
        return (self.hash_algorithm.upper() == other.hash_algorithm.upper()
                and self.issuer_name_hash.lower() == other.issuer_name_hash.lower()
                and self.issuer_key_hash.lower() == other.issuer_key_hash.lower()
                and self.serial_number.upper().lstrip("0") == other.serial_number.upper().lstrip("0"))


def load_certificates(pem: str | bytes) -> list[x509.Certificate]:
    """Every certificate in a PEM text, in order; CertificateError when there is none."""
    data = pem.encode() if isinstance(pem, str) else pem
    try:
        certificates = x509.load_pem_x509_certificates(data)
    except ValueError as exc:
        raise CertificateError(f"not a PEM encoded X.509 certificate ({exc})") from None
    if not certificates:
        raise CertificateError("no certificate in the PEM text")
    return certificates


def pem_of(certificates: Sequence[x509.Certificate]) -> bytes:
    return b"".join(c.public_bytes(serialization.Encoding.PEM) for c in certificates)


def subject_public_key_bits(certificate: x509.Certificate) -> bytes:
    """The value of the subjectPublicKey BIT STRING (without tag, length and the unused-bits
    octet): what an OCSP issuerKeyHash is computed over."""
    spki = certificate.public_key().public_bytes(serialization.Encoding.DER,
                                                  serialization.PublicFormat.SubjectPublicKeyInfo)
    body, _ = _der_element(spki, 0, expected_tag=0x30)
    _, offset = _der_element(spki, body, expected_tag=0x30)  # skip AlgorithmIdentifier
    start, end = _der_element(spki, offset, expected_tag=0x03)
    if spki[start] != 0:
        raise CertificateError("a public key BIT STRING with unused bits")
    return spki[start + 1:end]


def _der_element(data: bytes, offset: int, expected_tag: int) -> tuple[int, int]:
    """(start of the content, end of the element) of the DER element at `offset`."""
    if data[offset] != expected_tag:
        raise CertificateError("unexpected DER structure in a public key")
    length = data[offset + 1]
    start = offset + 2
    if length & 0x80:
        count = length & 0x7F
        length = int.from_bytes(data[start:start + count], "big")
        start += count
    return start, start + length


def hash_data(certificate: x509.Certificate, issuer: x509.Certificate,
              algorithm: str = "SHA256") -> CertificateHashData:
    """The OCPP id of `certificate`, whose issuer is `issuer` (itself for a root)."""
    name = HASH_ALGORITHMS.get(algorithm.upper())
    if name is None:
        raise CertificateError(f"hash algorithm {algorithm} is not one of {', '.join(HASH_ALGORITHMS)}")
    return CertificateHashData(
        hash_algorithm=algorithm.upper(),
        issuer_name_hash=hashlib.new(name, certificate.issuer.public_bytes()).hexdigest(),
        issuer_key_hash=hashlib.new(name, subject_public_key_bits(issuer)).hexdigest(),
        serial_number=format(certificate.serial_number, "X"),
    )


def is_self_signed(certificate: x509.Certificate) -> bool:
    return issued_by(certificate, certificate)


def issued_by(certificate: x509.Certificate, issuer: x509.Certificate) -> bool:
    """True when `issuer`'s name and key signed `certificate`."""
    try:
        certificate.verify_directly_issued_by(issuer)
    except (ValueError, TypeError, _exceptions.InvalidSignature):
        return False
    return True


def is_ca(certificate: x509.Certificate) -> bool:
    try:
        constraints = certificate.extensions.get_extension_for_class(x509.BasicConstraints).value
    except x509.ExtensionNotFound:
        return False
    return constraints.ca


def check_validity(certificate: x509.Certificate, at: datetime, what: str) -> None:
    if at < certificate.not_valid_before_utc:
        raise CertificateError(f"{what} is not valid before {certificate.not_valid_before_utc:%Y-%m-%dT%H:%M:%SZ}")
    if at > certificate.not_valid_after_utc:
        raise CertificateError(f"{what} expired at {certificate.not_valid_after_utc:%Y-%m-%dT%H:%M:%SZ}")


def check_key_strength(certificate: x509.Certificate, what: str) -> None:
    key = certificate.public_key()
    if isinstance(key, (rsa.RSAPublicKey, dsa.DSAPublicKey)) and key.key_size < MIN_RSA_BITS:
        raise CertificateError(f"{what} has a {key.key_size}-bit key (at least {MIN_RSA_BITS} bits required)")
    if isinstance(key, ec.EllipticCurvePublicKey) and key.curve.key_size < MIN_EC_BITS:
        raise CertificateError(f"{what} has a {key.curve.key_size}-bit curve (at least {MIN_EC_BITS} bits required)")


def verify_path(leaf: x509.Certificate, intermediates: Sequence[x509.Certificate],
                roots: Sequence[x509.Certificate], at: datetime) -> x509.Certificate:
    """Check that `leaf` chains to one of `roots` through `intermediates`, every certificate on
    the way valid at `at`, every issuer a CA; return the root. Raises CertificateError."""
    if not roots:
        raise CertificateError("no root certificate is installed to verify it against")
    current = leaf
    check_validity(leaf, at, "the certificate")
    pool = list(intermediates)
    for _ in range(MAX_PATH_LENGTH):
        for root in roots:
            if issued_by(current, root):
                check_validity(root, at, "the root certificate")
                return root
        issuer = next((c for c in pool if c is not current and issued_by(current, c)), None)
        if issuer is None:
            raise CertificateError("the certificate does not chain to an installed root certificate")
        if not is_ca(issuer):
            raise CertificateError("an intermediate certificate of the chain is not a CA certificate")
        check_validity(issuer, at, "an intermediate certificate")
        pool.remove(issuer)
        current = issuer
    raise CertificateError("the certificate chain is too long")
