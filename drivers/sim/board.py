"""The simulated board: one set of simulated devices per configured EVSE, a badge reader, and
the control socket through which a person or a test plays the EV, the badge and the faults."""
from __future__ import annotations

import math
from collections.abc import Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any

from drivers.sim.devices import SIM_FAULT_KINDS, RegisterFile, SimEvse, SimHeartbeat, SimIndicator, SimReader
from drivers.sim.ev import CABLE_AMPACITIES_A, EV_REQUEST_STATES
from drivers.sim.outputs import OutputLatches, latch_path
from hal.board import Board, StatusProvider
from hal.clock import Clock
from hal.types import CpState, FaultKind, IdToken

if TYPE_CHECKING:
    from chargepoint.config.model import Config

BOARD_KIND = "sim"
MAX_EV_CURRENT_A = 80.0  # the most IEC 61851-1 PWM can offer
EV_PHASES = (1, 2, 3)
MAX_TAG_LENGTH = 255


class SimCommandError(ValueError):
    """A control command the simulator cannot carry out; the message says what is accepted."""


class SimBoard:
    """The simulator as a whole. Tests drive it in-process; the control socket drives it from
    outside. Every method validates its arguments and raises SimCommandError with a message
    meant for the person who typed the command."""

    def __init__(
        self,
        config: Config,
        clock: Clock,
        initial_energy_wh: Mapping[int, float] | None = None,
        keep_registers: bool = False,
    ) -> None:
        self.config = config
        self.clock = clock
        energy = dict(initial_energy_wh or {})
        register = latches = None
        if keep_registers and config.sim is not None:
            sock = Path(config.sim.control_socket)
            register = RegisterFile(sock.with_name(sock.stem + ".meters.json"))
            latches = OutputLatches(latch_path(sock))
            energy = {**register.load(), **energy}
        self.evses: dict[int, SimEvse] = {
            e.id: SimEvse(e, clock, initial_energy_wh=energy.get(e.id, 0.0), register=register, latches=latches)
            for e in config.evses
        }
        self.reader = SimReader()
        self.reader.sim_board = self  # lets sim_board_of() find the simulator behind a Board
        self.indicator = SimIndicator()
        self.heartbeat = SimHeartbeat()

    @property
    def control_socket(self) -> Path | None:
        return self.config.sim.control_socket if self.config.sim is not None else None

    def board(self) -> Board:
        """The hal view handed to the controller."""
        services = []
        if self.control_socket is not None:
            services.append(self.serve_control)
        return Board(
            kind=BOARD_KIND,
            evses={i: e.devices() for i, e in self.evses.items()},
            reader=self.reader,
            indicator=self.indicator,
            heartbeat=self.heartbeat,
            services=services,
        )

    async def serve_control(self, status_provider: StatusProvider) -> None:
        """Board service: serve the control socket until cancelled."""
        from drivers.sim.control import SimControlServer

        if self.control_socket is None:
            raise SimCommandError("no [sim] control_socket configured")
        server = SimControlServer(self, self.control_socket, status_provider)
        await server.serve_forever()

    # --- commands -----------------------------------------------------------------------

    def evse(self, evse_id: Any) -> SimEvse:
        known = ", ".join(str(i) for i in self.evses)
        if isinstance(evse_id, bool) or not isinstance(evse_id, int):
            raise SimCommandError(f"'evse' must be an integer EVSE id (configured: {known}), got {evse_id!r}")
        try:
            return self.evses[evse_id]
        except KeyError:
            raise SimCommandError(f"unknown EVSE {evse_id}; configured EVSE ids: {known}") from None

    def plug(
        self,
        evse_id: int,
        max_current_a: float = 32.0,
        phases: int = 3,
        cable_a: int = 32,
    ) -> SimEvse:
        evse = self.evse(evse_id)
        if isinstance(max_current_a, bool) or not isinstance(max_current_a, (int, float)):
            raise SimCommandError(f"'max_current_a' must be a number of amperes, got {max_current_a!r}")
        if not (math.isfinite(max_current_a) and 0 < max_current_a <= MAX_EV_CURRENT_A):
            raise SimCommandError(
                f"'max_current_a' must be above 0 and at most {MAX_EV_CURRENT_A:g} A, got {max_current_a!r}"
            )
        if isinstance(phases, bool) or phases not in EV_PHASES:
            raise SimCommandError(f"'phases' must be 1, 2 or 3, got {phases!r}")
        if isinstance(cable_a, bool) or cable_a not in CABLE_AMPACITIES_A:
            accepted = ", ".join(str(a) for a in CABLE_AMPACITIES_A)
            raise SimCommandError(f"'cable_a' must be a PP-coded cable ampacity ({accepted}), got {cable_a!r}")
        if evse.ev.plugged:
            raise SimCommandError(f"EVSE {evse.id} already has an EV plugged; unplug it first")
        evse.plug(max_current_a=float(max_current_a), phases=int(phases), cable_a=int(cable_a))
        return evse

    def unplug(self, evse_id: int) -> SimEvse:
        evse = self.evse(evse_id)
        if not evse.ev.plugged:
            raise SimCommandError(f"no EV is plugged at EVSE {evse.id}")
        evse.unplug()
        return evse

    def set_ev_state(self, evse_id: int, state: Any, paused: bool = False) -> SimEvse:
        evse = self.evse(evse_id)
        accepted = [s.value for s in EV_REQUEST_STATES]
        if not isinstance(state, (str, CpState)) or str(getattr(state, "value", state)) not in accepted:
            raise SimCommandError(f"'state' must be one of {', '.join(accepted)}, got {state!r}")
        if not isinstance(paused, bool):
            raise SimCommandError(f"'paused' must be true or false, got {paused!r}")
        if not evse.ev.plugged:
            raise SimCommandError(f"no EV is plugged at EVSE {evse.id}; plug one first")
        evse.request(CpState(getattr(state, "value", state)), paused=paused)
        return evse

    def tap(self, tag: Any, evse_id: int | None = None) -> IdToken:
        if not isinstance(tag, str) or not tag.strip():
            raise SimCommandError(f"'tag' must be a non-empty string, got {tag!r}")
        if len(tag) > MAX_TAG_LENGTH:
            raise SimCommandError(f"'tag' must be at most {MAX_TAG_LENGTH} characters, got {len(tag)}")
        if evse_id is not None:
            self.evse(evse_id)
        return self.reader.tap(tag, evse_id)

    def fault_kind(self, evse: SimEvse, kind: Any) -> FaultKind:
        accepted = [k.value for k in SIM_FAULT_KINDS]
        value = getattr(kind, "value", kind)
        if not isinstance(value, str) or value not in accepted:
            raise SimCommandError(f"'kind' must be one of {', '.join(accepted)}, got {kind!r}")
        fault = FaultKind(value)
        if fault is FaultKind.PP and not evse.has_socket:
            raise SimCommandError(
                f"EVSE {evse.id} has a tethered cable (Type2Cable) and no proximity pilot; a pp fault needs a socket"
            )
        return fault

    def inject_fault(self, evse_id: int, kind: Any) -> SimEvse:
        evse = self.evse(evse_id)
        evse.inject(self.fault_kind(evse, kind))
        return evse

    def clear_fault(self, evse_id: int, kind: Any) -> SimEvse:
        evse = self.evse(evse_id)
        evse.clear(self.fault_kind(evse, kind))
        return evse

    def status(self) -> dict[str, Any]:
        """The board's own part of the status; the controller's view is merged in by the server."""
        return {
            "evses": [e.status() for e in self.evses.values()],
            "ocpp": None,
            "indicator": self.indicator.pattern.value,
            "pending_badges": self.reader.pending(),
            "heartbeat_toggles": self.heartbeat.toggles,
        }


def build_sim(
    config: Config,
    clock: Clock,
    initial_energy_wh: Mapping[int, float] | None = None,
) -> SimBoard:
    return SimBoard(config, clock, initial_energy_wh=initial_energy_wh)


def build_sim_board(
    config: Config,
    clock: Clock,
    initial_energy_wh: Mapping[int, float] | None = None,
) -> Board:
    """The hal Board for a configuration whose board kind is "sim". Its meters keep their
    registers across controller restarts, as real meters do."""
    return SimBoard(config, clock, initial_energy_wh=initial_energy_wh, keep_registers=True).board()


def sim_board_of(board: Board) -> SimBoard:
    """The simulator behind a Board built by build_sim_board (for tests driving it in-process)."""
    sim = getattr(board.reader, "sim_board", None)
    if not isinstance(sim, SimBoard):
        raise TypeError(f"board of kind {board.kind!r} is not a simulated board")
    return sim


def sim_safe_state(config: Config) -> dict[str, Any]:
    """`chargepoint safe-state` on the simulated board: set the latched outputs safe, touching
    nothing else (the controller is not running)."""
    if config.sim is None:
        return {}
    latches = OutputLatches(latch_path(Path(config.sim.control_socket)))
    return latches.make_safe([e.id for e in config.evses])
