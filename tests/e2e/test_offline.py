"""Offline operation end to end: whole sessions while the CSMS is away (local list, technician
whitelist, unknown tags), their replay in order and exactly once when it comes back, a CSMS
restart in the middle of a session, a link cut while a call is in flight, and what
`chargepoint status` shows while offline."""
from __future__ import annotations

import asyncio

import pytest
from ocpp.v16 import call

from csms import NO_REPLY, Received, assert_utc_z
from e2e_harness import TAGS, WAIT, E2E, eventually
from offline_helpers import (
    answered_ids, badges_read, check_delivery, check_transaction_messages, come_online,
    controller_status, energy_of, entry, go_offline, local_list_version, queue_length,
    send_local_list, wait_ended, wait_queue_empty, wait_started,
)

pytestmark = pytest.mark.timeout(90)

WHITELISTED = "TECH-0042"


def message_time(record: Received) -> str:
    p = record.payload
    return p["meterValue"][0]["timestamp"] if record.action == "MeterValues" else p["timestamp"]


async def charge_until_samples(e2e: E2E, samples: int) -> None:
    """EV to C, then charge until `samples` more periodic MeterValues are queued (offline)."""
    await e2e.sim_ok("ev-state", 1, "C")
    await e2e.wait_evse(lambda e: e["contactor_closed"] and e["power_w"] > 0, what="charging")
    queued = await queue_length(e2e)

    async def sampled() -> bool:
        return await queue_length(e2e) >= queued + samples
    await eventually(sampled, interval=0.1, what=f"{samples} MeterValues to be queued")


@pytest.mark.csms(tags={**TAGS, "LIST-OK": "Accepted", "LIST-BLOCKED": "Blocked", WHITELISTED: "Accepted"})
@pytest.mark.cp_config(auth={"whitelist": [WHITELISTED]})
async def test_charge_wholly_offline_with_local_list_then_replay(ready: E2E) -> None:
    e2e, csms = ready, ready.csms
    assert await send_local_list(csms, 1, "Full", [entry("LIST-OK", "Accepted"),
                                                   entry("LIST-BLOCKED", "Blocked")]) == "Accepted"
    assert await local_list_version(csms) == 1
    assert await e2e.change_configuration("MeterValueSampleInterval", "5") == "Accepted"
    await go_offline(e2e)
    offline = await e2e.status()
    offline_since = assert_utc_z(offline["ocpp"]["offline_since"])

    # Session 1: a tag from the local list.
    await e2e.sim_ok("plug", 1)
    await e2e.sim_ok("tap", "LIST-OK")
    first = await wait_started(e2e, "an offline session for LIST-OK")
    assert first["id_tag"] == "LIST-OK" and first["transaction_id"] is None
    await charge_until_samples(e2e, 2)
    await e2e.sim_ok("tap", "LIST-OK")
    await wait_ended(e2e)
    await e2e.sim_ok("unplug", 1)
    await e2e.wait_evse(lambda e: e["connector_status"] == "Available", what="Available")

    # A Blocked tag of the list is refused offline; the whitelisted badge tapped after it starts
    # session 2 (badges are handled in order, so this also shows LIST-BLOCKED did not start one).
    await e2e.sim_ok("plug", 1)
    await e2e.wait_evse(lambda e: e["connector_status"] == "Preparing", what="Preparing")
    await e2e.sim_ok("tap", "LIST-BLOCKED")
    await eventually(lambda: badges_read(e2e), what="LIST-BLOCKED to be read")
    await asyncio.sleep(0.3)
    refused = await e2e.evse()
    assert refused["local_transaction_id"] is None and refused["pwm_duty_percent"] == 100.0
    await e2e.sim_ok("tap", WHITELISTED)
    second = await wait_started(e2e, "an offline session for the whitelisted tag")
    assert second["id_tag"] == WHITELISTED
    await charge_until_samples(e2e, 2)
    await e2e.sim_ok("tap", WHITELISTED)
    await wait_ended(e2e)
    await e2e.sim_ok("unplug", 1)
    await e2e.wait_evse(lambda e: e["connector_status"] == "Available", what="Available")

    queued = await queue_length(e2e)
    assert queued >= 2 + 2 + 4  # two starts, two stops, at least two samples each

    mark = await come_online(e2e)
    await csms.wait_for("StopTransaction", timeout=WAIT, since=mark)
    await eventually(lambda: len(csms.messages("StopTransaction")) >= 2, what="both StopTransactions")
    await wait_queue_empty(e2e)
    assert "BootNotification" not in e2e.actions(mark)
    assert "Authorize" not in e2e.actions(mark)  # offline decisions are not asked again

    delivery = check_delivery(csms, since=mark)
    assert not delivery.resends, [r.payload for r in delivery.resends]
    messages = delivery.messages
    assert len(messages) == queued, "every stored message arrives exactly once"
    assert len([r for r in csms.received[mark:] if r.action in ("StartTransaction", "MeterValues",
                                                                 "StopTransaction")]) == queued
    actions = [r.action for r in messages]
    split = actions.index("StopTransaction") + 1
    for part in (actions[:split], actions[split:]):
        assert part[0] == "StartTransaction" and part[-1] == "StopTransaction", actions
        assert set(part[1:-1]) == {"MeterValues"} and len(part) >= 4, actions

    transactions = check_transaction_messages(csms, messages)
    assert [t["start"].payload["idTag"] for t in transactions] == ["LIST-OK", WHITELISTED]
    one, two = transactions
    assert one["id"] != two["id"]
    for tx in transactions:
        start, stop = tx["start"].payload, tx["stop"].payload
        assert start["connectorId"] == 1
        assert stop["transactionId"] == tx["id"]
        assert all(m.payload["transactionId"] == tx["id"] for m in tx["meters"])
        assert stop["reason"] == "Local" and stop["idTag"] == start["idTag"]
        assert stop["meterStop"] > start["meterStart"], "it charged at 22 kW for a while"
        assert len(tx["meters"]) >= 2
    assert two["start"].payload["meterStart"] >= one["stop"].payload["meterStop"]

    # The original, offline times, strictly increasing; all before the reconnection (the
    # controller stamps the statuses it reports on reconnection with its own clock).
    times = [assert_utc_z(message_time(r)) for r in messages]
    assert times == sorted(times) and len(set(times)) == len(times), times
    reconnected_at = assert_utc_z(next(r for r in csms.received[mark:]
                                       if r.action == "StatusNotification").payload["timestamp"])
    assert offline_since < times[0] and times[-1] < reconnected_at
    assert all(p["idTag"] != "LIST-BLOCKED" for p in csms.messages("StartTransaction"))
    status = await e2e.status()
    assert status["ocpp"]["state"] == "accepted" and status["ocpp"]["queue_length"] == 0


