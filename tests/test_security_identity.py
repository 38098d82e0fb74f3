"""The charge point's own key and certificate: what the CSR holds, what a CertificateSigned chain
must satisfy, how keys are stored, and which certificate is used."""
from __future__ import annotations

import os
import stat
from datetime import datetime, timedelta, timezone
from pathlib import Path

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

from chargepoint.security.csr import KeyType, build_csr, generate_key
from chargepoint.security.files import write_atomically
from chargepoint.security.identity import ChargePointIdentity
from chargepoint.security.x509_checks import CertificateError, pem_of
from security_pki import TestCa

NOW = datetime.now(timezone.utc)


def mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


@pytest.mark.parametrize("key_type", list(KeyType))
def test_csr_subject_key_and_signature(key_type: KeyType) -> None:
    key = generate_key(key_type)
    csr = x509.load_pem_x509_csr(build_csr(key, "SERIAL-0042", "Example CPO").encode())
    assert csr.is_signature_valid
    assert csr.subject.get_attributes_for_oid(NameOID.COMMON_NAME)[0].value == "SERIAL-0042"
    assert csr.subject.get_attributes_for_oid(NameOID.ORGANIZATION_NAME)[0].value == "Example CPO"
    assert isinstance(csr.signature_hash_algorithm, hashes.SHA256)
    public = csr.public_key()
    if key_type is KeyType.EC_P256:
        assert isinstance(public, ec.EllipticCurvePublicKey) and public.curve.name == "secp256r1"
    else:
        assert isinstance(public, rsa.RSAPublicKey) and public.key_size == 2048
    usage = csr.extensions.get_extension_for_class(x509.ExtendedKeyUsage).value
    assert ExtendedKeyUsageOID.CLIENT_AUTH in usage
    # No subjectAltName: the whitepaper says a charge point certificate should not carry one.
    with pytest.raises(x509.ExtensionNotFound):
        csr.extensions.get_extension_for_class(x509.SubjectAlternativeName)


def test_begin_request_keeps_the_key_private(tmp_path: Path) -> None:
    identity = ChargePointIdentity(tmp_path / "cp")
    csr = x509.load_pem_x509_csr(identity.begin_request("CP-1", "CPO").encode())
    assert mode(identity.pending_key) == 0o600
    key = serialization.load_pem_private_key(identity.pending_key.read_bytes(), None)
    spki = serialization.PublicFormat.SubjectPublicKeyInfo
    assert key.public_key().public_bytes(serialization.Encoding.DER, spki) == \
        csr.public_key().public_bytes(serialization.Encoding.DER, spki)
    assert [p.name for p in (tmp_path / "cp").iterdir()] == ["pending.key"]  # no temporary left


def test_atomic_write_sets_the_mode_and_replaces_whole_files(tmp_path: Path) -> None:
    target = tmp_path / "d" / "secret"
    write_atomically(target, b"one", 0o600)
    write_atomically(target, b"two", 0o600)
    assert target.read_bytes() == b"two" and mode(target) == 0o600
    assert target.stat().st_uid == os.getuid()
    assert sorted(p.name for p in target.parent.iterdir()) == ["secret"]


def signed_identity(tmp_path: Path, ca: TestCa, **kwargs: object) -> tuple[ChargePointIdentity, x509.Certificate]:
    identity = ChargePointIdentity(tmp_path / "cp")
    certificate = ca.sign_csr(identity.begin_request("CP-1", "CPO"), **kwargs)  # type: ignore[arg-type]
    return identity, certificate


def test_accepted_chain_is_installed_with_its_key(tmp_path: Path) -> None:
    root = TestCa("Root")
    sub = root.intermediate()
    identity, certificate = signed_identity(tmp_path, sub)
    leaf = identity.accept(pem_of([certificate, sub.certificate]).decode(), [root.certificate], NOW)
    assert leaf == certificate
    active = identity.active(NOW)
    assert active is not None and active.certificate == certificate
    assert mode(active.key_file) == 0o600
    assert not identity.has_pending_request()
    assert len(x509.load_pem_x509_certificates(active.certificate_file.read_bytes())) == 2


@pytest.mark.parametrize("case", ["other-key", "untrusted", "no-request", "expired", "missing-intermediate"])
def test_invalid_chains_are_discarded(tmp_path: Path, case: str) -> None:
    root = TestCa("Root")
    identity, certificate = signed_identity(tmp_path, root)
    chain = pem_of([certificate]).decode()
    if case == "other-key":
        chain = root.client("CP-1").pem
    elif case == "untrusted":
        chain = TestCa("Stranger").sign_csr(identity.begin_request("CP-1", "CPO")).public_bytes(
            serialization.Encoding.PEM).decode()
    elif case == "no-request":
        identity.pending_key.unlink()
    elif case == "expired":
        chain = root.sign_csr(identity.begin_request("CP-1", "CPO"), days=-1,
                              not_before=NOW - timedelta(days=5)).public_bytes(serialization.Encoding.PEM).decode()
    elif case == "missing-intermediate":
        sub = root.intermediate()
        chain = sub.sign_csr(identity.begin_request("CP-1", "CPO")).public_bytes(serialization.Encoding.PEM).decode()
    with pytest.raises(CertificateError):
        identity.accept(chain, [root.certificate], NOW)
    assert identity.active(NOW) is None


def test_newest_valid_certificate_wins_and_a_future_one_waits(tmp_path: Path) -> None:
    root = TestCa("Root")
    provisioned = root.client("CP-1", days=10).write(tmp_path, "factory")
    identity = ChargePointIdentity(tmp_path / "cp", provisioned)
    assert identity.active(NOW).certificate_file == provisioned[0]  # type: ignore[union-attr]
    renewed = root.sign_csr(identity.begin_request("CP-1", "CPO"))
    identity.accept(pem_of([renewed]).decode(), [root.certificate], NOW)
    assert identity.active(NOW).certificate == renewed  # type: ignore[union-attr]
    future = root.sign_csr(identity.begin_request("CP-1", "CPO"), not_before=NOW + timedelta(days=2))
    identity.accept(pem_of([future]).decode(), [root.certificate], NOW)
    assert identity.active(NOW).certificate == renewed  # type: ignore[union-attr]
    assert identity.active(NOW + timedelta(days=3)).certificate == future  # type: ignore[union-attr]
