"""Shared pieces of the OCA OCPP 1.6 compliance cases: the controller under test (`Station`), the
reusable states of the OCA test case document (Charging, Authorized, …), and the checks the tool
makes on what the charge point sends.

`Station` drives the simulated board through its control socket from inside the test process
(the same parser and requests as `chargepoint sim`, without a Python process per command), so a
module of cases stays fast."""
from __future__ import annotations

import asyncio
import contextlib
import json
from collections.abc import Callable
from datetime import datetime, timedelta, timezone
from pathlib import Path
from types import SimpleNamespace
from typing import Any, cast

import pytest
from ocpp.v16 import call

from chargepoint.cli import build_parser
from chargepoint.config import load_config
from csms import Received, TestCsms, assert_utc_z
from drivers.sim.client import FAULT_KINDS, build_request, sim_request
from e2e_harness import TIME_SCALE, WAIT, E2E, ChargePointProcess, check_timestamps, eventually

Payload = dict[str, Any]


def check_timestamps_since(csms: TestCsms, mark: int) -> None:
    """Every timestamp the charge point sent from position `mark` on is UTC with 'Z'."""
    check_timestamps(cast(TestCsms, SimpleNamespace(received=csms.received[mark:])))


class Station(E2E):
    """The controller process, its CSMS and its simulated board, shared by a module's cases."""

    def __init__(self, csms: TestCsms, cp: ChargePointProcess, socket_dir: Path) -> None:
        super().__init__(csms, cp)
        self.socket_dir = socket_dir
        self.socket = load_config(str(self.config_path)).sim.control_socket
        self._parser = build_parser()
        self._changed: dict[str, str | None] = {}
        self._reservations: set[int] = set()

    # ---- the board ------------------------------------------------------------------------------

    async def sim(self, *args: Any, timeout: float = WAIT) -> tuple[int, str]:
        """`chargepoint sim ARGS` through the control socket, in this process."""
        options = self._parser.parse_args(["sim", "--config", str(self.config_path), *(str(a) for a in args)])
        try:
            answer = await sim_request(self.socket, build_request(options), timeout_s=timeout)
        except (OSError, ValueError, asyncio.TimeoutError) as exc:
            self.last_sim_stderr = f"{type(exc).__name__}: {exc}"
            return 2, ""
        if not answer.get("ok"):
            self.last_sim_stderr = str(answer.get("error"))
            return 1, ""
        self.last_sim_stderr = ""
        return 0, json.dumps(answer.get("status", {}) if options.sim_command == "status" else answer)

    # ---- life cycle -----------------------------------------------------------------------------

    async def close(self) -> None:
        await self.cp.stop()
        await self.csms.stop()

    async def restart(self, kill: bool = False) -> int:
        """Stop the controller (SIGKILL: a power cut; else SIGTERM), start it again on the same
        configuration and database, and wait for its boot. Returns the CSMS mark taken before."""
        proc = self.cp.proc
        if kill and proc is not None and proc.returncode is None:
            with contextlib.suppress(ProcessLookupError):
                proc.kill()
        await self.cp.stop()
        self.cp.proc = None
        if self.csms.connected:
            await self.csms.wait_disconnected(timeout=WAIT)
        mark = self.csms.mark()
        await self.cp.start()
        await self.unless_exited(self.csms.wait_for("BootNotification", timeout=WAIT, since=mark), "BootNotification")
        await self.unless_exited(self.csms.wait_for("StatusNotification", lambda p: p["connectorId"] == 1,
                                                    timeout=WAIT, since=mark), "the connector's status")
        return mark

    def begin_case(self) -> None:
        self._changed = {}
        self._reservations = set()

    async def end_case(self) -> None:
        """Undo what the case set up that outlives it: configuration keys and reservations."""
        if not (self.cp.running and self.csms.running):
            return
        await eventually(lambda: self.csms.connected, what="the controller to be connected")
        for reservation_id in sorted(self._reservations):
            await self.csms.call(call.CancelReservation(reservation_id=reservation_id), timeout=WAIT)
        for key, value in self._changed.items():
            if value is not None:
                await self.csms.call(call.ChangeConfiguration(key=key, value=value), timeout=WAIT)
        self._changed = {}

    async def settle(self) -> None:
        """Back to the state a case starts from: online and accepted, no EV, no fault, no
        transaction, nothing queued, the connector Available."""
        if not self.csms.running:
            await self.csms.start()
        if not self.cp.running:
            self.cp.proc = None
            await self.boot()
        await eventually(lambda: self.csms.connected, what="the controller to connect")
        evse = await self.evse()
        for fault in evse.get("faults") or []:
            await self.sim("clear", 1, fault)
        if evse["connector_status"] == "Preparing" and not evse.get("plugged"):
            # An authorisation waits for the cable: let it start, then end it by unplugging.
            await self.sim_ok("plug", 1)
            await asyncio.sleep(0)
            evse = await self.evse()
        if evse.get("plugged"):
            await self.sim_ok("unplug", 1)
        evse = await self.wait_evse(lambda e: e["local_transaction_id"] is None, what="no transaction")
        if evse["connector_status"] == "Unavailable":
            await self.csms.call(call.ChangeAvailability(connector_id=0, type="Operative"), timeout=WAIT)
        if evse.get("locked"):
            await self.csms.call(call.UnlockConnector(connector_id=1), timeout=WAIT)
        await self.wait_evse(lambda e: e["connector_status"] == "Available" and not e.get("locked"),
                             what="the connector Available and unlocked")

        async def idle() -> bool:
            status = await self.status()
            return status["ocpp"]["queue_length"] == 0 and status["pending_badges"] == 0
        await eventually(idle, interval=0.05, what="an empty outbox and no badge waiting")

    # ---- CSMS → charge point --------------------------------------------------------------------

    async def call(self, payload: Any) -> Any:
        return await self.csms.call(payload, timeout=WAIT)

    async def configure(self, key: str, value: str) -> str:
        """ChangeConfiguration; the key's value before the case is put back afterwards."""
        if key not in self._changed:
            self._changed[key] = (await get_configuration(self.csms, key)).get(key)
        return await self.change_configuration(key, value)

    async def reserve(self, reservation_id: int, connector_id: int = 1, id_tag: str = "TAG-OK",
                      seconds: float = 3600, parent_id_tag: str | None = None) -> str:
        """ReserveNow expiring `seconds` ahead on the controller's clock; cancelled after the case."""
        self._reservations.add(reservation_id)
        result = await self.call(call.ReserveNow(
            connector_id=connector_id, expiry_date=expiry_in(self.csms, seconds), id_tag=id_tag,
            reservation_id=reservation_id, parent_id_tag=parent_id_tag))
        return str(result.status)

    async def round_trip(self) -> None:
        """A CSMS call answered: whatever the charge point sent before its answer has arrived."""
        await self.call(call.GetConfiguration(key=["HeartbeatInterval"]))


