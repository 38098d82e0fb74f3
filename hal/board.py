"""Builds the devices a configuration names. The only module that knows driver names."""
from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from hal.clock import Clock
from hal.contracts import (
    Contactor,
    ControlPilot,
    EnergyMeter,
    FaultInput,
    HeartbeatOutput,
    IdTokenReader,
    Indicator,
    ProximityPilot,
    ResidualCurrentMonitor,
    SocketLock,
)
from hal.types import FaultKind

if TYPE_CHECKING:
    from chargepoint.config import Config


@dataclass
class EvseDevices:
    contactor: Contactor
    pilot: ControlPilot
    proximity: ProximityPilot | None
    rcm: ResidualCurrentMonitor | None
    lock: SocketLock | None
    meter: EnergyMeter
    over_temperature: FaultInput | None = None
    # Further board-specific fault sources, watched like over_temperature (e.g. the link to a
    # safety co-processor): active means the contactor opens.
    fault_inputs: dict[FaultKind, FaultInput] = field(default_factory=dict)


StatusProvider = Callable[[], dict[str, Any]]


@dataclass
class Board:
    """Everything the controller drives. `services` are long-running tasks the board needs
    (the simulator's control socket, for instance); they receive a status provider so a board
    can report the controller's view without the core knowing about it."""

    kind: str
    evses: dict[int, EvseDevices]
    reader: IdTokenReader | None = None
    indicator: Indicator | None = None
    heartbeat: HeartbeatOutput | None = None
    services: list[Callable[[StatusProvider], Awaitable[None]]] = field(default_factory=list)


class UnknownBoardKind(ValueError):
    pass


BOARD_KINDS = ("sim", "pi", "mcu")


def build_board(config: Config, clock: Clock) -> Board:
    if config.board.kind == "sim":
        from drivers.sim.board import build_sim_board

        return build_sim_board(config, clock)
    if config.board.kind == "pi":
        from drivers.pi.board import build_pi_board

        return build_pi_board(config, clock)
    if config.board.kind == "mcu":
        from drivers.mcu.board import build_mcu_board

        return build_mcu_board(config, clock)
    raise UnknownBoardKind(f"unknown board kind {config.board.kind!r}; known: {', '.join(BOARD_KINDS)}")


def safe_state(config: Config) -> dict[str, Any]:
    """Drive every configured output to its safe level without building the rest of the
    controller: run by systemd after any stop (ExecStopPost). Returns what was set."""
    if config.board.kind == "sim":
        from drivers.sim.board import sim_safe_state

        return sim_safe_state(config)
    if config.board.kind == "pi":
        from drivers.pi.board import pi_safe_state

        return pi_safe_state(config)
    if config.board.kind == "mcu":
        from drivers.mcu.board import mcu_safe_state

        return mcu_safe_state(config)
    raise UnknownBoardKind(f"unknown board kind {config.board.kind!r}; known: {', '.join(BOARD_KINDS)}")
