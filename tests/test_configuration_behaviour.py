"""What the configuration keys Borne honours do once changed: MinimumStatusDuration holds back
short statuses, UnlockConnectorOnEVSideDisconnect and StopTransactionOnEVSideDisconnect decide the
socket lock when the EV side is unplugged, StopTxnSampledData fills transactionData within
StopTransactionMaxMeterValues, a new HeartbeatInterval applies at once and WebSocketPingInterval
reaches the open connection. The station runs on the simulated board with a manual clock."""
from __future__ import annotations

import asyncio
import json
from datetime import datetime, timezone
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest
from websockets.asyncio.client import connect
from station_rig import FakeLink, StationRig
from websockets.asyncio.server import serve

from chargepoint.link import AuthDecision, CsmsUnavailable
from chargepoint.ocpp.ping import apply_ping_interval
from chargepoint.status import ConnectorStatus
from chargepoint.status_hold import StatusHold
from hal.clock import ManualClock

CONFIG = """\
[chargepoint]
id = "CP-KEYS"
vendor = "Borne"
model = "Test"

[ocpp]
version = "1.6"
csms_url = "ws://127.0.0.1:9/ocpp"

[board]
kind = "sim"

[storage]
path = "borne.db"

[[evse]]
id = 1
max_current_a = 16
phases = 3

[[evse.connector]]
id = 1
type = "Type2Socket"

[sim]
control_socket = "sim.sock"
"""


class RecordingLink(FakeLink):
    """Stands in for the OCPP adapter: every tag is accepted, every status is recorded with the
    (manual) time it was reported."""

    def __init__(self, clock: ManualClock) -> None:
        super().__init__()
        self.clock = clock
        self.statuses: list[tuple[float, int, ConnectorStatus]] = []  # type: ignore[assignment]

    async def authorize(self, id_tag: str) -> AuthDecision:
        if not self.online:
            raise CsmsUnavailable("offline")
        return AuthDecision("Accepted")

    def status_changed(self, connector_id: int, status: ConnectorStatus, error: object) -> None:
        self.statuses.append((self.clock.monotonic(), connector_id, status))  # type: ignore[arg-type]

    def of(self, connector_id: int) -> list[ConnectorStatus]:
        return [s for _, c, s in self.statuses if c == connector_id]  # type: ignore[misc]


class Rig(StationRig):
    def __init__(self, tmp: Path) -> None:
        clock = ManualClock(datetime(2026, 3, 1, 10, 0, 0, tzinfo=timezone.utc))
        super().__init__(tmp, CONFIG, RecordingLink(clock), clock)

    async def stop(self) -> None:
        await super().stop()
        self.c.store.close()

    async def tap(self, tag: str = "TAG-1", evse_id: int | None = None) -> None:
        await super().tap(tag, evse_id)

    async def start_charging(self) -> None:
        self.sim.plug(1, max_current_a=16, phases=3)
        await self.run(0.1)
        await self.tap()
        self.sim.set_ev_state(1, "C")
        await self.run(0.2)
        assert self.status() is ConnectorStatus.CHARGING


    @property
    def locked(self) -> bool | None:
        return self.c.controllers[1].snapshot().locked

    def outbox(self) -> list[tuple[str, dict[str, Any]]]:
        rows = self.c.store._db.execute("SELECT kind, payload FROM outbox ORDER BY seq").fetchall()
        return [(r["kind"], json.loads(r["payload"])) for r in rows]


@pytest.fixture
async def rig(tmp_path: Path):  # type: ignore[no-untyped-def]
    r = Rig(tmp_path)
    await r.start()
    yield r
    await r.stop()


# ---- MinimumStatusDuration ---------------------------------------------------------------------


