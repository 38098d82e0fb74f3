"""Helpers shared by the offline, local-list and crash-recovery end-to-end tests: going offline
and back, the controller's admin status, the local list over OCPP, offline authorisation probes,
and the delivery check for transaction messages (each stored message reaches the CSMS, in order,
and is acknowledged exactly once; a resend is allowed only for a message whose connection died
while it was in flight)."""
from __future__ import annotations

import asyncio
import bisect
import json
import sys
from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from ocpp.v16 import call

from csms import Received, TestCsms, assert_utc_z
from e2e_harness import SUBPROCESS_ENV, WAIT, E2E, eventually

TX_ACTIONS = ("StartTransaction", "MeterValues", "StopTransaction")
ENERGY = "Energy.Active.Import.Register"


# ---- link state ------------------------------------------------------------------------------


async def ocpp_state(e2e: E2E) -> str | None:
    ocpp = (await e2e.status()).get("ocpp") or {}
    return ocpp.get("state")


async def go_offline(e2e: E2E) -> None:
    """Stop the CSMS and wait until the controller has noticed."""
    await e2e.csms.stop()
    await eventually(lambda: _state_is(e2e, "disconnected"), what="the controller to notice the CSMS is gone")


async def _state_is(e2e: E2E, state: str) -> bool:
    return await ocpp_state(e2e) == state


async def come_online(e2e: E2E) -> int:
    """Start the CSMS on the same port; wait for the reconnection and its status report.
    Returns the CSMS mark taken before the restart."""
    csms = e2e.csms
    connections = len(csms.connections)
    mark = csms.mark()
    await csms.start()
    await eventually(lambda: len(csms.connections) > connections and csms.connected, what="a reconnection")
    await csms.wait_for("StatusNotification", lambda p: p["connectorId"] == 1, timeout=WAIT, since=mark)
    return mark


async def queue_length(e2e: E2E) -> int:
    return int((await e2e.status())["ocpp"]["queue_length"])


async def wait_queue_empty(e2e: E2E, timeout: float = WAIT) -> None:
    async def empty() -> bool:
        return await queue_length(e2e) == 0
    await eventually(empty, timeout=timeout, interval=0.1, what="the outbox to drain (queue_length 0)")


async def badges_read(e2e: E2E) -> bool:
    return (await e2e.status())["pending_badges"] == 0


async def controller_status(e2e: E2E) -> dict[str, Any]:
    """`chargepoint status --json --config PATH`: the controller's own admin socket."""
    proc = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "chargepoint", "status", "--json", "--config", str(e2e.config_path),
        stdin=asyncio.subprocess.DEVNULL, stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE,
        env=SUBPROCESS_ENV,
    )
    out, err = await asyncio.wait_for(proc.communicate(), WAIT)
    assert proc.returncode == 0, f"`chargepoint status --json` exited {proc.returncode}: {out!r} {err!r}"
    return json.loads(out)


# ---- local list ------------------------------------------------------------------------------


def entry(tag: str, status: str | None, expiry: str | None = None) -> dict[str, Any]:
    """A localAuthorizationList entry; without a status it is a removal (differential only)."""
    if status is None:
        return {"idTag": tag}
    info: dict[str, Any] = {"status": status}
    if expiry is not None:
        info["expiryDate"] = expiry
    return {"idTag": tag, "idTagInfo": info}


async def send_local_list(csms: TestCsms, version: int, update_type: str,
                          entries: Iterable[dict[str, Any]], timeout: float = WAIT) -> str:
    result = await csms.call(call.SendLocalList(list_version=version, update_type=update_type,
                                                local_authorization_list=list(entries)), timeout=timeout)
    return result.status


async def local_list_version(csms: TestCsms) -> int:
    return int((await csms.call(call.GetLocalListVersion(), timeout=WAIT)).list_version)


async def get_configuration(csms: TestCsms, *keys: str) -> dict[str, str]:
    result = await csms.call(call.GetConfiguration(key=list(keys)), timeout=WAIT)
    return {k["key"]: k.get("value") for k in result.configuration_key}


# ---- sessions --------------------------------------------------------------------------------


async def wait_started(e2e: E2E, what: str = "a transaction to begin") -> dict[str, Any]:
    return await e2e.wait_evse(lambda e: e["local_transaction_id"] is not None, what=what)


async def wait_ended(e2e: E2E, what: str = "the transaction to end") -> dict[str, Any]:
    return await e2e.wait_evse(lambda e: e["local_transaction_id"] is None, what=what)


async def tag_starts_session(e2e: E2E, tag: str, sentinel: str) -> bool:
    """Plug, tap `tag`, then tap `sentinel` (a tag known to be accepted offline, e.g. the
    technician whitelist). Badges are handled in order, so the session that begins shows which
    badge was accepted: `tag` if it was, else `sentinel`. Ends the session and unplugs; returns
    whether `tag` was accepted."""
    await e2e.sim_ok("plug", 1)
    await e2e.wait_evse(lambda e: e["connector_status"] == "Preparing", what="Preparing")
    await e2e.sim_ok("tap", tag)
    await e2e.sim_ok("tap", sentinel)
    started = await wait_started(e2e, f"a session for {tag} or {sentinel}")
    owner = started["id_tag"]
    assert owner in (tag, sentinel), started
    if owner == tag:
        # The sentinel found the connector busy and was dropped; stop with the owner's badge.
        await eventually(lambda: badges_read(e2e), what="the badges to be read")
    await e2e.sim_ok("tap", owner)
    await wait_ended(e2e)
    await e2e.sim_ok("unplug", 1)
    await e2e.wait_evse(lambda e: e["connector_status"] == "Available", what="Available")
    return owner == tag


# ---- what the CSMS received --------------------------------------------------------------------


