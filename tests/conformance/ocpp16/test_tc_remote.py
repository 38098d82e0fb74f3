"""OCA OCPP 1.6 compliance cases, Charge Point side: remote start and stop (TC_010_CS,
TC_011_1_CS, TC_011_2_CS, TC_012_CS, TC_026_CS, TC_027_CS, TC_028_CS)."""
from __future__ import annotations

import pytest
from ocpp.exceptions import OCPPError
from ocpp.v16 import call

from e2e_harness import WAIT
from oca16 import Station, charging, first_index, transaction_id

pytestmark = [pytest.mark.asyncio(loop_scope="module"), pytest.mark.timeout(60)]


async def authorize_remote(st: Station) -> bool:
    """GetConfiguration of AuthorizeRemoteTxRequests, as the cases' first step does."""
    keys = (await st.call(call.GetConfiguration(key=["AuthorizeRemoteTxRequests"]))).configuration_key
    assert [k["key"] for k in keys] == ["AuthorizeRemoteTxRequests"]
    return keys[0]["value"] == "true"


async def test_tc_010_cs_remote_start_charging_session_cable_plugged_in_first(cp: Station) -> None:
    """TC_010_CS Remote Start Charging Session – Cable Plugged in First.

    Cable in: Preparing on the connector; RemoteStartTransaction for it: Accepted; Authorize when
    AuthorizeRemoteTxRequests is true; StartTransaction (Accepted) and Charging."""
    csms, mark = cp.csms, cp.csms.mark()
    check_tag = await authorize_remote(cp)
    await cp.sim_ok("plug", 1)
    preparing = await cp.wait_status(1, "Preparing", since=mark)
    assert preparing["connectorId"] == 1
    result = await cp.call(call.RemoteStartTransaction(id_tag="TAG-OK", connector_id=1))
    assert result.status == "Accepted"
    start = await csms.wait_for("StartTransaction", timeout=WAIT, since=mark)
    assert start.payload["connectorId"] == 1 and start.payload["idTag"] == "TAG-OK"
    if check_tag:
        assert first_index(csms, "Authorize", mark) < csms.received.index(start)
    await cp.sim_ok("ev-state", 1, "C")
    await cp.wait_status(1, "Charging", since=mark)
    await transaction_id(cp, start)


async def test_tc_011_1_cs_remote_start_charging_session_remote_start_first(cp: Station) -> None:
    """TC_011_1_CS Remote Start Charging Session – Remote Start First.

    RemoteStartTransaction: Accepted; Authorize (AuthorizeRemoteTxRequests true); Preparing; the
    cable: StartTransaction and Charging."""
    csms, mark = cp.csms, cp.csms.mark()
    check_tag = await authorize_remote(cp)
    assert (await cp.call(call.RemoteStartTransaction(id_tag="TAG-OK", connector_id=1))).status == "Accepted"
    if check_tag:
        await csms.wait_for("Authorize", lambda p: p["idTag"] == "TAG-OK", timeout=WAIT, since=mark)
    await cp.wait_status(1, "Preparing", since=mark)
    assert "StartTransaction" not in cp.actions(mark)
    await cp.sim_ok("plug", 1)
    start = await csms.wait_for("StartTransaction", timeout=WAIT, since=mark)
    assert start.payload["idTag"] == "TAG-OK"
    await cp.sim_ok("ev-state", 1, "C")
    await cp.wait_status(1, "Charging", since=mark)


async def test_tc_011_2_cs_remote_start_charging_session_time_out(cp: Station) -> None:
    """TC_011_2_CS Remote Start Charging Session – Time Out.

    ConnectionTimeOut configured; RemoteStartTransaction Accepted, Authorize, Preparing; no
    cable within the timeout: Available, and no transaction."""
    assert await cp.configure("ConnectionTimeOut", "10") == "Accepted"
    csms, mark = cp.csms, cp.csms.mark()
    check_tag = await authorize_remote(cp)
    assert (await cp.call(call.RemoteStartTransaction(id_tag="TAG-OK", connector_id=1))).status == "Accepted"
    if check_tag:
        await csms.wait_for("Authorize", timeout=WAIT, since=mark)
    await cp.wait_status(1, "Preparing", since=mark)
    await cp.wait_status(1, "Available", since=mark)
    assert cp.statuses(1, mark) == ["Preparing", "Available"]
    assert "StartTransaction" not in cp.actions(mark)


async def test_tc_012_cs_remote_stop_charging_session(cp: Station) -> None:
    """TC_012_CS Remote Stop Charging Session.

    Charging; RemoteStopTransaction: Accepted; StopTransaction with reason Remote and Finishing."""
    tx_id, _ = await charging(cp)
    mark = cp.csms.mark()
    assert (await cp.call(call.RemoteStopTransaction(transaction_id=tx_id))).status == "Accepted"
    stop = await cp.csms.wait_for("StopTransaction", timeout=WAIT, since=mark)
    assert stop.payload["transactionId"] == tx_id and stop.payload["reason"] == "Remote"
    await cp.wait_status(1, "Finishing", since=mark)


async def test_tc_026_cs_remote_start_charging_session_rejected(cp: Station) -> None:
    """TC_026_CS Remote Start Charging Session – Rejected.

    LocalPreAuthorize false; Charging; RemoteStartTransaction for the same connector: Rejected."""
    assert await cp.configure("LocalPreAuthorize", "false") == "Accepted"
    await charging(cp)
    mark = cp.csms.mark()
    result = await cp.call(call.RemoteStartTransaction(id_tag="TAG-OK2", connector_id=1))
    assert result.status == "Rejected"
    await cp.round_trip()
    assert "StartTransaction" not in cp.actions(mark) and "Authorize" not in cp.actions(mark)


async def test_tc_027_cs_remote_start_transaction_connector_id_shall_not_be_0(cp: Station) -> None:
    """TC_027_CS Remote start transaction - connector id shall not be 0.

    RemoteStartTransaction with connectorId 0: Rejected (the case also admits a CALLERROR);
    OCPP 1.6 §6.33: connectorId SHALL be > 0."""
    mark = cp.csms.mark()
    try:
        result = await cp.call(call.RemoteStartTransaction(id_tag="TAG-OK", connector_id=0))
    except OCPPError as error:
        assert error.code in ("PropertyConstraintViolation", "OccurenceConstraintViolation"), error
    else:
        assert result.status == "Rejected"
    await cp.round_trip()
    assert "Authorize" not in cp.actions(mark) and cp.statuses(1, mark) == []


async def test_tc_028_cs_remote_stop_transaction_rejected(cp: Station) -> None:
    """TC_028_CS Remote Stop Transaction – Rejected.

    RemoteStopTransaction for a transaction the charge point does not have: Rejected."""
    mark = cp.csms.mark()
    result = await cp.call(call.RemoteStopTransaction(transaction_id=987654))
    assert result.status == "Rejected"
    await cp.round_trip()
    assert "StopTransaction" not in cp.actions(mark)
