"""ExtendedTriggerMessage (security whitepaper) against the running controller: each requested
message, sent after the answer; and GetLog(SecurityLog), the other half of the log upload."""
from __future__ import annotations

import io
import json
import tarfile

import pytest
from ocpp.v16 import call

from csms import TestCsms
from e2e_harness import WAIT, E2E
from http_upload_peer import HttpUploadPeer

pytestmark = pytest.mark.timeout(90)


async def extended_trigger(csms: TestCsms, message: str, connector_id: int | None = None) -> tuple[str, str]:
    """Send ExtendedTriggerMessage; return (status, the message id of the request)."""
    mark = len(csms.frames)
    result = await csms.call(call.ExtendedTriggerMessage(requested_message=message, connector_id=connector_id),
                             timeout=WAIT)
    sent = next(json.loads(t) for d, t in csms.frames[mark:] if d == "out" and '"ExtendedTriggerMessage"' in t)
    return result.status, sent[1]


def answered_before(csms: TestCsms, trigger_id: str, triggered_id: str) -> bool:
    frames = [json.loads(t) for d, t in csms.frames if d == "in"]
    answer = next(i for i, f in enumerate(frames) if f[0] == 3 and f[1] == trigger_id)
    message = next(i for i, f in enumerate(frames) if f[0] == 2 and f[1] == triggered_id)
    return answer < message


@pytest.mark.parametrize("message,connector_id,action,expected", [
    ("Heartbeat", None, "Heartbeat", {}),
    ("LogStatusNotification", None, "LogStatusNotification", {"status": "Idle"}),
    ("FirmwareStatusNotification", None, "SignedFirmwareStatusNotification", {"status": "Idle"}),
    ("StatusNotification", 1, "StatusNotification", None),
    ("MeterValues", 1, "MeterValues", None),
])
async def test_extended_trigger_sends_the_message_after_the_answer(ready: E2E, message: str, connector_id: int | None,
                                                                   action: str, expected: dict | None) -> None:
    csms = ready.csms
    mark = csms.mark()
    status, trigger_id = await extended_trigger(csms, message, connector_id)
    assert status == "Accepted"
    record = await csms.wait_for(action, timeout=WAIT, since=mark)
    assert answered_before(csms, trigger_id, record.unique_id)
    if expected is not None:
        assert record.payload == expected
    elif action == "StatusNotification":
        assert (record.payload["connectorId"], record.payload["status"]) == (1, "Available")
    else:
        assert record.payload["connectorId"] == 1 and "transactionId" not in record.payload
        contexts = {v.get("context") for mv in record.payload["meterValue"] for v in mv["sampledValue"]}
        assert contexts == {"Trigger"}


async def test_extended_trigger_boot_notification_is_refused_once_accepted(ready: E2E) -> None:
    status, _ = await extended_trigger(ready.csms, "BootNotification")
    assert status == "Rejected"  # as for TriggerMessage: OCPP 1.6 errata 3.35


async def test_extended_trigger_refuses_what_it_cannot_do(ready: E2E) -> None:
    assert (await extended_trigger(ready.csms, "StatusNotification", 7))[0] == "Rejected"
    # SignChargePointCertificate needs CpoName (the O of the certificate, A02 prerequisite).
    assert (await extended_trigger(ready.csms, "SignChargePointCertificate"))[0] == "Rejected"


async def test_extended_trigger_sign_charge_point_certificate(ready: E2E) -> None:
    csms = ready.csms
    assert await ready.change_configuration("CpoName", "Borne Operator") == "Accepted"
    mark = csms.mark()
    status, trigger_id = await extended_trigger(csms, "SignChargePointCertificate")
    assert status == "Accepted"
    record = await csms.wait_for("SignCertificate", timeout=WAIT, since=mark)
    assert record.payload["csr"].startswith("-----BEGIN CERTIFICATE REQUEST-----")
    assert answered_before(csms, trigger_id, record.unique_id)


async def test_get_log_security_log_uploads_the_security_events(ready: E2E) -> None:
    csms = ready.csms
    with HttpUploadPeer() as peer:
        mark = csms.mark()
        result = await csms.call(call.GetLog(log={"remoteLocation": peer.url("/security/")}, log_type="SecurityLog",
                                             request_id=99, retries=0), timeout=WAIT)
        assert result.status == "Accepted" and "-securitylog-" in result.filename
        final = await csms.wait_for("LogStatusNotification",
                                    lambda p: p["status"] != "Uploading" and p.get("requestId") == 99,
                                    timeout=WAIT, since=mark)
        assert final.payload == {"status": "Uploaded", "requestId": 99}
    root = result.filename.removesuffix(".tar.gz")
    with tarfile.open(fileobj=io.BytesIO(peer.received[0].data), mode="r:gz") as tar:
        assert tar.getnames() == [f"{root}/security.log"]
        text = tar.extractfile(f"{root}/security.log").read().decode()  # type: ignore[union-attr]
    assert "StartupOfTheDevice" in text  # every start is a security event (A04)