MAX_ENERGY_WH = 500  # about 8 s real at 22 kW and time scale 10


@pytest.mark.parametrize(
    "allow, stop_on_invalid, max_energy",
    [(True, True, 0), (True, False, 0), (True, True, MAX_ENERGY_WH), (False, True, 0)],
    ids=["allowed-deauthorized", "allowed-energy-stops", "allowed-max-energy", "refused"],
)
async def test_unknown_id_offline(ready: E2E, allow: bool, stop_on_invalid: bool, max_energy: int) -> None:
    e2e, csms = ready, ready.csms
    tag = "UNKNOWN-77"  # not known to the CSMS (Invalid), not listed, not cached, not whitelisted
    assert await e2e.change_configuration("AllowOfflineTxForUnknownId", str(allow).lower()) == "Accepted"
    assert await e2e.change_configuration("StopTransactionOnInvalidId", str(stop_on_invalid).lower()) == "Accepted"
    assert await e2e.change_configuration("MaxEnergyOnInvalidId", str(max_energy)) == "Accepted"
    await go_offline(e2e)
    await e2e.sim_ok("plug", 1)
    await e2e.wait_evse(lambda e: e["connector_status"] == "Preparing", what="Preparing")
    await e2e.sim_ok("tap", tag)

    if not allow:
        await eventually(lambda: badges_read(e2e), what="the badge to be read")
        await asyncio.sleep(0.5)
        evse = await e2e.evse()
        assert evse["local_transaction_id"] is None and evse["pwm_duty_percent"] == 100.0
        assert await queue_length(e2e) == 0
        mark = await come_online(e2e)
        await e2e.wait_status(1, "Preparing", since=mark)
        await csms.call(call.GetConfiguration(key=["AllowOfflineTxForUnknownId"]), timeout=WAIT)
        assert await queue_length(e2e) == 0
        assert "StartTransaction" not in e2e.actions()
        assert (await e2e.evse())["local_transaction_id"] is None
        return

    started = await wait_started(e2e, "an offline session for an unknown tag")
    assert started["id_tag"] == tag
    await e2e.sim_ok("ev-state", 1, "C")
    await e2e.wait_evse(lambda e: e["contactor_closed"] and e["power_w"] > 0, what="charging")

    mark = await come_online(e2e)
    start = await csms.wait_for("StartTransaction", timeout=WAIT, since=mark)
    assert start.payload["idTag"] == tag
    tx_id = await eventually(lambda: e2e.transaction_id_of(start.unique_id), what="the transactionId")
    assert answered_ids(csms) >= {start.unique_id}
    if stop_on_invalid:
        # The refusal came well before MAX_ENERGY_WH had flowed (the CSMS came back as soon as
        # the EV charged), so with MaxEnergyOnInvalidId the charge goes on up to that much.
        answered_at = (await e2e.evse())["energy_wh"]
        stop = await csms.wait_for("StopTransaction", timeout=WAIT, since=mark)
        assert stop.payload["transactionId"] == tx_id
        assert stop.payload["reason"] == "DeAuthorized"
        meter_start, meter_stop = start.payload["meterStart"], stop.payload["meterStop"]
        assert meter_stop >= meter_start
        if max_energy:
            assert answered_at < meter_start + max_energy
            # Checked every simulated second: a little overshoot (at 22 kW, 200 Wh would be
            # over 30 simulated seconds late).
            assert meter_start + max_energy <= meter_stop < meter_start + max_energy + 200
        else:
            assert meter_stop < meter_start + MAX_ENERGY_WH
        evse = await e2e.wait_evse(lambda e: not e["contactor_closed"] and e["local_transaction_id"] is None,
                                   what="the transaction to be stopped")
        assert evse["pwm_duty_percent"] == 100.0
    else:
        # The energy stops, the transaction goes on.
        evse = await e2e.wait_evse(lambda e: not e["contactor_closed"] and e["pwm_duty_percent"] == 100.0,
                                   what="the energy to stop")
        assert evse["local_transaction_id"] is not None and evse["transaction_id"] == tx_id
        await e2e.wait_status(1, "SuspendedEVSE", since=mark)
        await csms.call(call.GetConfiguration(key=["StopTransactionOnInvalidId"]), timeout=WAIT)
        assert "StopTransaction" not in e2e.actions(mark)
        energy = (await e2e.evse())["energy_wh"]
        await asyncio.sleep(0.5)
        assert (await e2e.evse())["energy_wh"] == energy
        stop_mark = csms.mark()
        await e2e.sim_ok("tap", tag)
        stop = await csms.wait_for("StopTransaction", timeout=WAIT, since=stop_mark)
        assert stop.payload["transactionId"] == tx_id and stop.payload["reason"] == "Local"
    await wait_queue_empty(e2e)
    delivery = check_delivery(csms)
    assert [r.action for r in delivery.messages if r.action != "MeterValues"] == \
        ["StartTransaction", "StopTransaction"]


