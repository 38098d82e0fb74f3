"""TriggerMessage against the running controller: every requested message of OCPP 1.6, with and
without connectorId; the triggered message always follows the TriggerMessage answer."""
from __future__ import annotations

import json

import pytest
from ocpp.v16 import call

from csms import TestCsms
from e2e_harness import WAIT, E2E

pytestmark = pytest.mark.timeout(90)

SAMPLED = "Energy.Active.Import.Register,Power.Active.Import,Current.Import,Voltage"


def frame_index(csms: TestCsms, direction: str, predicate) -> int:
    for index, (d, text) in enumerate(csms.frames):
        if d == direction and predicate(json.loads(text)):
            return index
    raise AssertionError("no such frame")


async def trigger(csms: TestCsms, message: str, connector_id: int | None = None) -> tuple[str, str]:
    """Send TriggerMessage; return (status, the message id of the request)."""
    mark = len(csms.frames)
    result = await csms.call(call.TriggerMessage(requested_message=message, connector_id=connector_id),
                             timeout=WAIT)
    sent = next(json.loads(t) for d, t in csms.frames[mark:] if d == "out" and '"TriggerMessage"' in t)
    return result.status, sent[1]


def answered_before(csms: TestCsms, trigger_id: str, triggered_id: str) -> bool:
    answer = frame_index(csms, "in", lambda f: f[0] == 3 and f[1] == trigger_id)
    message = frame_index(csms, "in", lambda f: f[0] == 2 and f[1] == triggered_id)
    return answer < message


async def nothing_more(e2e: E2E, action: str, since: int) -> list[dict]:
    """After a round trip, the messages of `action` since `since` (for refusals)."""
    await e2e.csms.call(call.GetConfiguration(key=["HeartbeatInterval"]), timeout=WAIT)
    return [r.payload for r in e2e.csms.received[since:] if r.action == action]


@pytest.mark.parametrize("connector_id", [None, 1])
@pytest.mark.parametrize("message,payload", [
    ("Heartbeat", {}),
    ("DiagnosticsStatusNotification", {"status": "Idle"}),
    ("FirmwareStatusNotification", {"status": "Idle"}),
])
async def test_triggered_message_is_sent_after_the_answer(ready: E2E, message: str, payload: dict,
                                                          connector_id: int | None) -> None:
    csms = ready.csms
    mark = csms.mark()
    status, trigger_id = await trigger(csms, message, connector_id)
    assert status == "Accepted"
    record = await csms.wait_for(message, timeout=WAIT, since=mark)
    assert record.payload == payload
    assert answered_before(csms, trigger_id, record.unique_id)


async def test_status_notification_of_every_connector_without_connector_id(ready: E2E) -> None:
    e2e, csms = ready, ready.csms
    mark = csms.mark()
    status, trigger_id = await trigger(csms, "StatusNotification")
    assert status == "Accepted"
    cp = await csms.wait_for("StatusNotification", lambda p: p["connectorId"] == 0, timeout=WAIT, since=mark)
    one = await csms.wait_for("StatusNotification", lambda p: p["connectorId"] == 1, timeout=WAIT, since=mark)
    assert (cp.payload["status"], one.payload["status"]) == ("Available", "Available")
    assert cp.payload["errorCode"] == one.payload["errorCode"] == "NoError"
    assert answered_before(csms, trigger_id, cp.unique_id)
    assert sorted(p["connectorId"] for p in await nothing_more(e2e, "StatusNotification", mark)) == [0, 1]


@pytest.mark.parametrize("connector_id", [0, 1])
async def test_status_notification_of_one_connector(ready: E2E, connector_id: int) -> None:
    e2e, csms = ready, ready.csms
    await e2e.sim_ok("plug", 1)
    await e2e.wait_status(1, "Preparing")
    mark = csms.mark()
    status, trigger_id = await trigger(csms, "StatusNotification", connector_id)
    assert status == "Accepted"
    record = await csms.wait_for("StatusNotification", timeout=WAIT, since=mark)
    assert record.payload["connectorId"] == connector_id
    assert record.payload["status"] == ("Available" if connector_id == 0 else "Preparing")
    assert answered_before(csms, trigger_id, record.unique_id)
    assert len(await nothing_more(e2e, "StatusNotification", mark)) == 1


@pytest.mark.parametrize("message", ["StatusNotification", "MeterValues"])
async def test_unknown_connector_is_rejected(ready: E2E, message: str) -> None:
    e2e, csms = ready, ready.csms
    mark = csms.mark()
    status, _ = await trigger(csms, message, 2)
    assert status == "Rejected"
    assert await nothing_more(e2e, message, mark) == []


async def test_meter_values_without_main_meter_rejected_for_connector_zero(ready: E2E) -> None:
    e2e, csms = ready, ready.csms
    mark = csms.mark()
    status, _ = await trigger(csms, "MeterValues", 0)
    assert status == "Rejected"
    assert await nothing_more(e2e, "MeterValues", mark) == []


