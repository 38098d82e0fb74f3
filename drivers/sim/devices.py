"""Simulated devices of one EVSE and of the box. They implement the hal contracts exactly like
real drivers, so the charging core cannot tell them apart; the physics they share (EV, faults,
energy) lives in `SimEvse`."""
from __future__ import annotations

import asyncio
import json
import logging
import os
import threading
from pathlib import Path
from typing import TYPE_CHECKING, Any

from drivers.sim.ev import SimEv, offered_current_a
from drivers.sim.outputs import OutputLatches
from hal.board import EvseDevices
from hal.clock import Clock
from hal.types import (
    CpReading,
    CpState,
    FaultKind,
    IdToken,
    IndicatorPattern,
    MeterError,
    MeterReading,
    PilotMode,
    PilotOutput,
    ProximityReading,
)

if TYPE_CHECKING:
    from chargepoint.config.model import EvseConfig

log = logging.getLogger(__name__)

# Faults the simulator can inject, in the order the protocol documents them.
SIM_FAULT_KINDS: tuple[FaultKind, ...] = (
    FaultKind.RCM,
    FaultKind.DIODE,
    FaultKind.WELD,
    FaultKind.METER_LOSS,
    FaultKind.PP,
    FaultKind.STATE_E,
    FaultKind.RCM_SELF_TEST,  # the monitor's test circuit is broken: self-tests fail
    FaultKind.OVER_TEMPERATURE,
    FaultKind.LOCK,  # the lock's actuator does not move: it never reaches the commanded position
)

SOCKET_CONNECTOR = "Type2Socket"


class SimEvse:
    """The physical side of one EVSE: its EV, injected faults and the energy that flowed.

    Energy is integrated exactly over the injected clock: every change that can alter the power
    first books the energy drawn at the old power up to now (`settle`)."""

    def __init__(self, config: EvseConfig, clock: Clock, initial_energy_wh: float = 0.0,
                 register: RegisterFile | None = None, latches: OutputLatches | None = None) -> None:
        self.config = config
        self.latches = latches
        self.clock = clock
        self.ev = SimEv()
        self.faults: set[FaultKind] = set()
        # The control loop (its own thread) and the event loop (meter, control socket) both
        # change and read the physics: one lock keeps the energy integration exact.
        self.physics = threading.RLock()
        self._energy_wh = float(initial_energy_wh)
        self._last_t = clock.monotonic()
        self.contactor = SimContactor(self)
        self.pilot = SimPilot(self)
        self.rcm = SimRcm(self)
        self.meter = SimMeter(self, register)
        self.proximity: SimProximity | None = SimProximity(self) if self.has_socket else None
        self.lock: SimLock | None = SimLock(self) if self.has_socket else None

    @property
    def id(self) -> int:
        return self.config.id

    def outputs_changed(self) -> None:
        if self.latches is None:
            return
        pilot = self.pilot.output
        self.latches.update(
            self.id, contactor_closed=self.contactor.commanded_closed, pilot=pilot.mode.value,
            pwm_duty_percent=pilot.duty_percent if pilot.pwm_on else (0.0 if pilot.mode.value == "state_f" else 100.0),
            locked=self.lock.commanded_locked if self.lock is not None else None,
        )

    @property
    def has_socket(self) -> bool:
        """A socket outlet has a proximity pilot and a lock; a tethered cable has neither."""
        return bool(self.config.connectors) and self.config.connectors[0].type == SOCKET_CONNECTOR

    def devices(self) -> EvseDevices:
        return EvseDevices(
            contactor=self.contactor,
            pilot=self.pilot,
            proximity=self.proximity,
            rcm=self.rcm,
            lock=self.lock,
            meter=self.meter,
            over_temperature=SimThermalSwitch(self),
        )

    # --- physics -------------------------------------------------------------------------

    def contacts_closed(self) -> bool:
        """Whether current can flow: a welded contactor stays closed whatever it is told."""
        return self.contactor.commanded_closed or FaultKind.WELD in self.faults

    def phase_currents(self) -> tuple[float, ...]:
        """Current on each of the EVSE's phases (L1 first)."""
        phases = self.config.phases
        if FaultKind.STATE_E in self.faults:
            amps = 0.0  # a CP shorted to PE leaves the EV without a pilot: it stops drawing
        else:
            amps = self.ev.current_a(self.pilot.output, self.contacts_closed())
        drawing = self.ev.drawing_phases(phases) if amps > 0 else 0
        return tuple(amps if i < drawing else 0.0 for i in range(phases))

    def phase_voltages(self) -> tuple[float, ...]:
        return tuple(self.config.nominal_voltage_v for _ in range(self.config.phases))

    def power_w(self) -> float:
        return sum(v * i for v, i in zip(self.phase_voltages(), self.phase_currents()))

    def settle(self) -> None:
        """Book the energy drawn since the last change, at the power that held meanwhile."""
        with self.physics:
            now = self.clock.monotonic()
            if now > self._last_t:
                self._energy_wh += self.power_w() * (now - self._last_t) / 3600.0
            self._last_t = max(now, self._last_t)

    def energy_wh(self) -> float:
        with self.physics:
            self.settle()
            return self._energy_wh

    def cp_reading(self) -> CpReading:
        with self.physics:
            return self._cp_reading()

    def _cp_reading(self) -> CpReading:
        if self.pilot.output.mode is PilotMode.STATE_F:
            state = CpState.F
        elif FaultKind.STATE_E in self.faults:
            state = CpState.E
        else:
            state = self.ev.state(self.pilot.output)
        diode = FaultKind.DIODE in self.faults and self.ev.plugged
        return CpReading(state=state, diode_fault=diode)

    # --- what the outside world does -----------------------------------------------------

    def plug(self, max_current_a: float = 32.0, phases: int = 3, cable_a: int = 32) -> None:
        with self.physics:
            self.settle()
            self.ev.plug(max_current_a=max_current_a, phases=phases, cable_a=cable_a)

    def unplug(self) -> None:
        with self.physics:
            self.settle()
            self.ev.unplug()

    def request(self, state: CpState, paused: bool = False) -> None:
        with self.physics:
            self.settle()
            self.ev.request(state, paused=paused)

    def inject(self, kind: FaultKind) -> None:
        with self.physics:
            self.settle()
            self.faults.add(kind)
            if kind is FaultKind.RCM:
                self.rcm.latch()

    def clear(self, kind: FaultKind) -> None:
        with self.physics:
            self.settle()
            self.faults.discard(kind)

    def status(self) -> dict[str, Any]:
        """The board's view of this EVSE, for the control socket."""
        output = self.pilot.output
        if output.mode is PilotMode.PWM:
            duty = float(output.duty_percent)
        elif output.mode is PilotMode.CONSTANT_HIGH:
            duty = 100.0
        else:
            duty = 0.0
        ev = self.ev
        return {
            "id": self.id,
            "cp_state": self.cp_reading().state.value,
            "pwm_duty_percent": duty,
            "contactor_closed": self.contactor.commanded_closed,
            "contactor_feedback_closed": bool(self.contactor.feedback_closed()),
            "locked": bool(self.lock.feedback_locked()) if self.lock is not None else False,
            "offered_current_a": offered_current_a(output),
            "energy_wh": self.energy_wh(),
            "power_w": self.power_w(),
            "current_a": list(self.phase_currents()),
            "transaction_id": None,
            "connector_status": None,
            "plugged": ev.plugged,
            "ev_state": ev.requested.value if ev.plugged else None,
            "ev": (
                {"max_current_a": ev.max_current_a, "phases": ev.phases, "cable_a": ev.cable_a, "paused": ev.paused}
                if ev.plugged
                else None
            ),
            "faults": [k.value for k in SIM_FAULT_KINDS if k in self.faults],
        }