def energy_of(meter_value: dict[str, Any]) -> float | None:
    for sv in meter_value["sampledValue"]:
        if sv.get("measurand", ENERGY) == ENERGY:
            return float(sv["value"])
    return None


def answered_ids(csms: TestCsms) -> set[str]:
    """Unique ids of the CALLs the CSMS answered with a CALLRESULT."""
    return set(results_by_id(csms))


def results_by_id(csms: TestCsms) -> dict[str, dict[str, Any]]:
    """unique id -> the CALLRESULT payload the CSMS sent for it."""
    out = {}
    for direction, text in csms.frames:
        if direction == "out":
            frame = json.loads(text)
            if frame[0] == 3:
                out[frame[1]] = frame[2]
    return out


def connection_of(csms: TestCsms, record: Received) -> int:
    """Index in csms.connections of the connection a CALL arrived on."""
    starts = [c.at for c in csms.connections]
    return bisect.bisect_right(starts, record.at) - 1


def payload_key(record: Received) -> str:
    return record.action + " " + json.dumps(record.payload, sort_keys=True)


@dataclass
class Delivery:
    """Transaction messages as delivered: `messages` holds one record per distinct message (its
    last, acknowledged copy), in order of first arrival; `resends` the copies sent again."""
    messages: list[Received]
    resends: list[Received]


def check_delivery(csms: TestCsms, since: int = 0) -> Delivery:
    """Every transaction message the CSMS received is acknowledged exactly once.

    The only copies allowed are retransmissions inside the at-least-once window: a message
    whose connection ended while it was in flight (or after the CSMS answered but before the
    charge point could record the answer) is sent again, identical, on a later connection.
    Such a copy must be the last transaction message of its connection (the replay is strictly
    in order, so nothing follows an unacknowledged message) and the copy that follows must be
    on a later connection."""
    records = [r for r in csms.received[since:] if r.action in TX_ACTIONS]
    answered = answered_ids(csms)
    groups: dict[str, list[Received]] = defaultdict(list)
    order: list[str] = []
    last_on_connection: dict[int, Received] = {}
    for r in records:
        key = payload_key(r)
        if key not in groups:
            order.append(key)
        groups[key].append(r)
        last_on_connection[connection_of(csms, r)] = r
    messages, resends = [], []
    for key in order:
        copies = groups[key]
        last = copies[-1]
        assert last.unique_id in answered, f"never acknowledged: {last.action} {last.payload}"
        for earlier, later in zip(copies, copies[1:]):
            conn = connection_of(csms, earlier)
            assert connection_of(csms, later) > conn, (
                f"{earlier.action} sent twice on the same connection: {earlier.payload}")
            assert last_on_connection[conn] is earlier, (
                f"{earlier.action} {earlier.payload} was sent again although later transaction messages "
                f"followed it on its connection")
        messages.append(last)
        resends.extend(copies[:-1])
    # `messages` is in order of first arrival; the callers check that order (per transaction in
    # check_transaction_messages, and against the timestamps).
    return Delivery(messages, resends)


def check_transaction_messages(csms: TestCsms, messages: list[Received],
                               stop_after_start_in_time: bool = True) -> list[dict[str, Any]]:
    """Group delivered messages by transaction and check their consistency. Returns one dict
    per transaction (start, meters, stop, id) in order of StartTransaction.

    `stop_after_start_in_time=False` skips the time order of PowerLoss stops: those are stamped
    by the next process, and with `--time-scale N` every process's clock starts again from the
    real time, behind where the fast clock of the killed process had got to."""
    results = results_by_id(csms)
    transactions: list[dict[str, Any]] = []
    by_id: dict[int, dict[str, Any]] = {}
    for r in messages:
        p = r.payload
        if r.action == "StartTransaction":
            tx_id = results[r.unique_id]["transactionId"]
            assert tx_id not in by_id, f"transactionId {tx_id} given twice"
            tx = {"id": tx_id, "start": r, "meters": [], "stop": None}
            by_id[tx_id] = tx
            transactions.append(tx)
        else:
            tx_id = p["transactionId"]
            assert tx_id in by_id, f"{r.action} for transactionId {tx_id} that no StartTransaction got: {p}"
            tx = by_id[tx_id]
            assert tx["stop"] is None, f"{r.action} after the StopTransaction of {tx_id}: {p}"
            if r.action == "MeterValues":
                tx["meters"].append(r)
            else:
                tx["stop"] = r
    for tx in transactions:
        start = tx["start"].payload
        assert tx["stop"] is not None, f"no StopTransaction for transaction {tx['id']} ({start})"
        stop = tx["stop"].payload
        t_start, t_stop = assert_utc_z(start["timestamp"]), assert_utc_z(stop["timestamp"])
        assert stop["meterStop"] >= start["meterStart"], (start, stop)
        previous_t, previous_e = t_start, float(start["meterStart"])
        for mv in tx["meters"]:
            assert mv.payload["connectorId"] == start["connectorId"]
            for value in mv.payload["meterValue"]:
                t = assert_utc_z(value["timestamp"])
                assert t >= previous_t, f"MeterValues timestamp goes back: {value} after {previous_t}"
                e = energy_of(value)
                if e is not None:
                    # The Start's meterStart is rounded to Wh, samples are not.
                    assert e >= previous_e - 0.5, f"energy goes back: {value} after {previous_e}"
                    assert e <= stop["meterStop"] + 0.5, f"sample above meterStop: {value} vs {stop}"
                    previous_e = e
                previous_t = t
        assert previous_t >= t_start, (start, stop)
        if stop_after_start_in_time or stop["reason"] != "PowerLoss":
            assert t_stop >= previous_t, (start, stop)
    return transactions