def measurands(payload: dict) -> set[str]:
    return {sv["measurand"] for mv in payload["meterValue"] for sv in mv["sampledValue"]}


def contexts(payload: dict) -> set[str]:
    return {sv["context"] for mv in payload["meterValue"] for sv in mv["sampledValue"]}


@pytest.mark.parametrize("connector_id", [None, 1])
async def test_meter_values_when_idle(ready: E2E, connector_id: int | None) -> None:
    e2e, csms = ready, ready.csms
    assert await e2e.change_configuration("MeterValuesSampledData", SAMPLED + ",Current.Offered") == "Accepted"
    mark = csms.mark()
    status, trigger_id = await trigger(csms, "MeterValues", connector_id)
    assert status == "Accepted"
    record = await csms.wait_for("MeterValues", timeout=WAIT, since=mark)
    p = record.payload
    assert p["connectorId"] == 1 and "transactionId" not in p
    assert measurands(p) == set(SAMPLED.split(",")) | {"Current.Offered"}
    assert contexts(p) == {"Trigger"}
    phases = {sv.get("phase") for mv in p["meterValue"] for sv in mv["sampledValue"] if sv["measurand"] == "Voltage"}
    assert phases == {"L1-N", "L2-N", "L3-N"}
    assert answered_before(csms, trigger_id, record.unique_id)
    assert len(await nothing_more(e2e, "MeterValues", mark)) == 1


async def test_meter_values_during_a_transaction_carry_its_id(ready: E2E) -> None:
    e2e, csms = ready, ready.csms
    assert await e2e.change_configuration("MeterValueSampleInterval", "0") == "Accepted"
    assert await e2e.change_configuration("MeterValuesSampledData", "Energy.Active.Import.Register,Current.Import") \
        == "Accepted"
    tx_id, _ = await e2e.start_transaction()
    await e2e.wait_evse(lambda s: s["contactor_closed"])
    mark = csms.mark()
    status, trigger_id = await trigger(csms, "MeterValues", 1)
    assert status == "Accepted"
    record = await csms.wait_for("MeterValues", timeout=WAIT, since=mark)
    p = record.payload
    assert p["connectorId"] == 1 and p["transactionId"] == tx_id
    assert measurands(p) == {"Energy.Active.Import.Register", "Current.Import"}
    assert contexts(p) == {"Trigger"}
    currents = [float(sv["value"]) for mv in p["meterValue"] for sv in mv["sampledValue"]
                if sv["measurand"] == "Current.Import"]
    assert len(currents) == 3 and max(currents) > 0
    assert answered_before(csms, trigger_id, record.unique_id)


async def test_boot_notification_after_acceptance_is_rejected(ready: E2E) -> None:
    e2e, csms = ready, ready.csms
    mark = csms.mark()
    status, _ = await trigger(csms, "BootNotification")
    assert status == "Rejected"
    assert await nothing_more(e2e, "BootNotification", mark) == []


@pytest.mark.csms(boot_statuses=["Pending", "Accepted"], boot_interval=3600)
async def test_boot_notification_while_pending_is_sent_at_once(e2e: E2E) -> None:
    csms = e2e.csms
    await e2e.cp.start()
    await e2e.unless_exited(csms.wait_for("BootNotification", timeout=WAIT), "the first BootNotification")
    # Pending with an interval of an hour (six minutes here): only the trigger brings the next boot.
    mark = csms.mark()
    status, trigger_id = await trigger(csms, "BootNotification")
    assert status == "Accepted"
    boot = await csms.wait_for("BootNotification", timeout=WAIT, since=mark)
    assert answered_before(csms, trigger_id, boot.unique_id)
    await e2e.wait_status(1, "Available", since=mark)


@pytest.mark.csms(boot_statuses=["Pending", "Accepted"], boot_interval=3600)
async def test_triggers_are_answered_while_pending(e2e: E2E) -> None:
    """While Pending the charge point sends only what the CSMS triggers."""
    csms = e2e.csms
    await e2e.cp.start()
    await e2e.unless_exited(csms.wait_for("BootNotification", timeout=WAIT), "the first BootNotification")
    mark = csms.mark()
    status, _ = await trigger(csms, "StatusNotification", 1)
    assert status == "Accepted"
    record = await csms.wait_for("StatusNotification", timeout=WAIT, since=mark)
    assert (record.payload["connectorId"], record.payload["status"]) == (1, "Available")
    status, _ = await trigger(csms, "Heartbeat")
    assert status == "Accepted"
    await csms.wait_for("Heartbeat", timeout=WAIT, since=mark)
    assert [r.action for r in csms.received[mark:]] == ["StatusNotification", "Heartbeat"]
