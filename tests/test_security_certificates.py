"""The trust store: certificate ids as OCSP defines them (checked against values computed here
another way), InstallCertificate, DeleteCertificate, GetInstalledCertificateIds rules."""
from __future__ import annotations

import hashlib
from datetime import datetime, timedelta, timezone
from pathlib import Path

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa

from chargepoint.security.certificates import CertificateStore, CertificateUse, DeleteStatus, InstallStatus
from chargepoint.security.x509_checks import CertificateError, CertificateHashData, hash_data
from security_pki import TestCa

CSMS = CertificateUse.CENTRAL_SYSTEM_ROOT
MANUFACTURER = CertificateUse.MANUFACTURER_ROOT
NOW = datetime.now(timezone.utc)


def independent_key_bits(certificate: x509.Certificate) -> bytes:
    """The subjectPublicKey BIT STRING value, from the key's own encodings: PKCS#1 RSAPublicKey
    for RSA, the X9.62 uncompressed point for EC (what certificates carry)."""
    key = certificate.public_key()
    if isinstance(key, rsa.RSAPublicKey):
        return key.public_bytes(serialization.Encoding.DER, serialization.PublicFormat.PKCS1)
    assert isinstance(key, ec.EllipticCurvePublicKey)
    return key.public_bytes(serialization.Encoding.X962, serialization.PublicFormat.UncompressedPoint)


@pytest.mark.parametrize("algorithm", ["SHA256", "SHA384", "SHA512"])
@pytest.mark.parametrize("key", ["ec", "rsa"])
def test_root_certificate_id_matches_an_independent_computation(algorithm: str, key: str) -> None:
    private = ec.generate_private_key(ec.SECP384R1()) if key == "ec" else rsa.generate_private_key(65537, 2048)
    ca = TestCa("Id Root", key=private, serial=0x00ABC0FFEE)
    ids = hash_data(ca.certificate, ca.certificate, algorithm)
    name = algorithm.lower()
    assert ids.hash_algorithm == algorithm
    issuer_der = ca.certificate.issuer.public_bytes(serialization.Encoding.DER)
    assert ids.issuer_name_hash == hashlib.new(name, issuer_der).hexdigest()
    assert ids.issuer_key_hash == hashlib.new(name, independent_key_bits(ca.certificate)).hexdigest()
    assert ids.serial_number == "ABC0FFEE"  # hexadecimal, no leading zeroes, no 0x


def test_serial_number_example_of_the_whitepaper() -> None:
    ca = TestCa("Serial", serial=4095)
    assert hash_data(ca.certificate, ca.certificate).serial_number == "FFF"


def test_sub_ca_id_uses_its_issuers_key(tmp_path: Path) -> None:
    root = TestCa("Root")
    sub = root.intermediate("Sub")
    store = CertificateStore(tmp_path, max_length=5)
    assert store.install(CSMS, root.pem, NOW) is InstallStatus.ACCEPTED
    assert store.install(CSMS, sub.pem, NOW) is InstallStatus.ACCEPTED
    ids = {i.serial_number: i for i in store.installed_ids(CSMS)}
    sub_id = ids[format(sub.certificate.serial_number, "X")]
    assert sub_id.issuer_key_hash == hashlib.sha256(independent_key_bits(root.certificate)).hexdigest()
    assert sub_id.issuer_name_hash == hashlib.sha256(root.certificate.subject.public_bytes()).hexdigest()


def test_installed_ids_by_use(tmp_path: Path) -> None:
    store = CertificateStore(tmp_path, max_length=5)
    csms, maker = TestCa("CSMS Root"), TestCa("Maker Root")
    assert store.install(CSMS, csms.pem, NOW) is InstallStatus.ACCEPTED
    assert store.install(MANUFACTURER, maker.pem, NOW) is InstallStatus.ACCEPTED
    assert [i.serial_number for i in store.installed_ids(CSMS)] == [format(csms.certificate.serial_number, "X")]
    assert [i.serial_number for i in store.installed_ids(MANUFACTURER)] == [
        format(maker.certificate.serial_number, "X")]
    assert (tmp_path / "central-system-root").is_dir() and (tmp_path / "manufacturer-root").is_dir()


