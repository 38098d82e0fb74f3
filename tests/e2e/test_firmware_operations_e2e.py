"""UpdateFirmware and SignedUpdateFirmware as the CSMS sees them, without installing anything:
the answers (NotSupported when only signed updates are allowed, InvalidCertificate,
AcceptedCanceled), the status notifications and their requestId, and what triggered status
notifications report while an update waits or retries."""
from __future__ import annotations

from datetime import datetime, timedelta, timezone

import pytest
from ocpp.exceptions import NotSupportedError
from ocpp.v16 import call

from e2e_harness import WAIT, E2E
from firmware_helpers import signing_certificate
from security_pki import TestCa

pytestmark = pytest.mark.timeout(90)

UNREACHABLE = "http://127.0.0.1:9/borne-9.9.9.tar.gz"


def _at(seconds: float) -> str:
    return (datetime.now(timezone.utc) + timedelta(seconds=seconds)).strftime("%Y-%m-%dT%H:%M:%S.000Z")


def statuses(e2e: E2E, action: str, since: int) -> list[dict]:
    return [r.payload for r in e2e.csms.received[since:] if r.action == action]


@pytest.mark.cp_config(firmware={"unsigned_updates": False})
async def test_only_signed_updates_answers_update_firmware_not_supported(ready: E2E) -> None:
    mark = ready.csms.mark()
    with pytest.raises(NotSupportedError):
        await ready.csms.call(call.UpdateFirmware(location=UNREACHABLE, retrieve_date=_at(0)), timeout=WAIT)
    await ready.csms.call(call.GetConfiguration(key=["SupportedFileTransferProtocols"]), timeout=WAIT)
    assert statuses(ready, "FirmwareStatusNotification", mark) == []  # nothing started (L01.FR.20)


async def test_tc_044_2_cs_firmware_update_download_failed(ready: E2E) -> None:
    """TC_044_2_CS Firmware Update - Download Failed.

    UpdateFirmware for a location that cannot be reached, with retries 2 where the case sends 0:
    FirmwareStatusNotification Downloading, then DownloadFailed once the retries are spent. Also:
    a status triggered between the attempts says Downloading, one triggered afterwards Idle."""
    csms = ready.csms
    mark = csms.mark()
    await csms.call(call.UpdateFirmware(location=UNREACHABLE, retrieve_date=_at(0), retries=2, retry_interval=30),
                    timeout=WAIT)
    await csms.wait_for("FirmwareStatusNotification", lambda p: p["status"] == "Downloading", timeout=WAIT, since=mark)
    # Between the two attempts the update is still downloading; a trigger says so.
    trigger_mark = csms.mark()
    answer = await csms.call(call.TriggerMessage(requested_message="FirmwareStatusNotification"), timeout=WAIT)
    assert answer.status == "Accepted"
    triggered = await csms.wait_for("FirmwareStatusNotification", timeout=WAIT, since=trigger_mark)
    assert triggered.payload == {"status": "Downloading"}
    await csms.wait_for("FirmwareStatusNotification", lambda p: p["status"] == "DownloadFailed", timeout=WAIT,
                        since=mark)
    assert [p["status"] for p in statuses(ready, "FirmwareStatusNotification", mark)] == \
        ["Downloading", "Downloading", "DownloadFailed"]  # the second is the triggered one
    trigger_mark = csms.mark()
    await csms.call(call.TriggerMessage(requested_message="FirmwareStatusNotification"), timeout=WAIT)
    idle = await csms.wait_for("FirmwareStatusNotification", timeout=WAIT, since=trigger_mark)
    assert idle.payload == {"status": "Idle"}


async def test_signed_update_certificate_checks_and_cancel(ready: E2E) -> None:
    csms = ready.csms
    maker = TestCa("Borne Maker Root")
    installed = await csms.call(call.InstallCertificate(certificate_type="ManufacturerRootCertificate",
                                                        certificate=maker.pem), timeout=WAIT)
    assert installed.status == "Accepted"
    signing = signing_certificate(maker)

    def request(request_id: int, pem: str) -> call.SignedUpdateFirmware:
        return call.SignedUpdateFirmware(request_id=request_id, firmware={
            "location": UNREACHABLE, "retrieveDateTime": _at(3600), "signingCertificate": pem,
            "signature": "c2lnbmF0dXJl"})

    mark = csms.mark()
    stranger = signing_certificate(TestCa("Stranger"))
    answer = await csms.call(request(1, stranger.pem), timeout=WAIT)
    assert answer.status == "InvalidCertificate"
    event = await csms.wait_for("SecurityEventNotification",
                                lambda p: p["type"] == "InvalidFirmwareSigningCertificate", timeout=WAIT, since=mark)
    assert "does not chain" in event.payload.get("techInfo", "")

    assert (await csms.call(request(2, signing.pem), timeout=WAIT)).status == "Accepted"
    await csms.wait_for("SignedFirmwareStatusNotification", lambda p: p == {"status": "DownloadScheduled",
                                                                             "requestId": 2}, timeout=WAIT, since=mark)
    assert (await csms.call(request(3, signing.pem), timeout=WAIT)).status == "AcceptedCanceled"
    await csms.wait_for("SignedFirmwareStatusNotification", lambda p: p == {"status": "DownloadScheduled",
                                                                             "requestId": 3}, timeout=WAIT, since=mark)
    trigger_mark = csms.mark()
    answer = await csms.call(call.ExtendedTriggerMessage(requested_message="FirmwareStatusNotification"),
                             timeout=WAIT)
    assert answer.status == "Accepted"
    triggered = await csms.wait_for("SignedFirmwareStatusNotification", timeout=WAIT, since=trigger_mark)
    assert triggered.payload == {"status": "DownloadScheduled", "requestId": 3}  # L01.FR.29
    assert statuses(ready, "FirmwareStatusNotification", mark) == []
