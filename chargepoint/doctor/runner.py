"""Runs the doctor: builds the board the configuration names (nothing else: no OCPP, no store,
no control loop), runs every check with its time limit, and leaves every output safe at the
end, after a failure, a driver error or an interruption alike."""
from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from typing import TYPE_CHECKING

from chargepoint.doctor.checks_box import box_steps
from chargepoint.doctor.checks_meter import meter_steps
from chargepoint.doctor.checks_pilot import pilot_steps
from chargepoint.doctor.checks_power import power_steps
from chargepoint.doctor.context import DoctorContext, DoctorOptions, Step
from chargepoint.doctor.exclusive import AdminSocketHold, ControllerRunning, serving_socket
from chargepoint.doctor.results import CheckResult, Report, Verdict, failed
from chargepoint.doctor.safe import close_board, drive_safe
from hal.board import Board, build_board
from hal.clock import Clock, SystemClock

if TYPE_CHECKING:
    from chargepoint.config import Config

log = logging.getLogger(__name__)

BUILD_HINT = ("the drivers could not reach the hardware: check that the PWM overlay is enabled (ls /sys/class/pwm), "
              "that I2C is enabled (ls /dev/i2c-*), that the serial ports exist, and that this user may use "
              "them (groups gpio, i2c, dialout)")


def plan(ctx: DoctorContext) -> list[Step]:
    """Per EVSE: pilot first (its state at rest decides whether the contactor may close), then the
    power path and the meter; the box's devices last, the badge wait at the very end."""
    steps: list[Step] = []
    for evse_id, devices in ctx.board.evses.items():
        steps += pilot_steps(ctx, evse_id, devices)
        steps += power_steps(ctx, evse_id, devices)
        steps += meter_steps(ctx, evse_id, devices)
    return steps + box_steps(ctx)


async def run_step(step: Step, clock: Clock) -> CheckResult:
    start = clock.monotonic()
    verdict: Verdict
    try:
        async with asyncio.timeout(step.timeout_s):
            verdict = await step.run()
    except TimeoutError:
        verdict = failed(f"no result within {step.timeout_s:g} s",
                         "the device or its bus hangs: check its wiring, its supply and the configured pins/ports")
    except Exception as exc:
        log.debug("doctor: %s %s %s failed", step.scope, step.device, step.check, exc_info=True)
        verdict = failed(f"driver error: {type(exc).__name__}: {exc}",
                         "the driver refused the command: check the device's table in firmware.toml and its wiring")
    return CheckResult(step.scope, step.device, step.check, verdict, clock.monotonic() - start)


def _no_controller_status() -> dict[str, object]:
    """What board services (the simulator's control socket) report for the controller: none runs."""
    return {}


class Doctor:
    """One doctor run. `report` fills as checks finish, so an interrupted run can still be shown.
    `board` replaces the one the configuration names (tests wire real drivers to fakes)."""

    def __init__(self, config: Config, options: DoctorOptions, *, clock: Clock | None = None,
                 board: Board | None = None, progress: Callable[[str], None] | None = None) -> None:
        self.config = config
        self.options = options
        self.clock = clock or SystemClock()
        self._board = board
        self.progress = progress or (lambda message: None)
        self.report = Report(board=config.board.kind)

    async def run(self) -> Report:
        """Raises ControllerRunning when a controller runs with this configuration (unless forced)."""
        if not self.options.force:
            path = await serving_socket(self.config)
            if path is not None:
                raise ControllerRunning(f"a controller is running with this configuration (it serves {path})")
        async with AdminSocketHold(self.config.storage.admin_socket, required=not self.options.force):
            try:
                board = self._board or build_board(self.config, self.clock)
            except Exception as exc:
                self.report.results.append(CheckResult("box", "board", "build", failed(
                    f"cannot build the {self.config.board.kind} board: {type(exc).__name__}: {exc}", BUILD_HINT)))
                return self.report
            await self._exercise(board)
        return self.report

    async def _exercise(self, board: Board) -> None:
        ctx = DoctorContext(self.config, board, self.clock, self.options, self.progress)
        services = [asyncio.create_task(service(_no_controller_status)) for service in board.services]
        try:
            for step in plan(ctx):
                self.report.results.append(await run_step(step, self.clock))
        except asyncio.CancelledError:
            self.report.interrupted = True
            raise
        finally:
            self.report.safe_state = drive_safe(board)
            for task in services:
                task.cancel()
            for outcome in await asyncio.gather(*services, return_exceptions=True):
                if isinstance(outcome, Exception):
                    log.warning("doctor: a board service failed: %r", outcome)
            await close_board(board)