async def test_csms_restart_mid_session(ready: E2E) -> None:
    e2e, csms = ready, ready.csms
    assert await e2e.change_configuration("MeterValueSampleInterval", "10") == "Accepted"
    tx_id, start = await e2e.start_transaction()
    first_mv = await csms.wait_for("MeterValues", lambda p: p["transactionId"] == tx_id, timeout=WAIT)
    # Stop the CSMS just after an answered sample, so that nothing is in flight (the next
    # sample is due 1 s later): every message must then arrive exactly once.
    await eventually(lambda: first_mv.unique_id in answered_ids(csms), what="the MeterValues answer")
    connections = len(csms.connections)
    await csms.stop()
    offline = await eventually(lambda: _offline_status(e2e), what="the controller to notice")
    assert offline["evses"][0]["connector_status"] == "Charging" and offline["evses"][0]["contactor_closed"]

    async def sampled_offline() -> bool:
        return await queue_length(e2e) >= 2
    await eventually(sampled_offline, interval=0.1, what="MeterValues queued while the CSMS is away")
    evse = await e2e.evse()
    assert evse["contactor_closed"] and evse["transaction_id"] == tx_id  # the session goes on

    mark = csms.mark()
    await csms.start()
    await eventually(lambda: len(csms.connections) > connections and csms.connected, what="a reconnection")
    await e2e.wait_status(1, "Charging", since=mark)
    assert "BootNotification" not in e2e.actions(mark)  # same process: no new boot
    assert e2e.statuses(1, mark) == ["Charging"]
    await eventually(lambda: _queue_drained(e2e), what="the stored samples to be delivered")
    live = csms.mark()
    await csms.wait_for("MeterValues", lambda p: p["transactionId"] == tx_id, timeout=WAIT, since=live)

    stop_mark = csms.mark()
    await e2e.sim_ok("tap", "TAG-OK")
    stop = await csms.wait_for("StopTransaction", timeout=WAIT, since=stop_mark)
    assert stop.payload["transactionId"] == tx_id and stop.payload["reason"] == "Local"
    await wait_queue_empty(e2e)

    delivery = check_delivery(csms)
    # Nothing was in flight when the CSMS stopped (see above); should a sample still have been
    # caught by the stop, it was never answered, and it is sent again: that is no duplicate.
    answered = answered_ids(csms)
    assert all(r.unique_id not in answered for r in delivery.resends), [r.payload for r in delivery.resends]
    (tx,) = check_transaction_messages(csms, delivery.messages)
    assert tx["id"] == tx_id and tx["start"].payload == start
    assert len(tx["meters"]) >= 4
    times = [assert_utc_z(message_time(r)) for r in delivery.messages]
    assert times == sorted(times) and len(set(times)) == len(times)
    energies = [energy_of(m.payload["meterValue"][0]) for m in tx["meters"]]
    assert energies == sorted(energies)


