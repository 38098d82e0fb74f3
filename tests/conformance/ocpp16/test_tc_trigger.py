"""OCA OCPP 1.6 compliance cases, Charge Point side: Remote Trigger (TC_054_CS, TC_055_CS)."""
from __future__ import annotations

import pytest
from ocpp.v16 import call

from e2e_harness import WAIT
from oca16 import Station, answered_before

pytestmark = [pytest.mark.asyncio(loop_scope="module"), pytest.mark.timeout(60)]


async def test_tc_054_cs_trigger_message(cp: Station) -> None:
    """TC_054_CS Trigger Message.

    TriggerMessage for MeterValues, Heartbeat, StatusNotification, DiagnosticsStatusNotification
    and FirmwareStatusNotification: each Accepted, and the requested message follows the answer."""
    csms = cp.csms
    for message, connector_id in (("MeterValues", 1), ("Heartbeat", None), ("StatusNotification", 1),
                                  ("DiagnosticsStatusNotification", None), ("FirmwareStatusNotification", None)):
        mark = csms.mark()
        result = await cp.call(call.TriggerMessage(requested_message=message, connector_id=connector_id))
        assert result.status == "Accepted", message
        record = await csms.wait_for(message, timeout=WAIT, since=mark)
        assert answered_before(csms, "TriggerMessage", record), message
        if message == "MeterValues":
            values = [sv for mv in record.payload["meterValue"] for sv in mv["sampledValue"]]
            assert record.payload["connectorId"] == 1 and values
            assert {sv.get("context") for sv in values} == {"Trigger"}
        if message == "StatusNotification":
            assert (record.payload["connectorId"], record.payload["status"]) == (1, "Available")


async def test_tc_055_cs_trigger_message_rejected(cp: Station) -> None:
    """TC_055_CS Trigger Message - Rejected.

    TriggerMessage for MeterValues of a connector the charge point does not have: Rejected, and
    no MeterValues is sent."""
    mark = cp.csms.mark()
    result = await cp.call(call.TriggerMessage(requested_message="MeterValues", connector_id=2))
    assert result.status == "Rejected"
    await cp.round_trip()
    assert "MeterValues" not in cp.actions(mark)
