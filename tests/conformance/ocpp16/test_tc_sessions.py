"""OCA OCPP 1.6 compliance cases, Charge Point side: local charging sessions — plug or badge
first, the connection timeout, EV side disconnect, cached ids, refused ids, lock failure and
stopping by the same tag or a tag of the same group.

The simulated EV's `unplug` takes the cable out on both sides at once: the board has no state in
which the cable hangs in the socket without a car. Where a case unplugs the EV side and later the
charge point side, both happen at that one moment."""
from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import pytest
from ocpp.v16 import call

from e2e_harness import TAGS, WAIT, eventually
from oca16 import Station, authorized, charging, first_index, lock_fault_kind, transaction_id

pytestmark = [pytest.mark.asyncio(loop_scope="module"), pytest.mark.timeout(60)]

PARENTS = {"FLEET-1": "FLEET", "FLEET-2": "FLEET"}
CSMS_KWARGS = {"tags": {**TAGS, "TAG-EXPIRED": "Expired", "FLEET-1": "Accepted", "FLEET-2": "Accepted",
                        "CACHED-1": "Accepted"}}


@contextmanager
def with_parents(st: Station) -> Iterator[None]:
    """The CSMS answers Authorize and StartTransaction with the tag's parentIdTag."""
    csms = st.csms
    saved = dict(csms.handlers)

    def info(tag: str) -> dict[str, Any]:
        found = csms.id_tag_info(tag)
        return {**found, "parentIdTag": PARENTS[tag]} if tag in PARENTS else found

    csms.handlers["Authorize"] = lambda p: {"idTagInfo": info(p["idTag"])}
    start = saved["StartTransaction"]
    csms.handlers["StartTransaction"] = lambda p: {**start(p), "idTagInfo": info(p["idTag"])}
    try:
        yield
    finally:
        csms.handlers.clear()
        csms.handlers.update(saved)


async def test_tc_003_cs_regular_charging_session_plugin_first(cp: Station) -> None:
    """TC_003_CS Regular Charging Session - Plugin First.

    Cable in: Preparing; tag: Authorize (Accepted), then StartTransaction and Charging (in
    either order)."""
    csms, mark = cp.csms, cp.csms.mark()
    await cp.sim_ok("plug", 1)
    await cp.wait_status(1, "Preparing", since=mark)
    await cp.sim_ok("tap", "TAG-OK")
    start = await csms.wait_for("StartTransaction", timeout=WAIT, since=mark)
    await cp.sim_ok("ev-state", 1, "C")
    await cp.wait_status(1, "Charging", since=mark)
    preparing = first_index(csms, "StatusNotification", mark, lambda p: p["status"] == "Preparing")
    auth = first_index(csms, "Authorize", mark)
    assert preparing < auth < csms.received.index(start)
    assert csms.received[auth].payload == {"idTag": "TAG-OK"}
    assert start.payload["connectorId"] == 1 and start.payload["idTag"] == "TAG-OK"
    assert isinstance(start.payload["meterStart"], int)
    assert cp.statuses(1, mark)[0] == "Preparing" and cp.statuses(1, mark)[-1] == "Charging"
    await transaction_id(cp, start)


async def test_tc_004_1_cs_regular_charging_session_identification_first(cp: Station) -> None:
    """TC_004_1_CS Regular Charging Session – Identification First.

    MeterValueSampleInterval configured; Authorized first, then the cable: StartTransaction and
    Charging, and the sampled meter values of the transaction follow."""
    assert await cp.configure("MeterValueSampleInterval", "10") == "Accepted"
    csms = cp.csms
    mark = await authorized(cp)
    assert "StartTransaction" not in cp.actions(mark)
    await cp.sim_ok("plug", 1)
    start = await csms.wait_for("StartTransaction", timeout=WAIT, since=mark)
    await cp.sim_ok("ev-state", 1, "C")
    await cp.wait_status(1, "Charging", since=mark)
    tx_id = await transaction_id(cp, start)
    sample = await csms.wait_for("MeterValues", lambda p: p.get("transactionId") == tx_id, timeout=WAIT, since=mark)
    contexts = {sv.get("context", "Sample.Periodic") for mv in sample.payload["meterValue"] for sv in mv["sampledValue"]}
    assert contexts == {"Sample.Periodic"}