async def _offline_status(e2e: E2E) -> dict | None:
    status = await e2e.status()
    return status if status["ocpp"]["state"] == "disconnected" else None


async def _queue_drained(e2e: E2E) -> bool:
    return await queue_length(e2e) == 0


@pytest.mark.cp_config(ocpp={"response_timeout_s": 30})
@pytest.mark.parametrize("action", ["MeterValues", "StopTransaction"])
async def test_link_cut_during_call(ready: E2E, action: str) -> None:
    """The CSMS never answers a transaction message and the link dies abruptly while it is in
    flight: the controller reconnects at once (not after the 30 s response timeout), sends the
    unanswered message again, and everything else keeps flowing."""
    e2e, csms = ready, ready.csms
    assert await e2e.change_configuration("MeterValueSampleInterval", "5") == "Accepted"
    tx_id, start = await e2e.start_transaction()
    mark = csms.mark()
    csms.queue_replies(action, NO_REPLY)
    if action == "StopTransaction":
        await e2e.sim_ok("tap", "TAG-OK")
    swallowed = await csms.wait_for(action, timeout=WAIT, since=mark)
    await asyncio.sleep(0.3)
    assert swallowed.unique_id not in answered_ids(csms)

    # The controller waits for the answer before its next CALL (OCPP-J), but it still answers
    # the CSMS and the board goes on; the status change is reported once the link is back.
    result = await csms.call(call.GetConfiguration(key=["MeterValueSampleInterval"]), timeout=WAIT)
    assert result.configuration_key[0]["value"] == "5"
    if action == "MeterValues":
        await e2e.sim_ok("ev-state", 1, "B")
        await e2e.wait_evse(lambda e: e["connector_status"] == "SuspendedEV", what="SuspendedEV")
    else:
        await e2e.sim_ok("unplug", 1)
        await e2e.wait_evse(lambda e: e["connector_status"] == "Available", what="Available")
    assert await queue_length(e2e) >= 1

    connections = len(csms.connections)
    reconnect_mark = csms.mark()
    await csms.drop_connection(abrupt=True)
    # Well within the 30 s response timeout: the drop is noticed at once.
    await eventually(lambda: len(csms.connections) > connections and csms.connected, timeout=WAIT,
                     what="a prompt reconnection")
    resent = await csms.wait_for(action, lambda p: p == swallowed.payload, timeout=WAIT,
                                 since=csms.received.index(swallowed) + 1)
    assert resent.unique_id != swallowed.unique_id
    await eventually(lambda: resent.unique_id in answered_ids(csms), what="the resent message to be answered")
    assert "BootNotification" not in e2e.actions(mark)

    await e2e.wait_status(1, "SuspendedEV" if action == "MeterValues" else "Available", since=reconnect_mark)
    if action == "MeterValues":
        await e2e.sim_ok("ev-state", 1, "C")
        await e2e.wait_status(1, "Charging", since=csms.received.index(resent))
        later = csms.mark()
        await csms.wait_for("MeterValues", lambda p: p["transactionId"] == tx_id, timeout=WAIT, since=later)
        stop_mark = csms.mark()
        await e2e.sim_ok("tap", "TAG-OK")
        stop = await csms.wait_for("StopTransaction", timeout=WAIT, since=stop_mark)
        assert stop.payload["transactionId"] == tx_id
    await wait_queue_empty(e2e)

    delivery = check_delivery(csms)
    assert [r.unique_id for r in delivery.resends] == [swallowed.unique_id]
    (tx,) = check_transaction_messages(csms, delivery.messages)
    assert tx["id"] == tx_id and tx["start"].payload == start
    assert tx["stop"].payload["reason"] == "Local"
    assert (await e2e.status())["ocpp"]["state"] == "accepted"


