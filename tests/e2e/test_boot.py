"""Boot sequence of the real controller process: BootNotification first, nothing else before
the CSMS accepts it, then the status of every connector."""
from __future__ import annotations

from importlib import metadata

import pytest
from ocpp.v16 import call

from e2e_harness import CP_ID, MODEL, TIME_SCALE, VENDOR, WAIT, E2E, eventually

pytestmark = pytest.mark.timeout(60)


async def test_boot_accepted_then_statuses(e2e: E2E) -> None:
    csms = e2e.csms
    await e2e.cp.start()
    assert await csms.wait_connected(timeout=WAIT) == CP_ID
    assert csms.subprotocol == "ocpp1.6"
    assert csms.connection.path == f"/ocpp/{CP_ID}"

    boot = await csms.wait_for("BootNotification", timeout=WAIT)
    # No firmware_version in the configuration: the version of the running release is reported.
    assert boot.payload == {"chargePointVendor": VENDOR, "chargePointModel": MODEL,
                            "firmwareVersion": metadata.version("borne")}

    s0 = await e2e.wait_status(0, "Available")
    s1 = await e2e.wait_status(1, "Available")
    assert s0["errorCode"] == "NoError" and s1["errorCode"] == "NoError"
    # BootNotification is the very first message, and there is exactly one.
    actions = e2e.actions()
    assert actions[0] == "BootNotification"
    assert actions.count("BootNotification") == 1

    status = await e2e.status()
    assert status["ocpp"]["state"] == "accepted"
    evse = status["evses"][0]
    assert evse["connector_status"] == "Available"
    assert evse["cp_state"] == "A"
    assert evse["contactor_closed"] is False


@pytest.mark.csms(boot_statuses=["Pending"], boot_interval=2)
async def test_boot_pending_then_accepted(e2e: E2E) -> None:
    csms = e2e.csms
    await e2e.cp.start()
    await csms.wait_connected(timeout=WAIT)
    # Pending answers: the CP keeps retrying BootNotification every interval (0.2 s real).
    await eventually(lambda: len(csms.messages("BootNotification")) >= 2, what="a second BootNotification")
    ocpp_state = (await e2e.status())["ocpp"]
    assert ocpp_state["boot_status"] == "Pending"
    assert ocpp_state["state"] in ("pending", "booting")  # "booting" while it asks again

    # While Pending the CSMS may not start a transaction (OCPP 1.6 §4.2).
    result = await csms.call(call.RemoteStartTransaction(id_tag="TAG-OK", connector_id=1), timeout=WAIT)
    assert result.status == "Rejected"
    await e2e.sim_ok("plug", 1)  # a status change while Pending must not be reported yet
    await eventually(lambda: len(csms.messages("BootNotification")) >= 4, what="more BootNotifications")
    assert set(e2e.actions()) == {"BootNotification"}

    csms.boot_statuses = ["Accepted"]
    mark = csms.mark()
    await e2e.wait_status(0, "Available", since=mark)
    await e2e.wait_status(1, "Preparing", since=mark)
    actions = e2e.actions()
    first_other = next(i for i, a in enumerate(actions) if a != "BootNotification")
    assert "BootNotification" not in actions[first_other:]
    assert (await e2e.status())["ocpp"]["state"] == "accepted"
    # The remote start during Pending was refused: it is not acted on later either.
    assert "Authorize" not in actions and "StartTransaction" not in actions


@pytest.mark.csms(boot_statuses=["Rejected", "Accepted"], boot_interval=5)
async def test_boot_rejected_then_accepted(e2e: E2E) -> None:
    csms = e2e.csms
    await e2e.cp.start()
    await e2e.wait_status(1, "Available")
    boots = [r for r in csms.received if r.action == "BootNotification"]
    assert len(boots) == 2
    assert e2e.actions()[:2] == ["BootNotification", "BootNotification"]
    assert "BootNotification" not in e2e.actions()[2:]
    # The retry waited the interval the CSMS gave (5 s simulated = 0.5 s real); allow for
    # timer granularity but not for an early retry.
    gap = (boots[1].at - boots[0].at).total_seconds()
    assert gap >= 0.8 * 5 / TIME_SCALE, f"BootNotification retried after {gap:.3f}s"
