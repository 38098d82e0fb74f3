"""Firmware signatures over the whole file with SHA-256: ECDSA and RSA-PSS as `sign_file`
(and openssl) make them, RSA PKCS #1 v1.5 from older tools; anything else is refused."""
from __future__ import annotations

import base64
from pathlib import Path

from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import padding, rsa

from chargepoint.firmware.signature import sign_file, signature_valid
from firmware_helpers import signing_certificate, signing_key_pem
from security_pki import Issued, TestCa, key_pem


def _firmware(tmp_path: Path) -> Path:
    path = tmp_path / "borne-2.0.tar.gz"
    path.write_bytes(b"firmware image " * 5000)
    return path


def _rsa_signing(ca: TestCa) -> Issued:
    """An RSA-2048 Firmware Signing certificate (the CA itself is EC)."""
    ec_signing = signing_certificate(ca)
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    from cryptography import x509
    builder = (x509.CertificateBuilder().subject_name(ec_signing.certificate.subject)
               .issuer_name(ca.certificate.subject).public_key(key.public_key())
               .serial_number(x509.random_serial_number())
               .not_valid_before(ec_signing.certificate.not_valid_before_utc)
               .not_valid_after(ec_signing.certificate.not_valid_after_utc))
    return Issued(builder.sign(ca.key, hashes.SHA256()), key)


def test_ecdsa_signature_over_the_file(tmp_path: Path) -> None:
    firmware = _firmware(tmp_path)
    signing = signing_certificate(TestCa())
    signature = sign_file(signing_key_pem(signing), firmware)
    assert signature_valid(signing.certificate, signature, firmware)


def test_rsa_pss_and_pkcs1v15_signatures(tmp_path: Path) -> None:
    firmware = _firmware(tmp_path)
    signing = _rsa_signing(TestCa())
    pss = sign_file(key_pem(signing.key), firmware)
    assert signature_valid(signing.certificate, pss, firmware)
    assert isinstance(signing.key, rsa.RSAPrivateKey)
    legacy = signing.key.sign(firmware.read_bytes(), padding.PKCS1v15(), hashes.SHA256())
    assert signature_valid(signing.certificate, base64.b64encode(legacy).decode(), firmware)
    max_salt = signing.key.sign(firmware.read_bytes(), padding.PSS(padding.MGF1(hashes.SHA256()),
                                                                    padding.PSS.MAX_LENGTH), hashes.SHA256())
    assert signature_valid(signing.certificate, base64.b64encode(max_salt).decode(), firmware)


def test_changed_file_or_other_key_or_garbage_is_refused(tmp_path: Path) -> None:
    firmware = _firmware(tmp_path)
    signing = signing_certificate(TestCa())
    signature = sign_file(signing_key_pem(signing), firmware)
    other = signing_certificate(TestCa("Other"))
    assert not signature_valid(other.certificate, signature, firmware)
    for bad in ("", "not base64!", base64.b64encode(b"\x00" * 64).decode()):
        assert not signature_valid(signing.certificate, bad, firmware)
    firmware.write_bytes(firmware.read_bytes() + b"!")
    assert not signature_valid(signing.certificate, signature, firmware)


def test_sha1_signature_is_refused(tmp_path: Path) -> None:
    firmware = _firmware(tmp_path)
    signing = _rsa_signing(TestCa())
    assert isinstance(signing.key, rsa.RSAPrivateKey)
    sha1 = signing.key.sign(firmware.read_bytes(), padding.PKCS1v15(), hashes.SHA1())
    assert not signature_valid(signing.certificate, base64.b64encode(sha1).decode(), firmware)
