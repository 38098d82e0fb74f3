"""The charge point's trust store: CentralSystemRootCertificate(s), which TLS trusts for the CSMS,
and ManufacturerRootCertificate(s), which vouch for firmware signing certificates.

One PEM file per certificate, named by its SHA-256 fingerprint, under
`<security_dir>/certs/central-system-root/` and `.../manufacturer-root/`.

For firmware verification (SignedUpdateFirmware), the API is::

    signing = store.verify(signing_certificate_pem, CertificateUse.MANUFACTURER_ROOT, clock.now())

which returns the signing certificate, or raises CertificateError (say InvalidCertificate and
emit InvalidFirmwareSigningCertificate then)."""
from __future__ import annotations

import logging
from collections.abc import Callable
from datetime import datetime
from enum import Enum
from pathlib import Path


from chargepoint.security.files import PUBLIC, ensure_directory, remove, write_atomically
from chargepoint.security.x509_checks import (
    CertificateError,
    CertificateHashData,
    check_key_strength,
    check_validity,
    hash_data,
    is_ca,
    is_self_signed,
    issued_by,
    load_certificates,
    verify_path,
)
from chargepoint.lazy_modules import lazy

# cryptography is loaded when first used (see chargepoint/lazy_modules.py).
x509 = lazy("cryptography.x509")
hashes = lazy("cryptography.hazmat.primitives.hashes")
serialization = lazy("cryptography.hazmat.primitives.serialization")

log = logging.getLogger(__name__)


class CertificateUse(str, Enum):
    """CertificateUseEnumType: the two kinds of root the CSMS manages."""

    CENTRAL_SYSTEM_ROOT = "CentralSystemRootCertificate"
    MANUFACTURER_ROOT = "ManufacturerRootCertificate"


_FOLDERS = {
    CertificateUse.CENTRAL_SYSTEM_ROOT: "central-system-root",
    CertificateUse.MANUFACTURER_ROOT: "manufacturer-root",
}


class InstallStatus(str, Enum):
    ACCEPTED = "Accepted"
    REJECTED = "Rejected"  # invalid, or the store is full (M05.FR.03, M05.FR.06)
    FAILED = "Failed"  # valid, but it could not be stored


class DeleteStatus(str, Enum):
    ACCEPTED = "Accepted"
    FAILED = "Failed"  # e.g. the root the current connection was verified with (M04.FR.06)
    NOT_FOUND = "NotFound"


