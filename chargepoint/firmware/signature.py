"""The signed firmware checks of the OCPP 1.6 security whitepaper (L01): the Firmware Signing
certificate must come from an installed ManufacturerRootCertificate, directly (the manufacturer
SHALL NOT use intermediate certificates), and the Base64 signature must be over the whole
downloaded file with SHA-256 (L01.FR.04).

L01.FR.04 names RSA-PSS or "ECSchnorr"; no common library or signing tool produces EC-Schnorr
signatures, and A00.FR.505 names ECDSA, so EC keys are checked as ECDSA (DER, as
`openssl dgst -sha256 -sign` writes it). RSA keys are checked as RSA-PSS (MGF1-SHA-256, any salt
length) and, for tools that sign with the older padding, PKCS #1 v1.5."""
from __future__ import annotations

import base64
import binascii
import hashlib
from collections.abc import Callable
from datetime import datetime
from pathlib import Path


from chargepoint.firmware.package import sha256_of
from chargepoint.security.certificates import CertificateStore, CertificateUse
from chargepoint.security.x509_checks import CertificateError, check_key_strength, load_certificates
from chargepoint.lazy_modules import lazy

# cryptography is loaded when first used (see chargepoint/lazy_modules.py).
x509 = lazy("cryptography.x509")
hashes = lazy("cryptography.hazmat.primitives.hashes")
serialization = lazy("cryptography.hazmat.primitives.serialization")
ec = lazy("cryptography.hazmat.primitives.asymmetric.ec")
padding = lazy("cryptography.hazmat.primitives.asymmetric.padding")
rsa = lazy("cryptography.hazmat.primitives.asymmetric.rsa")
utils = lazy("cryptography.hazmat.primitives.asymmetric.utils")
_exceptions = lazy("cryptography.exceptions")

CertificateCheck = Callable[[str, datetime], "x509.Certificate"]
"""Checks a signing certificate (PEM) at a moment; raises CertificateError with the reason."""


def signing_certificate_check(store: CertificateStore) -> CertificateCheck:
    """The check against the ManufacturerRootCertificates installed in `store`."""
    def check(pem: str, at: datetime) -> x509.Certificate:
        if len(load_certificates(pem)) != 1:
            raise CertificateError("the Firmware Signing certificate must come alone: intermediate "
                                   "certificates are not allowed (whitepaper L01)")
        certificate = store.verify(pem, CertificateUse.MANUFACTURER_ROOT, at)
        check_key_strength(certificate, "the Firmware Signing certificate")
        return certificate
    return check


def file_digest(path: Path) -> bytes:
    return bytes.fromhex(sha256_of(path))


def signature_valid(certificate: x509.Certificate, signature_b64: str, path: Path) -> bool:
    """Whether `signature_b64` is the certificate key's signature over the file at `path`."""
    try:
        signature = base64.b64decode(signature_b64.strip(), validate=True)
    except (binascii.Error, ValueError):
        return False
    if not signature:
        return False
    digest = file_digest(path)
    prehashed = utils.Prehashed(hashes.SHA256())
    key = certificate.public_key()
    try:
        if isinstance(key, ec.EllipticCurvePublicKey):
            key.verify(signature, digest, ec.ECDSA(prehashed))
            return True
        if isinstance(key, rsa.RSAPublicKey):
            for pad in (padding.PSS(padding.MGF1(hashes.SHA256()), padding.PSS.AUTO), padding.PKCS1v15()):
                try:
                    key.verify(signature, digest, pad, prehashed)
                    return True
                except _exceptions.InvalidSignature:
                    continue
    except (_exceptions.InvalidSignature, ValueError):
        return False
    return False


def sign_file(private_key_pem: bytes, path: Path) -> str:
    """The Base64 signature a maker puts in SignedUpdateFirmware: ECDSA for EC keys, RSA-PSS
    (salt = digest length) for RSA keys, both over SHA-256 of the whole file."""
    key = serialization.load_pem_private_key(private_key_pem, password=None)
    digest = file_digest(path)
    prehashed = utils.Prehashed(hashes.SHA256())
    if isinstance(key, ec.EllipticCurvePrivateKey):
        signature = key.sign(digest, ec.ECDSA(prehashed))
    elif isinstance(key, rsa.RSAPrivateKey):
        signature = key.sign(digest, padding.PSS(padding.MGF1(hashes.SHA256()), padding.PSS.DIGEST_LENGTH), prehashed)
    else:
        raise ValueError("the signing key is neither EC nor RSA")
    return base64.b64encode(signature).decode()