@pytest.mark.parametrize("case", ["garbage", "leaf", "expired", "two", "orphan-sub-ca", "weak-rsa"])
def test_invalid_certificates_are_rejected(tmp_path: Path, case: str) -> None:
    store = CertificateStore(tmp_path, max_length=5)
    root = TestCa("Root")
    pem = {
        "garbage": "-----BEGIN CERTIFICATE-----\nnot base64\n-----END CERTIFICATE-----\n",
        "leaf": root.server("csms.example").pem,
        "expired": TestCa("Old", not_before=NOW - timedelta(days=10), days=-1).pem,
        "two": root.pem + TestCa("Other").pem,
        "orphan-sub-ca": root.intermediate().pem,
        "weak-rsa": TestCa("Weak", key=rsa.generate_private_key(65537, 1024)).pem,
    }[case]
    assert store.install(CSMS, pem, NOW) is InstallStatus.REJECTED
    assert store.installed_ids(CSMS) == []


def test_store_is_bounded_by_certificate_store_max_length(tmp_path: Path) -> None:
    store = CertificateStore(tmp_path, max_length=2)
    first, second = TestCa("One"), TestCa("Two")
    assert store.install(CSMS, first.pem, NOW) is InstallStatus.ACCEPTED
    assert store.install(MANUFACTURER, second.pem, NOW) is InstallStatus.ACCEPTED
    assert store.install(CSMS, TestCa("Three").pem, NOW) is InstallStatus.REJECTED
    # The same certificate again is not a new one.
    assert store.install(CSMS, first.pem, NOW) is InstallStatus.ACCEPTED
    assert store.count() == 2


def test_delete_by_id_and_not_found(tmp_path: Path) -> None:
    store = CertificateStore(tmp_path, max_length=5)
    ca = TestCa("Root")
    store.install(CSMS, ca.pem, NOW)
    wanted = hash_data(ca.certificate, ca.certificate, "SHA384")
    # The CSMS may write the CiString fields in either case, the serial with leading zeroes.
    shouted = CertificateHashData("SHA384", wanted.issuer_name_hash.upper(), wanted.issuer_key_hash.upper(),
                                  "000" + wanted.serial_number.lower())
    assert store.delete(shouted) is DeleteStatus.ACCEPTED
    assert store.installed_ids(CSMS) == []
    assert store.delete(wanted) is DeleteStatus.NOT_FOUND


def test_the_root_in_use_is_not_deleted(tmp_path: Path) -> None:
    store = CertificateStore(tmp_path, max_length=5)
    ca = TestCa("Root")
    store.install(CSMS, ca.pem, NOW)
    wanted = hash_data(ca.certificate, ca.certificate)
    assert store.delete(wanted, in_use=lambda c: c == ca.certificate) is DeleteStatus.FAILED
    assert len(store.installed_ids(CSMS)) == 1


def test_verify_for_firmware_signing_certificates(tmp_path: Path) -> None:
    store = CertificateStore(tmp_path, max_length=5)
    maker = TestCa("Maker Root")
    store.install(MANUFACTURER, maker.pem, NOW)
    signing = maker.client("Firmware Signer")
    assert store.verify(signing.pem, MANUFACTURER, NOW) == signing.certificate
    with pytest.raises(CertificateError):
        store.verify(TestCa("Stranger").client("Firmware Signer").pem, MANUFACTURER, NOW)
    with pytest.raises(CertificateError):
        store.verify(signing.pem, CSMS, NOW)  # trusted for firmware, not as a CSMS root


def test_seed_installs_the_installers_bundle_once(tmp_path: Path) -> None:
    store = CertificateStore(tmp_path / "certs", max_length=5)
    first, second = TestCa("One"), TestCa("Two")
    bundle = tmp_path / "ca.pem"
    bundle.write_text(first.pem + second.pem)
    store.seed(CSMS, bundle, NOW)
    assert len(store.installed_ids(CSMS)) == 2
    # The CSMS manages them from then on: a deleted root does not come back at the next start.
    store.delete(hash_data(first.certificate, first.certificate))
    store.seed(CSMS, bundle, NOW)
    assert len(store.installed_ids(CSMS)) == 1