class CertificateStore:
    """Root and CA certificates by use, bounded by CertificateStoreMaxLength across both uses."""

    def __init__(self, directory: Path, max_length: int) -> None:
        self.directory = directory
        self.max_length = max_length

    def _folder(self, use: CertificateUse) -> Path:
        return self.directory / _FOLDERS[use]

    def _files(self, use: CertificateUse) -> list[Path]:
        folder = self._folder(use)
        return sorted(folder.glob("*.pem")) if folder.is_dir() else []

    def certificates(self, use: CertificateUse) -> list[x509.Certificate]:
        """The installed certificates of one use; an unreadable file is logged and skipped."""
        found = []
        for path in self._files(use):
            try:
                found.extend(load_certificates(path.read_bytes()))
            except (OSError, CertificateError) as exc:
                log.error("ignoring the unreadable certificate %s: %s", path, exc)
        return found

    def pem(self, use: CertificateUse) -> str:
        """The installed certificates of one use as one PEM text (a TLS CA bundle)."""
        return "".join(c.public_bytes(serialization.Encoding.PEM).decode() for c in self.certificates(use))

    def count(self) -> int:
        return sum(len(self._files(use)) for use in CertificateUse)

    def install(self, use: CertificateUse, pem: str, at: datetime) -> InstallStatus:
        """InstallCertificate (M05): a CA certificate that is a root, or is issued by a certificate
        of the same use already installed (its id can then be computed)."""
        try:
            certificate = self._acceptable(use, pem, at)
        except CertificateError as exc:
            log.warning("refused a %s: %s", use.value, exc)
            return InstallStatus.REJECTED
        path = self._folder(use) / f"{_fingerprint(certificate)}.pem"
        if path.exists():
            return InstallStatus.ACCEPTED
        if self.count() >= self.max_length:
            log.warning("refused a %s: the store holds %d certificates (CertificateStoreMaxLength)",
                        use.value, self.max_length)
            return InstallStatus.REJECTED
        try:
            write_atomically(path, certificate.public_bytes(serialization.Encoding.PEM), PUBLIC)
        except OSError as exc:
            log.error("could not store a %s: %s", use.value, exc)
            return InstallStatus.FAILED
        log.info("installed a %s: %s", use.value, certificate.subject.rfc4514_string())
        return InstallStatus.ACCEPTED

    def _acceptable(self, use: CertificateUse, pem: str, at: datetime) -> x509.Certificate:
        certificates = load_certificates(pem)
        if len(certificates) != 1:
            raise CertificateError(f"{len(certificates)} certificates where one was expected")
        certificate = certificates[0]
        if not is_ca(certificate):
            raise CertificateError("not a CA certificate (basicConstraints CA is not set)")
        check_validity(certificate, at, "the certificate")
        check_key_strength(certificate, "the certificate")
        if not is_self_signed(certificate) and self._issuer(use, certificate) is None:
            raise CertificateError("neither a root certificate nor issued by an installed one")
        return certificate

    def _issuer(self, use: CertificateUse, certificate: x509.Certificate) -> x509.Certificate | None:
        if is_self_signed(certificate):
            return certificate
        return next((c for c in self.certificates(use) if issued_by(certificate, c)), None)

    def installed_ids(self, use: CertificateUse, algorithm: str = "SHA256") -> list[CertificateHashData]:
        """GetInstalledCertificateIds (M03): the id of every installed certificate of `use`."""
        ids = []
        for certificate in self.certificates(use):
            issuer = self._issuer(use, certificate)
            if issuer is not None:
                ids.append(hash_data(certificate, issuer, algorithm))
        return ids

    def find(self, wanted: CertificateHashData) -> tuple[CertificateUse, Path, x509.Certificate] | None:
        for use in CertificateUse:
            for path in self._files(use):
                try:
                    certificate = load_certificates(path.read_bytes())[0]
                except (OSError, CertificateError):
                    continue
                issuer = self._issuer(use, certificate)
                if issuer is not None and hash_data(certificate, issuer, wanted.hash_algorithm).matches(wanted):
                    return use, path, certificate
        return None

    def delete(self, wanted: CertificateHashData,
               in_use: Callable[[x509.Certificate], bool] = lambda _: False) -> DeleteStatus:
        """DeleteCertificate (M04); `in_use` says whether a CSMS root verified the current
        connection, which must not be deleted (M04.FR.06)."""
        try:
            found = self.find(wanted)
        except CertificateError:
            return DeleteStatus.NOT_FOUND  # an unknown hashAlgorithm cannot name a certificate
        if found is None:
            return DeleteStatus.NOT_FOUND
        use, path, certificate = found
        if use is CertificateUse.CENTRAL_SYSTEM_ROOT and in_use(certificate):
            log.warning("refused to delete the CentralSystemRootCertificate the current connection relies on")
            return DeleteStatus.FAILED
        try:
            remove(path)
        except OSError as exc:
            log.error("could not delete %s: %s", path, exc)
            return DeleteStatus.FAILED
        log.info("deleted a %s: %s", use.value, certificate.subject.rfc4514_string())
        return DeleteStatus.ACCEPTED

    def verify(self, pem: str, use: CertificateUse, at: datetime) -> x509.Certificate:
        """The first certificate of `pem`, checked against the installed roots of `use` (any
        further certificates in `pem` may serve as intermediates). Raises CertificateError."""
        leaf, *intermediates = load_certificates(pem)
        verify_path(leaf, intermediates, self.certificates(use), at)
        return leaf

    def seed(self, use: CertificateUse, bundle: Path, at: datetime) -> None:
        """Install the certificates of an installer's bundle (`[ocpp] ca_file`) when none of
        that use is installed yet: it is where the trust starts, the CSMS manages it later."""
        if self._files(use):
            return
        ensure_directory(self._folder(use))
        try:
            certificates = load_certificates(bundle.read_bytes())
        except (OSError, CertificateError) as exc:
            log.error("cannot read the certificates of %s: %s", bundle, exc)
            return
        for certificate in certificates:
            pem = certificate.public_bytes(serialization.Encoding.PEM).decode()
            if self.install(use, pem, at) is not InstallStatus.ACCEPTED:
                log.error("%s: a certificate was not installed (see above)", bundle)


def _fingerprint(certificate: x509.Certificate) -> str:
    return certificate.fingerprint(hashes.SHA256()).hex()