async def test_tc_004_2_cs_regular_charging_session_identification_first_connection_timeout(cp: Station) -> None:
    """TC_004_2_CS Regular Charging Session – Identification First - ConnectionTimeOut.

    Authorized, no cable within ConnectionTimeOut: the connector is reported Available again and
    no transaction starts."""
    assert await cp.configure("ConnectionTimeOut", "10") == "Accepted"
    mark = await authorized(cp)
    await cp.wait_status(1, "Available", since=mark)
    assert cp.statuses(1, mark) == ["Preparing", "Available"]
    assert "StartTransaction" not in cp.actions(mark)


async def test_tc_005_1_cs_ev_side_disconnected_stop_true_unlock_true(cp: Station) -> None:
    """TC_005_1_CS EV Side Disconnected - StopTransactionOnEVSideDisconnect = true -
    UnlockConnectorOnEVSideDisconnect = true.

    The EV side unplugged while charging: StopTransaction with reason EVDisconnected, the lock
    released, and the connector Available once the cable is out."""
    for key, value in (("MinimumStatusDuration", "0"), ("StopTransactionOnEVSideDisconnect", "true"),
                       ("UnlockConnectorOnEVSideDisconnect", "true")):
        assert await cp.configure(key, value) == "Accepted"
    tx_id, _ = await charging(cp)
    mark = cp.csms.mark()
    await cp.sim_ok("unplug", 1)
    stop = await cp.csms.wait_for("StopTransaction", timeout=WAIT, since=mark)
    assert stop.payload["transactionId"] == tx_id and stop.payload["reason"] == "EVDisconnected"
    await cp.wait_status(1, "Available", since=mark)
    # §4.9: SuspendedEV/SuspendedEVSE need an EV connected; from the unplug on there is none.
    assert set(cp.statuses(1, mark)) <= {"Finishing", "Available"}, cp.statuses(1, mark)
    assert (await cp.evse())["locked"] is False


async def test_tc_005_2_cs_ev_side_disconnected_stop_true_unlock_false(cp: Station) -> None:
    """TC_005_2_CS EV Side Disconnected - StopTransactionOnEVSideDisconnect = true -
    UnlockConnectorOnEVSideDisconnect = false.

    The EV side unplugged: StopTransaction EVDisconnected, the lock kept closed; UnlockConnector:
    Unlocked and the lock opens; the connector Available. The case expects Finishing while the
    cable hangs in the socket; on the simulated board the cable leaves the socket with the EV, so
    only Finishing or Available may follow the unplug (§4.9)."""
    for key, value in (("MinimumStatusDuration", "0"), ("StopTransactionOnEVSideDisconnect", "true"),
                       ("UnlockConnectorOnEVSideDisconnect", "false")):
        assert await cp.configure(key, value) == "Accepted"
    tx_id, _ = await charging(cp)
    mark = cp.csms.mark()
    await cp.sim_ok("unplug", 1)
    stop = await cp.csms.wait_for("StopTransaction", timeout=WAIT, since=mark)
    assert stop.payload["transactionId"] == tx_id and stop.payload["reason"] == "EVDisconnected"
    held = await cp.wait_evse(lambda e: e["local_transaction_id"] is None, what="the transaction to end")
    assert held["locked"] is True
    unlock = await cp.call(call.UnlockConnector(connector_id=1))
    assert unlock.status == "Unlocked"
    await cp.wait_evse(lambda e: e["locked"] is False and e["connector_status"] == "Available",
                       what="the lock open and the connector Available")
    await cp.wait_status(1, "Available", since=mark)
    assert set(cp.statuses(1, mark)) <= {"Finishing", "Available"}, cp.statuses(1, mark)


