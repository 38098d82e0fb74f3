"""OCA OCPP 1.6 compliance cases, Charge Point side: cold boot (TC_001_CS, TC_002_CS).

Each case powers up a controller of its own. The controller runs TIME_SCALE times faster than the
test, so an interval of 5 s is half a second here."""
from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

import pytest
from ocpp.v16 import call

from csms import TestCsms, utc_now_z
from e2e_harness import TIME_SCALE, WAIT
from oca16 import Station, first_index, get_configuration

pytestmark = [pytest.mark.asyncio(loop_scope="module"), pytest.mark.timeout(60)]

RETRY_INTERVAL_S = 5
HEARTBEAT_S = 5
NewStation = Callable[..., Awaitable[Station]]


def boot_answers(csms: TestCsms, *answers: tuple[str, int]) -> None:
    """Answer the BootNotifications in turn with these (status, interval); the last one repeats."""
    queue = list(answers)

    def answer(payload: dict[str, Any]) -> dict[str, Any]:
        status, interval = queue.pop(0) if len(queue) > 1 else queue[0]
        return {"status": status, "currentTime": utc_now_z(), "interval": interval}
    csms.handlers["BootNotification"] = answer


def simulated_gap(csms: TestCsms, first: int, second: int) -> float:
    """Seconds between two received messages on the controller's clock."""
    return (csms.received[second].at - csms.received[first].at).total_seconds() * TIME_SCALE


async def test_tc_001_cs_cold_boot_charge_point(fresh_station: NewStation) -> None:
    """TC_001_CS Cold Boot Charge Point.

    Boot answered Rejected: the next BootNotification comes after the interval given and nothing
    else is sent meanwhile; answered Accepted: a StatusNotification Available for connector 0 and
    every connector, then a Heartbeat every interval of the accepted answer."""
    st = await fresh_station()
    csms = st.csms
    boot_answers(csms, ("Rejected", RETRY_INTERVAL_S), ("Accepted", HEARTBEAT_S))
    await st.cp.start()
    await st.unless_exited(csms.wait_for("BootNotification", timeout=WAIT), "the first BootNotification")
    await st.unless_exited(csms.wait_for("BootNotification", timeout=WAIT, since=1), "the second BootNotification")
    boots = [i for i, r in enumerate(csms.received) if r.action == "BootNotification"]
    assert boots[:2] == [0, 1], [r.action for r in csms.received]
    assert simulated_gap(csms, 0, 1) >= RETRY_INTERVAL_S * 0.8
    boot = csms.received[0].payload
    assert boot["chargePointVendor"] and boot["chargePointModel"]
    assert csms.received[1].payload == boot

    await st.wait_status(0, "Available", since=2)
    await st.wait_status(1, "Available", since=2)
    await csms.wait_for("Heartbeat", timeout=WAIT, since=2)
    first = first_index(csms, "Heartbeat", since=2)
    await csms.wait_for("Heartbeat", timeout=WAIT, since=first + 1)
    second = first_index(csms, "Heartbeat", since=first + 1)
    assert HEARTBEAT_S * 0.7 <= simulated_gap(csms, first, second) <= HEARTBEAT_S * 3
    status_before_heartbeat = [r.payload["connectorId"] for r in csms.received[2:first]
                               if r.action == "StatusNotification"]
    assert sorted(set(status_before_heartbeat)) == [0, 1]
    keys = await get_configuration(csms, "HeartbeatInterval")
    assert keys["HeartbeatInterval"] == str(HEARTBEAT_S)


async def test_tc_002_cs_cold_boot_charge_point_pending(fresh_station: NewStation) -> None:
    """TC_002_CS Cold Boot Charge Point - Pending.

    While Pending the charge point answers GetConfiguration and ChangeConfiguration (Accepted)
    and sends nothing but the next BootNotification, after the interval; once Accepted it reports
    Available for connector 0 and every connector and sends Heartbeats."""
    st = await fresh_station()
    csms = st.csms
    boot_answers(csms, ("Pending", RETRY_INTERVAL_S * 2), ("Accepted", HEARTBEAT_S))
    await st.cp.start()
    await st.unless_exited(csms.wait_for("BootNotification", timeout=WAIT), "the first BootNotification")
    keys = (await csms.call(call.GetConfiguration(), timeout=WAIT)).configuration_key
    assert {"HeartbeatInterval", "MeterValueSampleInterval"} <= {k["key"] for k in keys}
    changed = await csms.call(call.ChangeConfiguration(key="MeterValueSampleInterval", value="30"), timeout=WAIT)
    assert changed.status == "Accepted"

    await st.unless_exited(csms.wait_for("BootNotification", timeout=WAIT, since=1), "the second BootNotification")
    second = first_index(csms, "BootNotification", since=1)
    assert [r.action for r in csms.received[:second + 1]] == ["BootNotification", "BootNotification"]
    assert simulated_gap(csms, 0, second) >= RETRY_INTERVAL_S * 2 * 0.8
    await st.wait_status(0, "Available", since=second)
    await st.wait_status(1, "Available", since=second)
    await csms.wait_for("Heartbeat", timeout=WAIT, since=second)
    assert (await get_configuration(csms, "MeterValueSampleInterval"))["MeterValueSampleInterval"] == "30"