class SimContactor:
    """Feedback follows the command, except that a welded contactor reports closed."""

    def __init__(self, evse: SimEvse) -> None:
        self._evse = evse
        self._closed = False

    def set_closed(self, closed: bool) -> None:
        with self._evse.physics:
            self._evse.settle()
            self._closed = bool(closed)
            self._evse.outputs_changed()

    @property
    def commanded_closed(self) -> bool:
        return self._closed

    def feedback_closed(self) -> bool | None:
        return self._evse.contacts_closed()


class SimPilot:
    """Stores the pilot output and classifies what the simulated EV does to it."""

    def __init__(self, evse: SimEvse) -> None:
        self._evse = evse
        self._output = PilotOutput(PilotMode.CONSTANT_HIGH)

    def set_pwm(self, duty_percent: float) -> None:
        if not 0.0 <= duty_percent <= 100.0:
            raise ValueError(f"PWM duty must be within 0-100 %, got {duty_percent}")
        self._set(PilotOutput(PilotMode.PWM, float(duty_percent)))

    def set_constant_high(self) -> None:
        self._set(PilotOutput(PilotMode.CONSTANT_HIGH, 100.0))

    def set_state_f(self) -> None:
        self._set(PilotOutput(PilotMode.STATE_F, 0.0))

    def _set(self, output: PilotOutput) -> None:
        with self._evse.physics:
            if output != self._output:
                self._evse.settle()
                self._output = output
                self._evse.outputs_changed()

    @property
    def output(self) -> PilotOutput:
        return self._output

    def read(self) -> CpReading:
        return self._evse.cp_reading()