async def test_tc_005_3_cs_ev_side_disconnected_stop_false_unlock_false(cp: Station) -> None:
    """TC_005_3_CS EV Side Disconnected - StopTransactionOnEVSideDisconnect = false -
    UnlockConnectorOnEVSideDisconnect = false.

    The EV side unplugged: the transaction goes on (SuspendedEV, no StopTransaction);
    RemoteStopTransaction: Accepted, then StopTransaction with reason Remote. The case expects
    Finishing while the cable hangs in the socket; on the simulated board it left with the EV, so
    Finishing or Available may follow; UnlockConnector then releases the lock."""
    for key, value in (("MinimumStatusDuration", "0"), ("StopTransactionOnEVSideDisconnect", "false"),
                       ("UnlockConnectorOnEVSideDisconnect", "false")):
        assert await cp.configure(key, value) == "Accepted"
    tx_id, _ = await charging(cp)
    mark = cp.csms.mark()
    await cp.sim_ok("unplug", 1)
    await cp.wait_status(1, "SuspendedEV", since=mark)
    await cp.round_trip()
    assert "StopTransaction" not in cp.actions(mark)
    assert (await cp.evse())["local_transaction_id"] is not None
    result = await cp.call(call.RemoteStopTransaction(transaction_id=tx_id))
    assert result.status == "Accepted"
    stop = await cp.csms.wait_for("StopTransaction", timeout=WAIT, since=mark)
    assert stop.payload["transactionId"] == tx_id and stop.payload["reason"] == "Remote"
    after_stop = cp.csms.received.index(stop)
    assert (await cp.call(call.UnlockConnector(connector_id=1))).status == "Unlocked"
    await cp.wait_status(1, "Available", since=mark)
    assert set(cp.statuses(1, after_stop)) <= {"Finishing", "Available"}, cp.statuses(1, after_stop)
    assert (await cp.wait_evse(lambda e: e["connector_status"] == "Available"))["locked"] is False


async def test_tc_007_cs_regular_start_charging_session_cached_id(cp: Station) -> None:
    """TC_007_CS Regular Start Charging Session – Cached Id.

    AuthorizationCacheEnabled and LocalPreAuthorize true, the tag in the cache (from an earlier
    Authorize): the tag presented is Preparing at once without an Authorize.req; the cable:
    StartTransaction (Accepted) and Charging."""
    for key, value in (("AuthorizationCacheEnabled", "true"), ("LocalPreAuthorize", "true"),
                       ("ConnectionTimeOut", "5")):
        assert await cp.configure(key, value) == "Accepted"
    csms = cp.csms
    assert (await cp.call(call.ClearCache())).status == "Accepted"
    warm = await authorized(cp, "CACHED-1")  # Authorize.conf Accepted puts the tag in the cache
    await csms.wait_for("Authorize", lambda p: p["idTag"] == "CACHED-1", timeout=WAIT, since=warm)
    await cp.wait_status(1, "Available", since=warm)

    mark = await authorized(cp, "CACHED-1")
    await cp.sim_ok("plug", 1)
    start = await csms.wait_for("StartTransaction", timeout=WAIT, since=mark)
    await cp.sim_ok("ev-state", 1, "C")
    await cp.wait_status(1, "Charging", since=mark)
    assert "Authorize" not in cp.actions(mark)
    assert start.payload["idTag"] == "CACHED-1"
    assert cp.statuses(1, mark)[0] == "Preparing"


@pytest.mark.parametrize("case, tag, status", [
    ("TC_023_1_CS", "TAG-INVALID", "Invalid"),
    ("TC_023_2_CS", "TAG-EXPIRED", "Expired"),
    ("TC_023_3_CS", "TAG-BLOCKED", "Blocked"),
])
async def test_tc_023_cs_start_charging_session_authorize_refused(cp: Station, case: str, tag: str,
                                                                  status: str) -> None:
    """TC_023_1_CS Start Charging Session – Authorize invalid; TC_023_2_CS … – Authorize
    expired; TC_023_3_CS … – Authorize blocked.

    MinimumStatusDuration 10, LocalPreAuthorize true. The refused tag is asked with Authorize.req
    (answered Invalid, Expired or Blocked); the cable then brings Preparing, and no transaction
    starts."""
    assert await cp.configure("MinimumStatusDuration", "10") == "Accepted"
    assert await cp.configure("LocalPreAuthorize", "true") == "Accepted"
    csms, mark = cp.csms, cp.csms.mark()
    await cp.sim_ok("tap", tag)
    auth = await csms.wait_for("Authorize", timeout=WAIT, since=mark)
    assert auth.payload == {"idTag": tag}
    await eventually(lambda: _badges_read(cp), what="the badge to be handled")
    await cp.sim_ok("plug", 1)
    await cp.wait_status(1, "Preparing", since=mark)
    await cp.round_trip()
    evse = await cp.evse()
    assert evse["local_transaction_id"] is None and evse["contactor_closed"] is False
    assert "StartTransaction" not in cp.actions(mark)