# ---- reusable states of the OCA document -------------------------------------------------------------


async def charging(st: Station, tag: str = "TAG-OK") -> tuple[int, Received]:
    """Reusable state Charging: cable in, tag presented, EV drawing energy. Returns the
    transactionId and the StartTransaction."""
    mark = st.csms.mark()
    await st.sim_ok("plug", 1)
    await st.wait_status(1, "Preparing", since=mark)
    await st.sim_ok("tap", tag)
    start = await st.csms.wait_for("StartTransaction", timeout=WAIT, since=mark)
    await st.sim_ok("ev-state", 1, "C")
    await st.wait_status(1, "Charging", since=mark)
    return await transaction_id(st, start), start


async def authorized(st: Station, tag: str = "TAG-OK") -> int:
    """Reusable state Authorized: a tag presented and accepted before the cable is in."""
    mark = st.csms.mark()
    await st.sim_ok("tap", tag)
    await st.wait_status(1, "Preparing", since=mark)
    return mark


async def transaction_id(st: Station, start: Received) -> int:
    tx = await eventually(lambda: st.transaction_id_of(start.unique_id), what="the StartTransaction answer")
    return int(tx)


async def stop_and_unplug(st: Station, tx_id: int) -> Received:
    """End a case's transaction remotely and unplug; returns the StopTransaction."""
    mark = st.csms.mark()
    await st.call(call.RemoteStopTransaction(transaction_id=tx_id))
    stop = await st.csms.wait_for("StopTransaction", timeout=WAIT, since=mark)
    await st.sim_ok("unplug", 1)
    await st.wait_status(1, "Available", since=mark)
    return stop