def test_status_hold_reports_a_status_once_it_lasted_long_enough() -> None:
    hold = StatusHold()
    assert hold.due(1, "Available", None, 0.0, 10)  # nothing reported yet: at once
    assert not hold.due(1, "Preparing", "Available", 1.0, 10)
    assert not hold.due(1, "Preparing", "Available", 10.9, 10)
    assert hold.due(1, "Preparing", "Available", 11.0, 10)


def test_status_hold_drops_a_status_that_changed_again_sooner() -> None:
    hold = StatusHold()
    assert not hold.due(1, "Preparing", "Available", 0.0, 10)
    assert not hold.due(1, "Charging", "Available", 5.0, 10)  # Preparing is dropped
    assert not hold.due(1, "Charging", "Available", 14.0, 10)  # Charging counts from 5 s
    assert hold.due(1, "Charging", "Available", 15.0, 10)
    assert not hold.due(1, "Preparing", "Available", 20.0, 10)
    assert not hold.due(1, "Available", "Available", 21.0, 10)  # back to what was reported
    assert not hold.due(1, "Preparing", "Available", 29.0, 10)  # a new wait, not the one from 20 s


def test_status_hold_of_zero_reports_every_change_and_connectors_are_apart() -> None:
    hold = StatusHold()
    assert hold.due(1, "Preparing", "Available", 0.0, 0)
    assert not hold.due(2, "Preparing", "Available", 0.0, 5)
    assert hold.due(1, "Charging", "Preparing", 1.0, 5) is False
    assert hold.due(2, "Preparing", "Available", 5.0, 5)


async def test_minimum_status_duration_delays_the_status_and_skips_a_blip(rig: Rig) -> None:
    assert rig.c.settings.change("MinimumStatusDuration", "10").value == "Accepted"
    rig.link.statuses.clear()
    rig.sim.plug(1)
    await rig.run(3, step=0.1)
    rig.sim.unplug(1)  # Preparing for 3 s: never reported
    await rig.run(15, step=0.1)
    assert rig.link.of(1) == []
    plugged_at = rig.clock.monotonic()
    rig.sim.plug(1)
    await rig.run(9, step=0.1)
    assert rig.link.of(1) == []
    await rig.run(3, step=0.1)
    assert rig.link.of(1) == [ConnectorStatus.PREPARING]
    reported_at = rig.link.statuses[-1][0]
    assert 10 <= reported_at - plugged_at <= 11.5  # checked at every one-second tick


async def test_without_minimum_status_duration_every_change_is_reported(rig: Rig) -> None:
    rig.link.statuses.clear()
    rig.sim.plug(1)
    await rig.run(0.5)
    rig.sim.unplug(1)
    await rig.run(0.5)
    assert rig.link.of(1) == [ConnectorStatus.PREPARING, ConnectorStatus.AVAILABLE]


async def test_after_a_reconnection_the_current_status_is_not_held_back(rig: Rig) -> None:
    rig.c.settings.change("MinimumStatusDuration", "60")
    rig.link.statuses.clear()
    rig.c.station.resend_status()
    assert sorted(c for _, c, _ in rig.link.statuses) == [0, 1]


# ---- the lock when the EV side is unplugged ------------------------------------------------------


async def test_default_unplugging_the_ev_stops_and_releases_the_cable(rig: Rig) -> None:
    await rig.start_charging()
    assert rig.locked is True
    rig.sim.unplug(1)
    await rig.run(0.5)
    assert rig.outbox()[-1][1]["reason"] == "EVDisconnected"
    assert rig.locked is False


async def test_unlock_off_keeps_the_cable_locked_until_its_tag_returns(rig: Rig) -> None:
    assert rig.c.settings.change("UnlockConnectorOnEVSideDisconnect", "false").value == "Accepted"
    await rig.start_charging()
    rig.sim.unplug(1)
    await rig.run(2)
    assert rig.outbox()[-1][1]["reason"] == "EVDisconnected"
    assert rig.locked is True
    assert rig.c.controllers[1].lock_held
    await rig.tap("SOMEONE-ELSE")
    await rig.run(0.5)
    assert rig.locked is True
    await rig.tap("tag-1")  # the transaction's tag, in any case
    await rig.run(0.5)
    assert rig.locked is False
    assert [k for k, _ in rig.outbox()].count("start") == 1  # it released the cable, started nothing