async def test_status_shows_offline_since_and_queue(ready: E2E) -> None:
    e2e, csms = ready, ready.csms
    online = await controller_status(e2e)
    assert online["ocpp"]["state"] == "accepted" and online["ocpp"]["offline_since"] is None
    assert online["ocpp"]["queue_length"] == 0 and online["ocpp"]["oldest_queued"] is None
    # No periodic samples, so that the queue holds exactly the Start and then the Stop.
    assert await e2e.change_configuration("MeterValueSampleInterval", "0") == "Accepted"

    await go_offline(e2e)
    idle = await controller_status(e2e)
    assert idle["ocpp"]["state"] == "disconnected"
    offline_since = assert_utc_z(idle["ocpp"]["offline_since"])
    assert idle["ocpp"]["queue_length"] == 0 and idle["ocpp"]["oldest_queued"] is None

    await e2e.sim_ok("plug", 1)
    await e2e.sim_ok("tap", "TECH-0001")  # the default technician whitelist
    started = await wait_started(e2e)
    status = await controller_status(e2e)
    assert status["ocpp"]["state"] == "disconnected"
    assert status["ocpp"]["offline_since"] == idle["ocpp"]["offline_since"]
    assert status["ocpp"]["queue_length"] == 1
    oldest = assert_utc_z(status["ocpp"]["oldest_queued"])
    assert oldest >= offline_since
    assert status["outbox"] == {"length": 1, "oldest": status["ocpp"]["oldest_queued"]}
    (evse,) = status["evses"]
    assert evse["id"] == 1 and evse["local_transaction_id"] == started["local_transaction_id"]
    assert evse["transaction_id"] is None and evse["id_tag"] == "TECH-0001"
    assert evse["connector_status"] in ("SuspendedEV", "Charging")

    await e2e.sim_ok("tap", "TECH-0001")
    await wait_ended(e2e)
    stopped = await controller_status(e2e)
    assert stopped["ocpp"]["queue_length"] == 2
    assert stopped["ocpp"]["oldest_queued"] == status["ocpp"]["oldest_queued"]  # still the Start

    mark = await come_online(e2e)
    await csms.wait_for("StopTransaction", timeout=WAIT, since=mark)
    await wait_queue_empty(e2e)
    back = await controller_status(e2e)
    assert back["ocpp"]["state"] == "accepted" and back["ocpp"]["offline_since"] is None
    assert back["ocpp"]["queue_length"] == 0 and back["ocpp"]["oldest_queued"] is None
    start = csms.messages("StartTransaction")[0]
    assert start["timestamp"] == status["ocpp"]["oldest_queued"]
