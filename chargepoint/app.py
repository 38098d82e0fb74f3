"""Wires the controller together on one asyncio loop and runs it until it is stopped or asked
to restart."""
from __future__ import annotations

import asyncio
import logging
import signal
from dataclasses import dataclass, field
from typing import Any

import ocpp.messages

from chargepoint.admin import serve_admin
from chargepoint.auth import Authorizer
from chargepoint.config import Config
from chargepoint.control_loop import run_control_loop
from chargepoint.evse.controller import EvseController
from chargepoint.ocpp.connection import keep_connected
from chargepoint.ocpp.v16.link import V16Link
from chargepoint.settings import Settings, core_keys
from chargepoint.station import Station
from chargepoint.store import Store
from chargepoint.stall_guard import StallGuard
from chargepoint.systemd_notify import Watchdog, notify
from chargepoint.transactions import LinkRef
from hal.board import Board, build_board
from hal.clock import Clock
from hal.types import FaultKind

log = logging.getLogger(__name__)

STALL_FAULT_HOLD_S = 5.0

# Validate inline: the default thread-pool hop triples the latency of every call.
ocpp.messages.ASYNC_VALIDATION = False


@dataclass
class Controller:
    """A built, not yet running controller: tests and the demo reach into it."""

    config: Config
    clock: Clock
    board: Board
    store: Store
    settings: Settings
    station: Station
    link: V16Link
    controllers: dict[int, EvseController]
    restart_reason: str | None = None
    stall_fault_until: float | None = None
    _restart: asyncio.Event = field(default_factory=asyncio.Event)

    def request_restart(self, reason: str) -> None:
        self.restart_reason = reason
        self._restart.set()

    def force_safe(self) -> None:
        """From the stall guard's thread: open everything now, whatever the loop is doing."""
        for ctl in self.controllers.values():
            ctl.devices.contactor.set_closed(False)
            ctl.devices.pilot.set_state_f()

    def stall_recovered(self) -> None:
        """The loop runs again after a stall: report it as a fault, held until the loop has run
        healthily for a while (energy stays off meanwhile, then every condition is re-checked)."""
        for ctl in self.controllers.values():
            ctl.set_external_fault(FaultKind.CONTROL_LOOP, True)
        self.stall_fault_until = self.clock.monotonic() + STALL_FAULT_HOLD_S

    def release_stall_fault(self) -> None:
        if self.stall_fault_until is not None and self.clock.monotonic() >= self.stall_fault_until:
            self.stall_fault_until = None
            for ctl in self.controllers.values():
                ctl.set_external_fault(FaultKind.CONTROL_LOOP, False)

    def make_safe(self) -> None:
        """Open every contactor and stop offering current; used on every way out."""
        for ctl in self.controllers.values():
            ctl.devices.contactor.set_closed(False)
            ctl.devices.pilot.set_constant_high()


def build_controller(config: Config, clock: Clock, board: Board | None = None) -> Controller:
    """`board` replaces the one the configuration names (tests wire real drivers to fakes)."""
    # The board and the EVSE controllers come first: building a controller sets its outputs safe,
    # before anything slower (the database) can delay it.
    board = board or build_board(config, clock)
    controllers = {
        e.id: EvseController(e.id, board.evses[e.id], e.max_current_a,
                             tethered=e.connectors[0].type == "Type2Cable", ventilation_available=e.ventilation)
        for e in config.evses
    }
    store = Store(config.storage.path)
    settings = Settings(core_keys(len(config.evses), config.ocpp.heartbeat_interval_s,
                                   int(config.ocpp.ping_interval_s)), store)
    link = V16Link(config, settings, store, clock)
    authorizer = Authorizer(config.auth.whitelist, settings, store, clock,
                            whitelist_always=config.auth.whitelist_always)
    holder: dict[str, Controller] = {}
    station = Station(controllers, {i: d.meter for i, d in board.evses.items()}, clock, store, settings,
                      authorizer, LinkRef(link), lambda reason: holder["c"].request_restart(reason),
                      config.safety)
    link.station = station
    controller = Controller(config, clock, board, store, settings, station, link, controllers)
    holder["c"] = controller
    return controller


async def run_controller(controller: Controller, stop: asyncio.Event | None = None) -> str | None:
    """Run until `stop` is set (returns None) or a reset asks for a restart (returns why)."""
    c = controller
    stop = stop or asyncio.Event()
    watchdog = Watchdog()
    guard = StallGuard(c.config.safety.control_loop_stall_ms / 1000.0, c.force_safe)
    heartbeat = c.board.heartbeat

    def cycle() -> None:
        """After every control-loop cycle: proof of life to every watcher."""
        guard.beat()
        if guard.stalled:
            guard.stalled = False
            c.stall_recovered()
        c.release_stall_fault()
        if heartbeat is not None:
            heartbeat.toggle()
        watchdog.feed()

    await c.station.recover()
    jobs: list[Any] = [
        run_control_loop(list(c.controllers.values()), c.clock, c.config.board.control_period_ms / 1000.0,
                         c.station.post_events, cycle),
        c.station.run_events(),
        c.station.run_ticks(),
        keep_connected(c.config, c.clock, c.link.serve,
                       ping_interval_s=lambda: c.settings.get_int("WebSocketPingInterval")),
    ]
    if c.board.reader is not None:
        jobs.append(c.station.run_reader(c.board.reader.read))
    if c.config.storage.admin_socket is not None:
        jobs.append(serve_admin(c, c.config.storage.admin_socket))
    jobs.extend(service(c.station.status_report) for service in c.board.services)
    tasks = [asyncio.create_task(job) for job in jobs]
    waiters = [asyncio.create_task(stop.wait()), asyncio.create_task(c._restart.wait())]
    guard.beat()
    guard.start()
    notify("READY=1\nSTATUS=running")
    try:
        done, _ = await asyncio.wait([*tasks, *waiters], return_when=asyncio.FIRST_COMPLETED)
        for task in done:
            if task in tasks and not task.cancelled() and task.exception() is not None:
                raise task.exception()  # type: ignore[misc]
    finally:
        guard.stop()
        c.make_safe()
        notify("STOPPING=1")
        for task in (*tasks, *waiters):
            task.cancel()
        await asyncio.gather(*tasks, *waiters, return_exceptions=True)
        c.store.close()
    return c.restart_reason


def install_signal_handlers(stop: asyncio.Event) -> None:
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