class SimProximity:
    """PP of a socket outlet: the plugged cable's ampacity; out of range while a pp fault is on."""

    def __init__(self, evse: SimEvse) -> None:
        self._evse = evse

    def read(self) -> ProximityReading:
        if FaultKind.PP in self._evse.faults:
            return ProximityReading(ampacity_a=None, error=True)
        if not self._evse.ev.plugged:
            return ProximityReading(ampacity_a=None)
        return ProximityReading(ampacity_a=self._evse.ev.cable_a)


class SimRcm:
    """Trips while an rcm fault is injected and stays latched until reset, like a real RCD-DD."""

    def __init__(self, evse: SimEvse) -> None:
        self._evse = evse
        self._latched = False

    def latch(self) -> None:
        self._latched = True

    def tripped(self) -> bool:
        return self._latched or FaultKind.RCM in self._evse.faults

    def reset(self) -> None:
        self._latched = FaultKind.RCM in self._evse.faults

    async def self_test(self) -> bool:
        faults = self._evse.faults
        return FaultKind.RCM not in faults and FaultKind.RCM_SELF_TEST not in faults


class SimThermalSwitch:
    """The over-temperature input: active while an over-temperature fault is injected."""

    def __init__(self, evse: SimEvse) -> None:
        self._evse = evse

    def active(self) -> bool:
        return FaultKind.OVER_TEMPERATURE in self._evse.faults


class SimLock:
    """Socket lock whose feedback follows the command (the opposite while a lock fault is
    injected: the actuator does not move)."""

    def __init__(self, evse: SimEvse) -> None:
        self._evse = evse
        self._locked = False

    def set_locked(self, locked: bool) -> None:
        self._locked = bool(locked)
        self._evse.outputs_changed()

    @property
    def commanded_locked(self) -> bool:
        return self._locked

    def feedback_locked(self) -> bool | None:
        if FaultKind.LOCK in self._evse.faults:
            return not self._locked
        return self._locked


class SimMeter:
    """Energy meter of one EVSE; silent (MeterError) while a meter-loss fault is injected.

    Like a real meter it keeps its register when the controller restarts: with a register file,
    every reading is written there before it is returned, so nothing the controller has seen
    is ever lost from the meter."""

    def __init__(self, evse: SimEvse, register: RegisterFile | None = None) -> None:
        self._evse = evse
        self._register = register

    async def read(self) -> MeterReading:
        evse = self._evse
        with evse.physics:
            energy = evse.energy_wh()
            if FaultKind.METER_LOSS in evse.faults:
                raise MeterError(f"simulated meter of EVSE {evse.id} does not answer (meter-loss fault)")
            reading = MeterReading(
                energy_import_wh=energy,
                power_w=evse.power_w(),
                voltage_v=evse.phase_voltages(),
                current_a=evse.phase_currents(),
            )
        if self._register is not None:
            self._register.save(evse.id, energy)
        return reading


class SimReader:
    """The box's badge reader: badges arrive from the control socket's `tap` command."""

    def __init__(self) -> None:
        self._queue: asyncio.Queue[IdToken] = asyncio.Queue()
        self.sim_board: object | None = None  # the SimBoard owning this reader

    def tap(self, id_tag: str, evse_id: int | None = None) -> IdToken:
        token = IdToken(id_tag=id_tag, source="rfid", evse_id=evse_id)
        self._queue.put_nowait(token)
        return token

    def pending(self) -> int:
        return self._queue.qsize()

    async def read(self) -> IdToken:
        return await self._queue.get()


class SimIndicator:
    """Remembers the pattern the core shows so the status can report it."""

    def __init__(self) -> None:
        self.pattern = IndicatorPattern.OFF

    def show(self, pattern: IndicatorPattern) -> None:
        self.pattern = pattern


class SimHeartbeat:
    """The heartbeat pin: counts toggles so the status shows whether the control loop runs."""

    def __init__(self) -> None:
        self.level = False
        self.toggles = 0

    def toggle(self) -> None:
        self.level = not self.level
        self.toggles += 1


class RegisterFile:
    """Energy registers of the simulated meters, kept in a small JSON file beside the control
    socket (written atomically) so they survive the controller process."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self._values = self.load()

    def load(self) -> dict[int, float]:
        try:
            raw = json.loads(self.path.read_text(encoding="utf-8"))
            return {int(k): float(v) for k, v in raw.items()}
        except (OSError, ValueError, AttributeError, TypeError):
            return {}

    def save(self, evse_id: int, energy_wh: float) -> None:
        if self._values.get(evse_id) == energy_wh:
            return
        self._values[evse_id] = energy_wh
        tmp = self.path.with_name(self.path.name + ".tmp")
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            tmp.write_text(json.dumps({str(k): v for k, v in self._values.items()}), encoding="utf-8")
            os.replace(tmp, self.path)
        except OSError as exc:
            log.warning("cannot keep the simulated meter register in %s: %s", self.path, exc)