async def _badges_read(st: Station) -> bool:
    return (await st.status())["pending_badges"] == 0


async def test_tc_024_cs_start_charging_session_lock_failure(cp: Station) -> None:
    """TC_024_CS Start Charging Session - Lock Failure.

    Remote start (Authorize when AuthorizeRemoteTxRequests), Preparing; the cable goes in but the
    lock fails: StatusNotification Faulted with ConnectorLockFailure (the case's tool
    validation), and no energy reaches the unlocked socket. Borne starts the transaction when
    the authorised cable is plugged in, before the lock reports (OCPP 1.6 §4.8 leaves that moment
    to the charge point), so a StartTransaction may precede the fault; the transaction ends when
    the cable is taken out."""
    kind = lock_fault_kind()
    if kind is None:
        pytest.skip("the simulated board has no lock fault to inject")
    csms, mark = cp.csms, cp.csms.mark()
    keys = (await cp.call(call.GetConfiguration(key=["AuthorizeRemoteTxRequests"]))).configuration_key
    assert [k["key"] for k in keys] == ["AuthorizeRemoteTxRequests"]
    assert (await cp.call(call.RemoteStartTransaction(id_tag="TAG-OK", connector_id=1))).status == "Accepted"
    if keys[0]["value"] == "true":
        await csms.wait_for("Authorize", timeout=WAIT, since=mark)
    await cp.wait_status(1, "Preparing", since=mark)
    await cp.sim_ok("fault", 1, kind)
    await cp.sim_ok("plug", 1)
    await cp.sim_ok("ev-state", 1, "C")
    faulted = await cp.wait_status(1, "Faulted", since=mark)
    assert faulted["errorCode"] == "ConnectorLockFailure"
    await cp.round_trip()
    assert "Charging" not in cp.statuses(1, mark), "energy reached a socket whose lock failed"
    assert not (await cp.evse(1))["contactor_closed"]
    await cp.sim_ok("clear", 1, kind)
    await cp.sim_ok("unplug", 1)


async def test_tc_068_cs_stop_transaction_idtag_matches_start(cp: Station) -> None:
    """TC_068_CS Stop transaction - IdTag in StopTransaction matches IdTag in StartTransaction.

    Charging; another valid tag presented: neither Authorize.req nor StopTransaction (one reader,
    one connector); the starting tag: StopTransaction with that idTag, then Finishing."""
    tx_id, start = await charging(cp, "TAG-OK")
    csms, mark = cp.csms, cp.csms.mark()
    await cp.sim_ok("tap", "TAG-OK2")
    await eventually(lambda: _badges_read(cp), what="the other badge to be handled")
    await cp.round_trip()
    assert "Authorize" not in cp.actions(mark) and "StopTransaction" not in cp.actions(mark)
    await cp.sim_ok("tap", "TAG-OK")
    stop = await csms.wait_for("StopTransaction", timeout=WAIT, since=mark)
    assert stop.payload["transactionId"] == tx_id
    assert stop.payload["idTag"] == start.payload["idTag"]
    assert stop.payload.get("reason", "Local") == "Local"
    await cp.wait_status(1, "Finishing", since=mark)


async def test_tc_069_cs_stop_transaction_parent_idtag_matches_start(cp: Station) -> None:
    """TC_069_CS Stop transaction - ParentIdTag in StopTransaction matches ParentIdTag in
    StartTransaction.

    Charging with FLEET-1 (parent FLEET); FLEET-2 (same parent) presented: Authorize.req for
    FLEET-2, StopTransaction with idTag FLEET-2, then Finishing (OCPP 1.6 §3.10: another token of
    the same group may stop the transaction)."""
    with with_parents(cp):
        tx_id, _ = await charging(cp, "FLEET-1")
        csms, mark = cp.csms, cp.csms.mark()
        await cp.sim_ok("tap", "FLEET-2")
        auth = await csms.wait_for("Authorize", timeout=5, since=mark)
        assert auth.payload == {"idTag": "FLEET-2"}
        stop = await csms.wait_for("StopTransaction", timeout=WAIT, since=mark)
        assert stop.payload["transactionId"] == tx_id and stop.payload["idTag"] == "FLEET-2"
        await cp.wait_status(1, "Finishing", since=mark)
