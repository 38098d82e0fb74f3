"""The Charge Point certificate and its private key: the TLS client identity of security
profile 3, renewed through SignCertificate.req / CertificateSigned.req (A02, A03).

Under `<security_dir>/certs/charge-point/`: `pending.key` while a signing request waits for its
certificate, then one `<notBefore>-<serial>.pem` (the chain, leaf first) and `.key` (mode 0600)
per certificate received. The installer's certificate (`[ocpp] client_certificate_file`, e.g.
put there at manufacturing) competes with them: the newest valid one is used (A02.FR.09)."""
from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path


from chargepoint.security.csr import KeyType, build_csr, generate_key, load_private_key, private_key_pem
from chargepoint.security.files import PRIVATE, PUBLIC, remove, write_atomically
from chargepoint.security.x509_checks import (
    CertificateError,
    check_key_strength,
    load_certificates,
    pem_of,
    verify_path,
)
from chargepoint.lazy_modules import lazy

# cryptography is loaded when first used (see chargepoint/lazy_modules.py).
x509 = lazy("cryptography.x509")
serialization = lazy("cryptography.hazmat.primitives.serialization")

log = logging.getLogger(__name__)

# Certificates received earlier stay as a fallback (A02.FR.10 recommends a month); expired ones go.
KEEP_CERTIFICATES = 3


@dataclass(frozen=True)
class Identity:
    certificate_file: Path
    key_file: Path
    certificate: x509.Certificate


class ChargePointIdentity:
    def __init__(self, directory: Path, provisioned: tuple[Path, Path] | None = None) -> None:
        self.directory = directory
        self.provisioned = provisioned
        self.pending_key = directory / "pending.key"

    # ---- the signing request -----------------------------------------------------------------

    def begin_request(self, common_name: str, organization: str, key_type: KeyType = KeyType.EC_P256) -> str:
        """A new key pair (kept as pending.key) and its CSR in PEM; a request made earlier is
        superseded: its certificate would no longer match the pending key."""
        key = generate_key(key_type)
        write_atomically(self.pending_key, private_key_pem(key), PRIVATE)
        return build_csr(key, common_name, organization)

    def has_pending_request(self) -> bool:
        return self.pending_key.exists()

    def accept(self, chain_pem: str, roots: list[x509.Certificate], at: datetime) -> x509.Certificate:
        """Check a CertificateSigned chain (A02.FR.06) and install it with the pending key.
        Raises CertificateError (the certificate is then discarded, A02.FR.07)."""
        chain = load_certificates(chain_pem)
        leaf = chain[0]
        if not self.pending_key.exists():
            raise CertificateError("no certificate signing request is pending")
        try:
            key_pem = self.pending_key.read_bytes()
            key = load_private_key(key_pem)
        except (OSError, ValueError) as exc:
            raise CertificateError(f"the pending private key cannot be read ({type(exc).__name__})") from None
        if _public_der(leaf.public_key()) != _public_der(key.public_key()):
            raise CertificateError("the certificate is not for the key of the pending signing request")
        check_key_strength(leaf, "the certificate")
        for oid, what in ((x509.NameOID.COMMON_NAME, "CN"), (x509.NameOID.ORGANIZATION_NAME, "O")):
            if not leaf.subject.get_attributes_for_oid(oid):
                raise CertificateError(f"the certificate subject has no {what}")
        if at > leaf.not_valid_after_utc:
            raise CertificateError(f"the certificate expired at {leaf.not_valid_after_utc:%Y-%m-%dT%H:%M:%SZ}")
        # A certificate not valid yet is kept and used from its notBefore on (A02.FR.08).
        verify_path(leaf, chain[1:], roots, max(at, leaf.not_valid_before_utc))
        stem = f"{leaf.not_valid_before_utc:%Y%m%dT%H%M%SZ}-{leaf.serial_number:X}"
        write_atomically(self.directory / f"{stem}.key", key_pem, PRIVATE)
        write_atomically(self.directory / f"{stem}.pem", pem_of(chain), PUBLIC)
        remove(self.pending_key)
        self._prune(at)
        return leaf

    # ---- which certificate to use ------------------------------------------------------------

    def candidates(self) -> list[Identity]:
        found = []
        files = sorted(self.directory.glob("*.pem")) if self.directory.is_dir() else []
        pairs = [(p, p.with_suffix(".key")) for p in files]
        if self.provisioned is not None:
            pairs.append(self.provisioned)
        for certificate_file, key_file in pairs:
            if not key_file.exists():
                continue
            try:
                certificate = load_certificates(certificate_file.read_bytes())[0]
            except (OSError, CertificateError) as exc:
                log.error("ignoring the unreadable charge point certificate %s: %s", certificate_file, exc)
                continue
            found.append(Identity(certificate_file, key_file, certificate))
        return found

    def active(self, at: datetime) -> Identity | None:
        """The newest certificate valid at `at` (A02.FR.08, A02.FR.09), or None."""
        valid = [i for i in self.candidates()
                 if i.certificate.not_valid_before_utc <= at <= i.certificate.not_valid_after_utc]
        return max(valid, key=lambda i: i.certificate.not_valid_before_utc, default=None)

    def _prune(self, at: datetime) -> None:
        own = [i for i in self.candidates() if i.certificate_file.parent == self.directory]
        own.sort(key=lambda i: i.certificate.not_valid_before_utc, reverse=True)
        for number, identity in enumerate(own):
            if number >= KEEP_CERTIFICATES or identity.certificate.not_valid_after_utc < at:
                remove(identity.certificate_file)
                remove(identity.key_file)


def _public_der(key: object) -> bytes:
    return key.public_bytes(serialization.Encoding.DER,  # type: ignore[attr-defined]
                            serialization.PublicFormat.SubjectPublicKeyInfo)