# ---- what the tool checks ------------------------------------------------------------------------------


def statuses(st: Station, connector: int, since: int) -> list[str]:
    return st.statuses(connector, since)


def first_index(csms: TestCsms, action: str, since: int = 0,
                predicate: Callable[[Payload], bool] | None = None) -> int:
    for index in range(since, len(csms.received)):
        record = csms.received[index]
        if record.action == action and (predicate is None or predicate(record.payload)):
            return index
    raise AssertionError(f"no {action} after position {since}: {[r.action for r in csms.received[since:]]}")


def answer_frame_index(csms: TestCsms, unique_id: str) -> int:
    """Position in the wire trace of the charge point's answer to the CSMS call `unique_id`."""
    for index, (direction, text) in enumerate(csms.frames):
        if direction == "in":
            frame = json.loads(text)
            if frame[0] in (3, 4) and frame[1] == unique_id:
                return index
    raise AssertionError(f"no answer to {unique_id}")


def call_frame_index(csms: TestCsms, unique_id: str) -> int:
    for index, (direction, text) in enumerate(csms.frames):
        if direction == "in":
            frame = json.loads(text)
            if frame[0] == 2 and frame[1] == unique_id:
                return index
    raise AssertionError(f"no call {unique_id}")


def last_call_id(csms: TestCsms, action: str) -> str:
    """Message id of the CSMS's latest call of `action`."""
    for direction, text in reversed(csms.frames):
        frame = json.loads(text)
        if direction == "out" and frame[0] == 2 and frame[2] == action:
            return str(frame[1])
    raise AssertionError(f"the CSMS sent no {action}")


def answered_before(csms: TestCsms, action: str, record: Received) -> bool:
    """The charge point answered the CSMS's latest `action` before it sent `record`."""
    return answer_frame_index(csms, last_call_id(csms, action)) < call_frame_index(csms, record.unique_id)


def cp_now(csms: TestCsms) -> datetime:
    """The controller's clock now, from its latest timestamp (it runs TIME_SCALE times faster)."""
    record = next(r for r in reversed(csms.received) if "timestamp" in r.payload)
    sent = assert_utc_z(record.payload["timestamp"])
    return sent + (datetime.now(timezone.utc) - record.at) * TIME_SCALE


def expiry_in(csms: TestCsms, seconds: float) -> str:
    moment = cp_now(csms) + timedelta(seconds=seconds)
    return moment.strftime("%Y-%m-%dT%H:%M:%S.") + f"{moment.microsecond // 1000:03d}Z"


async def get_configuration(csms: TestCsms, *keys: str) -> dict[str, str | None]:
    result = await csms.call(call.GetConfiguration(key=list(keys)), timeout=WAIT)
    return {k["key"]: k.get("value") for k in result.configuration_key or []}


# ---- guards for operations still being built ------------------------------------------------------------


def handled_actions() -> set[str]:
    """The CSMS-initiated actions Borne's 1.6 session has a handler for (its `@on` routes)."""
    from chargepoint.ocpp.v16.session import V16Session

    actions = set()
    for name in dir(V16Session):
        action = getattr(getattr(V16Session, name, None), "_on_action", None)
        if action is not None:
            actions.add(str(getattr(action, "value", action)))
    return actions


async def supported_profiles(st: Station) -> set[str]:
    value = (await get_configuration(st.csms, "SupportedFeatureProfiles")).get("SupportedFeatureProfiles") or ""
    return set(value.split(","))


async def require(st: Station, action: str, profile: str) -> None:
    """Run the case once Borne handles `action` or advertises `profile`; until then skip it."""
    if action in handled_actions() or profile in await supported_profiles(st):
        return
    pytest.skip(f"Borne does not handle {action} yet ({profile})")


def lock_fault_kind() -> str | None:
    """The simulated board's fault that makes the socket lock fail, if it has one."""
    return next((kind for kind in FAULT_KINDS if "lock" in kind), None)