async def test_unlock_connector_releases_a_held_cable(rig: Rig) -> None:
    rig.c.settings.change("UnlockConnectorOnEVSideDisconnect", "false")
    await rig.start_charging()
    rig.sim.unplug(1)
    await rig.run(1)
    assert rig.locked is True
    task = asyncio.create_task(rig.c.station.unlock(1))
    while not task.done():
        await rig.run(0.05)
    assert task.result() == "Unlocked"
    assert rig.locked is False


async def test_transaction_kept_on_ev_disconnect_keeps_the_cable_locked(rig: Rig) -> None:
    # StopTransactionOnEVSideDisconnect false overrules UnlockConnectorOnEVSideDisconnect true.
    rig.c.settings.change("StopTransactionOnEVSideDisconnect", "false")
    await rig.start_charging()
    rig.sim.unplug(1)
    await rig.run(1)
    assert rig.c.station.sessions[1].tx is not None
    assert rig.status() is ConnectorStatus.SUSPENDED_EV
    assert rig.locked is True
    rig.sim.plug(1, max_current_a=16, phases=3)  # the EV comes back: energy again
    rig.sim.set_ev_state(1, "C")
    await rig.run(0.5)
    assert rig.status() is ConnectorStatus.CHARGING
    rig.sim.unplug(1)
    await rig.run(1)
    await rig.tap()  # the tag stops the transaction and takes its cable back
    await rig.run(0.5)
    assert rig.outbox()[-1][1]["reason"] == "Local"
    assert rig.locked is False


async def test_changed_unlock_policy_applies_to_a_running_transaction(rig: Rig) -> None:
    await rig.start_charging()
    rig.c.settings.change("UnlockConnectorOnEVSideDisconnect", "false")
    rig.sim.unplug(1)
    await rig.run(1)
    assert rig.locked is True
    rig.c.settings.change("UnlockConnectorOnEVSideDisconnect", "true")
    await rig.run(1)  # a cable already held stays held: only its owner or UnlockConnector release it
    assert rig.locked is True


async def test_held_cable_never_unlocks_while_energised(rig: Rig) -> None:
    rig.c.settings.change("StopTransactionOnEVSideDisconnect", "false")
    await rig.start_charging()
    seen: list[tuple[bool, bool | None]] = []
    for _ in range(3):
        rig.sim.unplug(1)
        for _ in range(50):
            await rig.run(0.01)
            snap = rig.c.controllers[1].snapshot()
            seen.append((snap.contactor_closed, snap.locked))
        rig.sim.plug(1, max_current_a=16, phases=3)
        rig.sim.set_ev_state(1, "C")
        for _ in range(50):
            await rig.run(0.01)
            snap = rig.c.controllers[1].snapshot()
            seen.append((snap.contactor_closed, snap.locked))
    assert (True, True) in seen
    assert all(locked for closed, locked in seen if closed)


# ---- transactionData ---------------------------------------------------------------------------


async def test_stop_txn_sampled_data_stays_within_stop_transaction_max_meter_values(rig: Rig) -> None:
    rig.c.settings.change("MeterValueSampleInterval", "10")
    rig.c.settings.change("ClockAlignedDataInterval", "60")
    rig.c.settings.change("StopTxnAlignedData", "Energy.Active.Import.Register")
    await rig.start_charging()
    await rig.run(3000, step=1.0)  # 300 periodic and 50 clock-aligned readings
    await rig.tap()
    await rig.run(0.5)
    data = rig.outbox()[-1][1]["transaction_data"]
    limit = rig.c.settings.get_int("StopTransactionMaxMeterValues")
    assert len(data) <= limit
    contexts = [d["samples"][0]["context"] for d in data]
    assert contexts[0] == "Transaction.Begin" and contexts[-1] == "Transaction.End"
    assert {"Sample.Periodic", "Sample.Clock"} <= set(contexts[1:-1])
    stamps = [d["timestamp"] for d in data]
    assert stamps == sorted(stamps)
    # Thinned evenly: the readings still cover the whole transaction.
    assert stamps[1] < "2026-03-01T10:05:00" and stamps[-2] > "2026-03-01T10:49:00"


