"""SignedUpdateFirmware's state machine (security whitepaper L01): the signing certificate
checked against the installed ManufacturerRootCertificates, the signature over the downloaded
file, the extra statuses with their requestId, the security events, and what a triggered
SignedFirmwareStatusNotification reports (L01.FR.28/29)."""
from __future__ import annotations

from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest

from chargepoint.firmware.signature import sign_file, signing_certificate_check
from chargepoint.firmware.state import INSTALL_SCHEDULED
from chargepoint.firmware.updater import UpdateRequest
from chargepoint.security.certificates import CertificateStore, CertificateUse, InstallStatus
from firmware_helpers import signing_certificate, signing_key_pem
from firmware_rig import Rig, settle, until
from security_pki import TestCa

pytestmark = pytest.mark.timeout(30)

REQUEST_ID = 42
SIGNED_UPDATE = ["Downloading", "Downloaded", "SignatureVerified", "Installing", "InstallRebooting"]


def trust(rig: Rig, ca: TestCa) -> CertificateStore:
    store = CertificateStore(rig.tmp / "certs", 10)
    assert store.install(CertificateUse.MANUFACTURER_ROOT, ca.pem, rig.clock.now()) is InstallStatus.ACCEPTED
    rig.updater.check_certificate = signing_certificate_check(store)
    return store


def sign_for(rig: Rig, package: Path, retrieve_in_s: float = 0, install_in_s: float | None = None,
             signer_key: bytes | None = None, **kwargs: Any) -> UpdateRequest:
    """A signed request for `package`: a maker's root trusted by the box, its signing certificate."""
    ca = TestCa("Borne Maker Root")
    trust(rig, ca)
    signing = signing_certificate(ca)
    now = rig.clock.now()
    return UpdateRequest("https://example.test/borne-2.0.tar.gz", now + timedelta(seconds=retrieve_in_s),
                         signed=True, request_id=REQUEST_ID,
                         install_at=now + timedelta(seconds=install_in_s) if install_in_s is not None else None,
                         signing_certificate=signing.pem,
                         signature=sign_file(signer_key or signing_key_pem(signing), package), **kwargs)


def sent(rig: Rig) -> list[tuple[str, int | None]]:
    return [(n.status, n.request_id) for n in rig.updater.state.outbox]


async def test_signed_update_reports_every_step_with_its_request_id(tmp_path: Path) -> None:
    rig = Rig(tmp_path)
    rig.start()
    rig.updater.start(sign_for(rig, rig.package))
    await until(lambda: rig.restarts, "the restart")
    assert sent(rig) == [(s, REQUEST_ID) for s in SIGNED_UPDATE]
    assert all(n.signed for n in rig.updater.state.outbox)
    assert rig.updater.signed_status() == ("InstallRebooting", REQUEST_ID)
    assert rig.maintenance.signed_firmware_status() == ("InstallRebooting", REQUEST_ID)
    assert rig.maintenance.firmware == "Idle"  # a legacy trigger has no signed statuses to tell
    await rig.next_process()
    rig.updater.csms_accepted()
    await until(lambda: rig.phase() is None, "the confirmation")
    assert sent(rig)[-1] == ("Installed", REQUEST_ID)
    assert rig.updater.signed_status() == ("Idle", None)  # L01.FR.28
    assert rig.events.emitted == [("FirmwareUpdated", "version 2.0")]
    await rig.stop()


async def test_invalid_signature_stops_before_installing(tmp_path: Path) -> None:
    rig = Rig(tmp_path)
    other = signing_certificate(TestCa("Someone Else"))
    rig.start()
    rig.updater.start(sign_for(rig, rig.package, signer_key=signing_key_pem(other)))
    await until(lambda: rig.phase() is None, "the end of the update")
    assert sent(rig) == [("Downloading", REQUEST_ID), ("Downloaded", REQUEST_ID), ("InvalidSignature", REQUEST_ID)]
    assert [e for e, _ in rig.events.emitted] == ["InvalidFirmwareSignature"]
    assert rig.installer.calls == [] and not rig.restarts
    assert rig.updater.signed_status() == ("InvalidSignature", REQUEST_ID)  # L01.FR.29
    await rig.stop()


async def test_download_scheduled_then_install_scheduled(tmp_path: Path) -> None:
    rig = Rig(tmp_path)
    rig.start()
    rig.updater.start(sign_for(rig, rig.package, retrieve_in_s=600, install_in_s=7200))
    await settle()
    assert sent(rig) == [("DownloadScheduled", REQUEST_ID)]
    await rig.advance(600, step=60)
    await until(lambda: rig.phase() == INSTALL_SCHEDULED, "the scheduled installation")
    assert [s for s, _ in sent(rig)] == ["DownloadScheduled", "Downloading", "Downloaded", "SignatureVerified",
                                         "InstallScheduled"]
    assert rig.installer.calls == []
    await rig.advance(6600, step=60)
    await until(lambda: rig.restarts, "the restart")
    assert [s for s, _ in sent(rig)][-2:] == ["Installing", "InstallRebooting"]
    await rig.stop()


async def test_certificate_checks(tmp_path: Path) -> None:
    rig = Rig(tmp_path)
    assert rig.updater.verify_certificate("x") == "no ManufacturerRootCertificate store is available"
    maker = TestCa("Borne Maker Root")
    trust(rig, maker)
    assert rig.updater.verify_certificate(signing_certificate(maker).pem) is None
    untrusted = rig.updater.verify_certificate(signing_certificate(TestCa("Stranger")).pem)
    assert untrusted is not None and "does not chain" in untrusted
    expired = signing_certificate(maker, days=-1, not_before=rig.clock.now() - timedelta(days=30))
    problem = rig.updater.verify_certificate(expired.pem)
    assert problem is not None and "expired" in problem
    sub = maker.intermediate()
    leaf = signing_certificate(sub)
    problem = rig.updater.verify_certificate(leaf.pem + sub.pem)
    assert problem is not None and "intermediate" in problem
    assert rig.updater.verify_certificate("not a certificate") is not None


async def test_signed_and_legacy_reports_start_idle(tmp_path: Path) -> None:
    rig = Rig(tmp_path)
    assert rig.updater.signed_status() == ("Idle", None)
    assert rig.maintenance.firmware == "Idle"
