"""Wires the controller together: the policy, OCPP and the store on one asyncio loop, the control
loop in a thread of its own. Runs until it is stopped or asked to restart."""
from __future__ import annotations

import asyncio
import logging
import math
import signal
import sys
import time
from dataclasses import dataclass, field
from typing import Any

import ocpp.messages

from chargepoint.admin import serve_admin
from chargepoint.auth import Authorizer
from chargepoint.config import Config
from chargepoint.diagnostics.archive import LogPart
from chargepoint.diagnostics.wiring import log_uploads_for
from chargepoint.firmware.wiring import firmware_jobs, firmware_updater_for
from chargepoint.control_loop import ControlThread
from chargepoint.evse.controller import EvseController
from chargepoint.evse.events import EvseEvent
from chargepoint.ocpp import payload_conversion, schema_validation
from chargepoint.ocpp.connection import keep_connected
from chargepoint.ocpp.v16.link import V16Link
from chargepoint.security.context import SecurityContext
from chargepoint.security.settings_keys import security_keys
from chargepoint.settings import Settings, core_keys
from chargepoint.smart_charging import EvseElectrics
from chargepoint.station import Station
from chargepoint.store import Store
from chargepoint.task_teardown import cancel_and_wait
from chargepoint.stall_guard import StallGuard
from chargepoint.systemd_notify import Watchdog, notify
from chargepoint.transactions import LinkRef
from hal.board import Board, build_board
from hal.clock import Clock
from hal.types import FaultKind, IndicatorPattern

log = logging.getLogger(__name__)

STALL_FAULT_HOLD_S = 5.0
# An event loop silent this long stops the systemd keep-alives (WatchdogSec=5 in the unit).
EVENT_LOOP_STALL_S = 3.0

# Validate inline: the default thread-pool hop triples the latency of every call.
ocpp.messages.ASYNC_VALIDATION = False
# Compiled schema checks and remembered key conversions: the same verdicts and payloads at a
# fraction of the library's cost per message (docs/performance.md, OCPP round trip).
schema_validation.install()
payload_conversion.install()


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
    security: SecurityContext | None = None

    def request_restart(self, reason: str) -> None:
        if self.security is not None and self.restart_reason is None:
            self.security.note_restart(reason)
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
    # A fractional ping interval rounds up: truncating 0.5 s to 0 would turn pings off.
    settings = Settings(core_keys(len(config.evses), config.ocpp.heartbeat_interval_s,
                                   math.ceil(config.ocpp.ping_interval_s),
                                   connector_phases=[e.phases for e in config.evses],
                                   tethered=[e.connectors[0].type == "Type2Cable" for e in config.evses])
                        + security_keys(config.ocpp.security_profile), store)
    link = V16Link(config, settings, store, clock)
    security = SecurityContext(config, store, settings, clock)
    security.watch_storage()
    link.security = security
    authorizer = Authorizer(config.auth.whitelist, settings, store, clock,
                            whitelist_always=config.auth.whitelist_always)
    holder: dict[str, Controller] = {}
    station = Station(controllers, {i: d.meter for i, d in board.evses.items()}, clock, store, settings,
                      authorizer, LinkRef(link), lambda reason: holder["c"].request_restart(reason),
                      config.safety, electrics={
                          e.id: EvseElectrics(e.phases, e.nominal_voltage_v, e.max_current_a) for e in config.evses})
    link.station = station
    if board.indicator is not None:
        board.indicator.show(IndicatorPattern.BOOTING)
        station.indicator = board.indicator
    controller = Controller(config, clock, board, store, settings, station, link, controllers)
    holder["c"] = controller
    controller.security = security
    link.log_uploads = log_uploads_for(
        controller, security_log=lambda: [LogPart("security.log", security.security_log.files())])
    link.firmware = firmware_updater_for(controller)
    return controller


async def run_controller(controller: Controller, stop: asyncio.Event | None = None) -> str | None:
    """Run until `stop` is set (returns None) or a reset asks for a restart (returns why)."""
    c = controller
    stop = stop or asyncio.Event()
    loop = asyncio.get_running_loop()
    # A thread waiting for the interpreter lock gets it within this time (5 ms by default): the
    # control loop must not wait that long behind a busy event loop.
    sys.setswitchinterval(min(sys.getswitchinterval(), 0.001))
    watchdog = Watchdog()
    guard = StallGuard(c.config.safety.control_loop_stall_ms / 1000.0, c.force_safe)
    pulse = EventLoopPulse(limit_s=EVENT_LOOP_STALL_S)
    heartbeat = c.board.heartbeat
    failed: asyncio.Future[None] = loop.create_future()

    def cycle() -> None:
        """After every control cycle, in the control thread: proof of life to every watcher.
        systemd is fed only while the event loop is alive too: OCPP and the store live there."""
        guard.beat()
        if guard.stalled:
            guard.stalled = False
            c.stall_recovered()
        c.release_stall_fault()
        if heartbeat is not None:
            heartbeat.toggle()
        if pulse.alive():
            watchdog.feed()

    def hand_over(events: list[EvseEvent]) -> None:
        loop.call_soon_threadsafe(c.station.post_events, events)

    def control_failed(exc: BaseException) -> None:
        def fail() -> None:
            if not failed.done():
                failed.set_exception(exc)
        loop.call_soon_threadsafe(fail)

    await c.station.recover()
    if c.security is not None:
        c.security.report_startup()
    c.station.show_status()
    control = ControlThread(list(c.controllers.values()), c.clock, c.config.board.control_period_ms / 1000.0,
                            c.config.board.quiet_period_ms / 1000.0, hand_over, cycle, control_failed, c.make_safe)
    jobs: list[Any] = [
        failed,
        pulse.run(),
        c.station.run_events(),
        c.station.run_ticks(),
        c.station.run_smart_charging(),
        keep_connected(c.config, c.clock, c.link.serve,
                       ping_interval_s=lambda: c.settings.get_int("WebSocketPingInterval"), security=c.security),
    ]
    if c.board.reader is not None:
        jobs.append(c.station.run_reader(c.board.reader.read))
    if c.config.storage.admin_socket is not None:
        jobs.append(serve_admin(c, c.config.storage.admin_socket))
    jobs.extend(service(c.station.status_report) for service in c.board.services)
    jobs.extend(firmware_jobs(c))
    tasks = [asyncio.ensure_future(job) for job in jobs]
    waiters = [asyncio.create_task(stop.wait()), asyncio.create_task(c._restart.wait())]
    guard.beat()
    notify("READY=1\nSTATUS=running")
    control.start()
    guard.start()
    try:
        done, _ = await asyncio.wait([*tasks, *waiters], return_when=asyncio.FIRST_COMPLETED)
        for task in done:
            if task in tasks and not task.cancelled() and task.exception() is not None:
                raise task.exception()  # type: ignore[misc]
    finally:
        control.stop()
        guard.stop()
        c.make_safe()
        notify("STOPPING=1")
        await cancel_and_wait([*tasks, *waiters])
        c.store.close()
    return c.restart_reason


class EventLoopPulse:
    """The event loop's proof of life, read by the control thread before it feeds systemd."""

    def __init__(self, limit_s: float = 3.0) -> None:
        self._period_s = min(0.5, limit_s / 4)
        self._limit_s = limit_s
        self._last = time.monotonic()

    def alive(self) -> bool:
        return time.monotonic() - self._last <= self._limit_s

    async def run(self) -> None:
        while True:
            self._last = time.monotonic()
            await asyncio.sleep(self._period_s)


def install_signal_handlers(stop: asyncio.Event) -> None:
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
