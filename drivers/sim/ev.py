"""A simulated EV as IEC 61851-1 describes it: it answers the pilot with a state and draws the
current the duty cycle allows, never more than it can take itself."""
from __future__ import annotations

import math
from dataclasses import dataclass

from hal.types import CpState, PilotMode, PilotOutput

# Duty-cycle limits (percent) between which the pilot means "you may draw this much".
MIN_DRAW_DUTY_PERCENT = 8.0
MAX_DRAW_DUTY_PERCENT = 97.0

# Proximity-pilot codings of IEC 61851-1 Annex B (cable ampacity in A); 70 A is the
# single-phase reading of the 100 ohm resistor.
CABLE_AMPACITIES_A = (13, 20, 32, 63, 70)

EV_REQUEST_STATES = (CpState.B, CpState.C, CpState.D)


def current_from_duty(duty_percent: float) -> float:
    """Current an EV may draw for a PWM duty cycle (IEC 61851-1 Table A.7, EV side).

    The result is rounded down to 0.1 A, like an EV reading the pilot with finite resolution:
    it must never draw more than it was offered.
    """
    d = duty_percent
    if 8.0 <= d < 10.0:
        amps = 6.0
    elif 10.0 <= d <= 85.0:
        amps = d * 0.6
    elif 85.0 < d <= 96.0:
        amps = (d - 64.0) * 2.5
    elif 96.0 < d <= 97.0:
        amps = 80.0
    else:
        return 0.0
    return math.floor(amps * 10.0 + 1e-6) / 10.0


def pilot_allows_draw(output: PilotOutput) -> bool:
    """PWM inside 8-97 %; 3-7 % asks for digital communication, which this EV does not speak."""
    return output.mode is PilotMode.PWM and MIN_DRAW_DUTY_PERCENT <= output.duty_percent <= MAX_DRAW_DUTY_PERCENT


def offered_current_a(output: PilotOutput) -> float:
    """What the pilot offers, as the EV decodes it (0 when it offers nothing)."""
    return current_from_duty(output.duty_percent) if pilot_allows_draw(output) else 0.0


@dataclass
class SimEv:
    """One EV and its charging cable. `requested` is what the EV wants (B, C or D); the state it
    actually shows also depends on the pilot. A `paused` EV keeps its state but draws nothing,
    like a car whose battery management stopped the charge."""

    plugged: bool = False
    requested: CpState = CpState.B
    max_current_a: float = 32.0
    phases: int = 3
    cable_a: int = 32
    paused: bool = False

    def plug(self, max_current_a: float = 32.0, phases: int = 3, cable_a: int = 32) -> None:
        """A freshly connected EV starts in B: it waits for the EVSE before asking for energy."""
        self.plugged = True
        self.requested = CpState.B
        self.max_current_a = max_current_a
        self.phases = phases
        self.cable_a = cable_a
        self.paused = False

    def unplug(self) -> None:
        self.plugged = False
        self.requested = CpState.B
        self.paused = False

    def request(self, state: CpState, paused: bool = False) -> None:
        if state not in EV_REQUEST_STATES:
            raise ValueError(f"an EV can request B, C or D, not {state.value}")
        self.requested = state
        self.paused = paused

    def state(self, pilot: PilotOutput) -> CpState:
        """The state the EV presents on the pilot: C/D only while it wants energy and may draw."""
        if not self.plugged:
            return CpState.A
        if self.requested.wants_energy and pilot_allows_draw(pilot):
            return self.requested
        return CpState.B

    def current_a(self, pilot: PilotOutput, contacts_closed: bool) -> float:
        """Per-phase current, drawn only in C/D through closed contacts."""
        if self.paused or not contacts_closed or not self.state(pilot).wants_energy:
            return 0.0
        return min(offered_current_a(pilot), self.max_current_a)

    def drawing_phases(self, evse_phases: int) -> int:
        return min(self.phases, evse_phases)