# ---- HeartbeatInterval and WebSocketPingInterval ---------------------------------------------------


async def test_changed_heartbeat_interval_applies_at_once(rig: Rig) -> None:
    link = rig.c.link
    sent: list[float] = []

    async def record(payload: Any) -> Any:
        sent.append(rig.clock.monotonic())
        link._last_exchange = rig.clock.monotonic()
        return SimpleNamespace()

    link._call = record  # type: ignore[method-assign]
    link._last_exchange = rig.clock.monotonic()
    start = rig.clock.monotonic()
    task = asyncio.create_task(link._heartbeat())
    try:
        await rig.run(60, step=1.0)
        assert sent == []  # 300 s by default
        assert rig.c.settings.change("HeartbeatInterval", "20").value == "Accepted"
        await rig.run(1, step=0.1)
        assert len(sent) == 1 and sent[0] - start <= 61  # idle 60 s > 20 s: due at once
        await rig.run(45, step=1.0)
        gaps = [b - a for a, b in zip(sent, sent[1:])]
        assert len(gaps) == 2 and all(20 <= gap <= 21 for gap in gaps)  # within a 1 s step
    finally:
        task.cancel()
        await asyncio.gather(task, return_exceptions=True)


async def test_ping_interval_reaches_the_open_connection() -> None:
    async def echo(ws: Any) -> None:
        async for _ in ws:
            pass

    async with serve(echo, "127.0.0.1", 0) as server:
        port = server.sockets[0].getsockname()[1]
        async with connect(f"ws://127.0.0.1:{port}", ping_interval=None) as ws:
            assert ws.keepalive_task is None
            apply_ping_interval(ws, 7)
            first = ws.keepalive_task
            assert ws.ping_interval == 7 and first is not None and not first.done()
            apply_ping_interval(ws, 3)
            await asyncio.sleep(0)
            assert first.cancelled() and ws.keepalive_task is not first and ws.ping_interval == 3
            second = ws.keepalive_task
            apply_ping_interval(ws, 0)  # 0: no client pings
            await asyncio.sleep(0)
            assert ws.ping_interval is None and second is not None and second.cancelled()


async def test_link_applies_a_changed_ping_interval_to_its_connection(rig: Rig) -> None:
    class FakeWs:
        keepalive_task = None
        ping_interval: float | None = None
        started = 0

        def start_keepalive(self) -> None:
            self.started += 1

    ws = FakeWs()
    rig.c.link._ws = ws
    assert rig.c.settings.change("WebSocketPingInterval", "15").value == "Accepted"
    assert ws.ping_interval == 15 and ws.started == 1
    assert rig.c.settings.change("WebSocketPingInterval", "-1").value == "Rejected"
    assert ws.ping_interval == 15


@pytest.mark.parametrize(("interval", "expected"), [(100000, 86400), (45, 45), (0, 300)])
async def test_boot_interval_sets_the_heartbeat_interval_within_its_range(rig: Rig, interval: int,
                                                                         expected: int) -> None:
    async def accept(payload: Any) -> Any:
        return SimpleNamespace(status="Accepted", interval=interval)

    rig.c.link._call = accept  # type: ignore[method-assign]
    assert await rig.c.link._boot()
    assert rig.c.settings.get_int("HeartbeatInterval") == expected  # 0: the charge point's own
