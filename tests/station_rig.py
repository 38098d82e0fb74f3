"""A station on the simulated board, driven by one manual clock, with a fake CSMS link: the rig
shared by the station-level tests (sessions, reservations, smart charging, configuration keys).
Everything runs on the test's event loop; `run` advances time step by step."""
from __future__ import annotations

import asyncio
from collections.abc import Coroutine
from datetime import datetime
from pathlib import Path
from typing import Any

from chargepoint.app import Controller, build_controller
from chargepoint.config import load_config
from chargepoint.control_loop import run_control_loop
from chargepoint.link import AuthDecision, CsmsUnavailable
from chargepoint.status import ConnectorStatus
from chargepoint.transactions import LinkRef
from drivers.sim.board import sim_board_of
from hal.clock import ManualClock
from hal.types import IdToken


class FakeLink:
    """The CSMS as the core sees it: Authorize answers from a table (tags compared without case,
    unknown ones Invalid), statuses recorded."""

    def __init__(self, decisions: dict[str, AuthDecision | str] | None = None, online: bool = True) -> None:
        self.online = online
        self.decisions = {tag.casefold(): d if isinstance(d, AuthDecision) else AuthDecision(d)
                          for tag, d in (decisions or {}).items()}
        self.statuses: list[tuple[int, ConnectorStatus]] = []
        self.authorized: list[str] = []

    async def authorize(self, id_tag: str) -> AuthDecision:
        if not self.online:
            raise CsmsUnavailable("offline")
        self.authorized.append(id_tag)
        return self.decisions.get(id_tag.casefold(), AuthDecision("Invalid"))

    def status_changed(self, connector_id: int, status: ConnectorStatus, error: object) -> None:
        self.statuses.append((connector_id, status))

    def outbox_changed(self) -> None:
        pass

    def connection_state(self) -> dict[str, object]:
        return {"state": "fake"}


class StationRig:
    def __init__(self, tmp: Path, config: str, link: Any, clock: ManualClock | datetime) -> None:
        (tmp / "firmware.toml").write_text(config, encoding="utf-8")
        self.clock = clock if isinstance(clock, ManualClock) else ManualClock(clock)
        self.link = link
        self.c: Controller = build_controller(load_config(tmp / "firmware.toml"), self.clock)
        self.station = self.c.station
        self.station._link = LinkRef(link)  # the fake stands in for the OCPP adapter
        self.station.transactions._link = self.station._link
        self.sim = sim_board_of(self.c.board)
        self.tasks: list[asyncio.Task[object]] = []

    def jobs(self) -> list[Coroutine[Any, Any, Any]]:
        """The station's long-running jobs this rig runs beside the control loop."""
        s = self.station
        return [s.run_events(), s.run_ticks()]

    async def start(self) -> None:
        await self.station.recover()
        loop = run_control_loop(list(self.c.controllers.values()), self.clock, 0.01, self.station.post_events)
        self.tasks = [asyncio.create_task(job) for job in (loop, *self.jobs())]
        await self.run(0.05)

    async def run(self, seconds: float, step: float = 0.01) -> None:
        """Advance the clock in steps, letting every woken task run in between."""
        for _ in range(max(1, round(seconds / step))):
            self.clock.advance(step)
            for _ in range(5):
                await asyncio.sleep(0)

    async def stop(self) -> None:
        for task in self.tasks:
            task.cancel()
        await asyncio.gather(*self.tasks, return_exceptions=True)

    async def tap(self, tag: str, evse_id: int | None = None) -> None:
        """Present a badge as the reader does: in its own task, while time goes on."""
        task = asyncio.create_task(self.station.present_token(IdToken(tag, evse_id=evse_id)))
        while not task.done():
            await self.run(0.05)
        task.result()

    def status(self, evse_id: int = 1) -> ConnectorStatus:
        return self.station.status_of(evse_id)[0]
