"""EvseController on the simulated board: the IEC 61851 sequence and the safety reactions, with
time given explicitly to `step(now)` every 10 ms (no sleeping)."""
from __future__ import annotations

import dataclasses
from collections.abc import Callable
from pathlib import Path

import pytest

from chargepoint.config.model import (
    BoardConfig,
    ChargePointConfig,
    Config,
    ConnectorConfig,
    EvseConfig,
    OcppConfig,
    StorageConfig,
)
from chargepoint.evse.controller import EvseController
from chargepoint.evse.events import (
    ContactorChanged,
    CpChanged,
    EvseEvent,
    FaultCleared,
    FaultRaised,
    PilotChanged,
)
from chargepoint.evse.iec61851 import duty_for_current
from chargepoint.status import error_for
from drivers.sim.board import SimBoard, build_sim
from drivers.sim.devices import SimEvse
from hal.clock import ManualClock
from hal.types import CpReading, CpState, FaultKind, PilotMode, PilotOutput

PERIOD_S = 0.01
BUDGET_S = 0.1  # IEC 61851-1: the contactor opens within 100 ms of the EV's change


def make_config(connector: str = "Type2Socket", max_current_a: float = 32) -> Config:
    return Config(
        source=Path("/etc/borne/firmware.toml"),
        chargepoint=ChargePointConfig(id="CP1", vendor="Borne", model="Sim"),
        ocpp=OcppConfig(version="1.6", csms_url="ws://127.0.0.1:9000"),
        board=BoardConfig(kind="sim"),
        storage=StorageConfig(path=Path("/tmp/borne-test-unused.db")),
        evses=(EvseConfig(id=1, max_current_a=max_current_a, phases=3,
                          connectors=(ConnectorConfig(id=1, type=connector),)),),
    )


class Rig:
    """One EVSE controller on a simulated board; `now` advances 10 ms per step."""

    def __init__(self, *, ventilation: bool = False, connector: str = "Type2Socket",
                 max_current_a: float = 32, pilot: object | None = None) -> None:
        self.clock = ManualClock()
        self.sim: SimBoard = build_sim(make_config(connector, max_current_a), self.clock)
        devices = self.sim.board().evses[1]
        if pilot is not None:
            # A fake pilot replaces the simulated EV; no PP so no cable is expected either.
            devices = dataclasses.replace(devices, pilot=pilot, proximity=None)
        self.devices = devices
        self.ctl = EvseController(1, devices, float(max_current_a), tethered=connector == "Type2Cable",
                                  ventilation_available=ventilation)
        self.ticks = 0
        self.events: list[EvseEvent] = []
        self.history: list[tuple[float, bool, PilotOutput, bool | None]] = []

    @property
    def now(self) -> float:
        return self.ticks * PERIOD_S

    @property
    def evse(self) -> SimEvse:
        return self.sim.evses[1]

    @property
    def closed(self) -> bool:
        return self.devices.contactor.commanded_closed

    @property
    def pilot(self) -> PilotOutput:
        return self.devices.pilot.output

    @property
    def locked(self) -> bool | None:
        return self.devices.lock.commanded_locked if self.devices.lock is not None else None

    def step(self) -> list[EvseEvent]:
        self.ticks += 1
        self.clock.advance(PERIOD_S)
        events = self.ctl.step(self.now)
        self.events.extend(events)
        self.history.append((self.now, self.closed, self.pilot, self.locked))
        return events

    def run(self, seconds: float) -> None:
        for _ in range(round(seconds / PERIOD_S)):
            self.step()

    def until(self, condition: Callable[[], bool], within: float) -> float:
        """Step until `condition` holds; return how long it took (fails beyond `within`)."""
        start = self.now
        while not condition():
            assert self.now - start <= within + 1e-9, f"condition not met within {within} s"
            self.step()
        return self.now - start

    def take_events(self) -> list[EvseEvent]:
        events, self.events = self.events, []
        return events

    # --- scenarios ----------------------------------------------------------------------------

    def plugged_in(self, **plug: object) -> None:
        self.sim.plug(1, **plug)  # type: ignore[arg-type]
        self.run(0.05)
        assert self.ctl.plugged

    def charging(self) -> None:
        self.plugged_in()
        self.ctl.authorise()
        self.run(0.05)
        self.sim.set_ev_state(1, "C")
        self.until(lambda: self.closed, within=BUDGET_S)


class FakePilot:
    """A ControlPilot whose EV shows whatever state the test sets, with or without PWM (a real
    EV may stay in C for a while after the PWM stops; the simulated EV drops to B at once)."""

    def __init__(self) -> None:
        self.ev_state = CpState.A
        self._output = PilotOutput(PilotMode.CONSTANT_HIGH)

    def set_pwm(self, duty_percent: float) -> None:
        self._output = PilotOutput(PilotMode.PWM, duty_percent)

    def set_constant_high(self) -> None:
        self._output = PilotOutput(PilotMode.CONSTANT_HIGH, 100.0)

    def set_state_f(self) -> None:
        self._output = PilotOutput(PilotMode.STATE_F, 0.0)

    @property
    def output(self) -> PilotOutput:
        return self._output

    def read(self) -> CpReading:
        if self._output.mode is PilotMode.STATE_F:
            return CpReading(CpState.F)
        return CpReading(self.ev_state)


@pytest.fixture
def rig() -> Rig:
    return Rig()


# --- when the contactor closes --------------------------------------------------------------


def test_closes_when_plugged_authorised_in_c_with_pwm(rig: Rig) -> None:
    rig.plugged_in()
    assert rig.ctl.cp_state is CpState.B
    assert rig.pilot.mode is PilotMode.CONSTANT_HIGH
    rig.ctl.authorise()
    rig.step()
    assert rig.pilot == PilotOutput(PilotMode.PWM, pytest.approx(duty_for_current(32)))
    assert not rig.closed
    rig.sim.set_ev_state(1, "C")
    assert rig.until(lambda: rig.closed, within=BUDGET_S) <= BUDGET_S
    assert rig.ctl.cp_state is CpState.C
    snap = rig.ctl.snapshot()
    assert snap.contactor_closed and snap.offering and snap.offered_current_a == 32
    assert rig.evse.power_w() > 0


def test_stays_open_in_b(rig: Rig) -> None:
    rig.plugged_in()
    rig.ctl.authorise()
    rig.run(2.0)
    assert rig.pilot.pwm_on
    assert not any(closed for _, closed, _, _ in rig.history)


def test_stays_open_when_not_authorised(rig: Rig) -> None:
    rig.plugged_in()
    rig.sim.set_ev_state(1, "C")
    rig.run(2.0)
    assert rig.pilot.mode is PilotMode.CONSTANT_HIGH
    assert rig.ctl.cp_state is CpState.B  # the EV cannot ask for energy without PWM
    assert not any(closed for _, closed, _, _ in rig.history)


def test_stays_open_when_unavailable(rig: Rig) -> None:
    rig.ctl.set_available(False)
    rig.plugged_in()
    rig.ctl.authorise()
    rig.sim.set_ev_state(1, "C")
    rig.run(2.0)
    assert rig.pilot.mode is PilotMode.CONSTANT_HIGH
    assert not any(closed for _, closed, _, _ in rig.history)
    assert not rig.ctl.snapshot().offering


@pytest.mark.parametrize("limit_a", [0.0, 5.0, 5.99])
def test_limit_below_6_a_pauses_with_constant_high(rig: Rig, limit_a: float) -> None:
    rig.ctl.set_limit_a(limit_a)
    rig.plugged_in()
    rig.ctl.authorise()
    rig.sim.set_ev_state(1, "C")
    rig.run(2.0)
    assert rig.pilot == PilotOutput(PilotMode.CONSTANT_HIGH, 100.0)
    assert not any(closed for _, closed, _, _ in rig.history)
    assert rig.ctl.snapshot().offered_current_a == 0.0


def test_limit_of_6_a_is_offered(rig: Rig) -> None:
    rig.ctl.set_limit_a(6.0)
    rig.charging()
    assert rig.pilot.duty_percent == pytest.approx(10.0)


def test_offer_is_least_of_evse_cable_and_limit(rig: Rig) -> None:
    rig.plugged_in(cable_a=13)
    rig.ctl.authorise()
    rig.step()
    assert rig.pilot.duty_percent == pytest.approx(duty_for_current(13))
    rig.ctl.set_limit_a(10)
    rig.step()
    assert rig.pilot.duty_percent == pytest.approx(duty_for_current(10))


def test_state_d_without_ventilation_stays_open(rig: Rig) -> None:
    rig.plugged_in()
    rig.ctl.authorise()
    rig.sim.set_ev_state(1, "D")
    rig.run(2.0)
    assert rig.ctl.cp_state is CpState.D
    assert rig.pilot.pwm_on
    assert not any(closed for _, closed, _, _ in rig.history)


def test_state_d_with_ventilation_closes() -> None:
    rig = Rig(ventilation=True)
    rig.plugged_in()
    rig.ctl.authorise()
    rig.sim.set_ev_state(1, "D")
    rig.until(lambda: rig.closed, within=BUDGET_S)
    assert rig.ctl.cp_state is CpState.D


# --- when it opens ----------------------------------------------------------------------------


def test_c_to_b_opens_within_100_ms(rig: Rig) -> None:
    rig.charging()
    rig.run(1.0)
    changed_at = rig.now
    rig.sim.set_ev_state(1, "B")
    rig.until(lambda: not rig.closed, within=BUDGET_S)
    # Leaving C is confirmed by two samples, not by the 20 ms debounce: two periods at most.
    assert rig.now <= changed_at + 2 * PERIOD_S
    assert rig.pilot.pwm_on  # still offering: the EV may ask again
    rig.run(0.05)
    assert rig.ctl.cp_state is CpState.B


def test_one_sample_outside_c_does_not_open(rig: Rig) -> None:
    rig.charging()
    rig.run(1.0)
    rig.sim.set_ev_state(1, "B")
    rig.step()
    rig.sim.set_ev_state(1, "C")
    rig.run(0.5)
    assert rig.closed, "a single sample outside C opened the contactor"
    assert not rig.ctl.faults


def test_unplug_opens_within_100_ms(rig: Rig) -> None:
    rig.charging()
    rig.run(1.0)
    changed_at = rig.now
    rig.sim.unplug(1)
    rig.until(lambda: not rig.closed, within=BUDGET_S)
    assert rig.now <= changed_at + BUDGET_S
    rig.run(0.1)
    assert not rig.ctl.plugged
    assert rig.pilot.mode is PilotMode.CONSTANT_HIGH
    assert rig.locked is False
    assert not rig.ctl.faults  # PP going open at unplug is not a fault


def test_a_bouncing_unplug_still_opens_within_100_ms(rig: Rig) -> None:
    """Leaving C counts, whatever the EV shows instead: A and B alternating faster than the CP
    debounce (a connector bouncing as it comes out) must not keep the contactor closed."""
    rig.charging()
    rig.run(1.0)
    left_c_at = rig.now
    for _ in range(8):
        rig.sim.unplug(1)
        rig.run(0.02)
        rig.sim.plug(1)  # a fresh plug shows B
        rig.step()
        if not rig.closed:
            break
    assert not rig.closed, "still closed 240 ms after the EV left C"
    assert rig.now - left_c_at <= BUDGET_S


# --- faults ---------------------------------------------------------------------------------


def inject(rig: Rig, kind: FaultKind) -> None:
    if kind is FaultKind.METER_LOSS:
        rig.ctl.set_external_fault(kind, True)  # the meter is watched outside the control loop
    else:
        rig.sim.inject_fault(1, kind)


def clear(rig: Rig, kind: FaultKind) -> None:
    if kind is FaultKind.METER_LOSS:
        rig.ctl.set_external_fault(kind, False)
    else:
        rig.sim.clear_fault(1, kind)


OPENING_FAULTS = [FaultKind.RCM, FaultKind.DIODE, FaultKind.METER_LOSS, FaultKind.PP, FaultKind.STATE_E]
CONDITION_FAULTS = [FaultKind.DIODE, FaultKind.METER_LOSS, FaultKind.PP, FaultKind.STATE_E]


@pytest.mark.parametrize("kind", OPENING_FAULTS, ids=lambda k: k.value)
def test_fault_opens_within_100_ms_and_drives_state_f(rig: Rig, kind: FaultKind) -> None:
    rig.charging()
    rig.run(0.5)
    rig.take_events()
    injected_at = rig.now
    inject(rig, kind)
    rig.until(lambda: not rig.closed, within=BUDGET_S)
    assert rig.now <= injected_at + BUDGET_S
    # State E is also the EV leaving C: the contactor may open before the fault is confirmed.
    rig.until(lambda: kind in rig.ctl.faults, within=BUDGET_S)
    # State F in the same step as the fault is recognised.
    assert rig.pilot.mode is PilotMode.STATE_F
    events = rig.take_events()
    assert FaultRaised(1, kind) in events
    assert ContactorChanged(1, False) in events
    assert PilotChanged(1, PilotOutput(PilotMode.STATE_F, 0.0)) in events


@pytest.mark.parametrize("kind", OPENING_FAULTS, ids=lambda k: k.value)
def test_state_f_held_at_least_300_ms(rig: Rig, kind: FaultKind) -> None:
    rig.charging()
    inject(rig, kind)
    rig.until(lambda: rig.pilot.mode is PilotMode.STATE_F, within=BUDGET_S)
    entered = rig.now
    while rig.now < entered + 0.29:
        rig.step()
        assert rig.pilot.mode is PilotMode.STATE_F, f"left state F after {rig.now - entered:.2f} s"


@pytest.mark.parametrize("kind", CONDITION_FAULTS, ids=lambda k: k.value)
def test_condition_fault_returns_to_constant_high_after_300_ms(rig: Rig, kind: FaultKind) -> None:
    rig.charging()
    inject(rig, kind)
    rig.until(lambda: rig.pilot.mode is PilotMode.STATE_F, within=BUDGET_S)
    entered = rig.now
    rig.until(lambda: rig.pilot.mode is not PilotMode.STATE_F, within=0.31)
    assert rig.now - entered >= 0.3 - 1e-9
    assert rig.pilot == PilotOutput(PilotMode.CONSTANT_HIGH, 100.0)
    rig.run(1.0)
    # Still faulted (the condition persists) but watching the pilot at +12 V; never closed.
    assert kind in rig.ctl.faults
    assert rig.pilot.mode is PilotMode.CONSTANT_HIGH
    assert not rig.closed


@pytest.mark.parametrize("kind", [FaultKind.METER_LOSS, FaultKind.PP, FaultKind.STATE_E], ids=lambda k: k.value)
def test_condition_fault_clears_and_charging_resumes(rig: Rig, kind: FaultKind) -> None:
    rig.charging()
    inject(rig, kind)
    rig.run(1.0)
    rig.take_events()
    clear(rig, kind)
    rig.step()
    rig.until(lambda: FaultCleared(1, kind) in rig.events, within=BUDGET_S)
    assert not rig.ctl.faults
    rig.until(lambda: rig.closed, within=BUDGET_S)  # still authorised, EV still asks for C
    assert rig.pilot.pwm_on


def test_brief_pwm_pauses_do_not_hide_a_diode_fault(rig: Rig) -> None:
    """The diode is checked on the PWM's low half: a step without PWM tells nothing about it, and
    must not restart the check (a policy layer toggling authorisation would hide the fault)."""
    rig.charging()
    injected_at = rig.now
    inject(rig, FaultKind.DIODE)
    for _ in range(10):
        rig.step()
        rig.ctl.deauthorise()
        rig.step()
        rig.ctl.authorise()
        if not rig.closed:
            break
    assert not rig.closed, "contactor still closed 200 ms after a diode fault"
    assert FaultKind.DIODE in rig.ctl.faults
    assert rig.now - injected_at <= BUDGET_S


def test_diode_fault_lasts_until_unplug(rig: Rig) -> None:
    rig.charging()
    inject(rig, FaultKind.DIODE)
    rig.run(0.5)
    clear(rig, FaultKind.DIODE)
    rig.run(2.0)
    assert FaultKind.DIODE in rig.ctl.faults  # a new diode check needs a new plug-in
    assert not rig.closed
    rig.sim.unplug(1)
    rig.until(lambda: not rig.ctl.faults, within=BUDGET_S)
    # The next EV is checked afresh and charges.
    rig.run(0.5)
    rig.sim.plug(1)
    rig.sim.set_ev_state(1, "C")
    rig.until(lambda: rig.closed, within=0.2)
    rig.run(0.5)
    assert not rig.ctl.faults and rig.closed


def test_state_f_held_300_ms_even_when_the_fault_clears_sooner(rig: Rig) -> None:
    rig.charging()
    rig.ctl.set_external_fault(FaultKind.METER_LOSS, True)
    rig.step()
    entered = rig.now
    assert rig.pilot.mode is PilotMode.STATE_F
    rig.run(0.05)
    rig.ctl.set_external_fault(FaultKind.METER_LOSS, False)
    while rig.now < entered + 0.29:
        rig.step()
        assert rig.pilot.mode is PilotMode.STATE_F, f"left state F after {rig.now - entered:.2f} s"
        assert not rig.closed
    rig.until(lambda: rig.pilot.pwm_on, within=0.1)  # then the pilot is released and supply resumes
    rig.until(lambda: rig.closed, within=BUDGET_S)


@pytest.mark.parametrize("kind", [FaultKind.RCM], ids=lambda k: k.value)
def test_rcm_latches_until_cleared(rig: Rig, kind: FaultKind) -> None:
    rig.charging()
    inject(rig, kind)
    rig.step()
    assert not rig.closed and rig.pilot.mode is PilotMode.STATE_F
    clear(rig, kind)  # the residual current is gone, the monitor stays latched
    rig.run(3.0)
    assert kind in rig.ctl.faults
    assert rig.pilot.mode is PilotMode.STATE_F
    assert not any(closed for _, closed, _, _ in rig.history[-300:])
    rig.take_events()
    assert rig.ctl.clear_latched_faults() == frozenset({kind})
    rig.step()
    assert not rig.ctl.faults
    assert FaultCleared(1, kind) in rig.take_events()
    assert rig.pilot.mode is not PilotMode.STATE_F


def test_latched_fault_during_a_condition_fault_goes_back_to_state_f(rig: Rig) -> None:
    rig.charging()
    inject(rig, FaultKind.STATE_E)
    rig.run(0.5)
    assert rig.pilot.mode is PilotMode.CONSTANT_HIGH  # condition fault: +12 V after 300 ms
    inject(rig, FaultKind.RCM)
    rig.step()
    assert FaultKind.RCM in rig.ctl.faults
    assert rig.pilot.mode is PilotMode.STATE_F  # latched faults stay in F
    clear(rig, FaultKind.STATE_E)
    rig.run(2.0)
    assert rig.pilot.mode is PilotMode.STATE_F and not rig.closed


def test_after_state_f_the_ev_is_seen_again_before_closing(rig: Rig) -> None:
    """During F the controller reads its own -12 V, not the EV: after F it must see the EV (and
    run the diode check under PWM) again before closing, not trust the state from before F."""
    rig.charging()
    inject(rig, FaultKind.RCM)
    rig.run(0.4)
    inject(rig, FaultKind.DIODE)  # invisible while the pilot is at -12 V
    clear(rig, FaultKind.RCM)
    rig.ctl.clear_latched_faults()
    for _ in range(50):
        rig.step()
        assert not rig.closed, f"closed {rig.now:.2f} s with a diode fault nobody checked"
    assert FaultKind.DIODE in rig.ctl.faults


def test_a_change_pending_when_f_began_is_not_taken_as_seen(rig: Rig) -> None:
    rig.plugged_in()
    rig.ctl.authorise()
    rig.step()
    rig.sim.set_ev_state(1, "C")
    rig.step()  # C seen once, not yet debounced
    rig.ctl.set_external_fault(FaultKind.METER_LOSS, True)
    rig.step()
    assert rig.pilot.mode is PilotMode.STATE_F
    rig.run(0.1)
    rig.ctl.set_external_fault(FaultKind.METER_LOSS, False)
    inject(rig, FaultKind.DIODE)
    rig.run(0.5)
    assert not any(closed for _, closed, _, _ in rig.history)
    assert FaultKind.DIODE in rig.ctl.faults


def test_after_state_f_closes_once_c_is_seen_again(rig: Rig) -> None:
    rig.charging()
    inject(rig, FaultKind.RCM)
    rig.run(0.4)
    clear(rig, FaultKind.RCM)
    rig.ctl.clear_latched_faults()
    rig.step()
    assert rig.pilot.pwm_on and not rig.closed  # not on the state seen before F
    rig.until(lambda: rig.closed, within=BUDGET_S)


def test_rcm_clear_while_still_tripped_relatches(rig: Rig) -> None:
    rig.charging()
    inject(rig, FaultKind.RCM)
    rig.run(0.5)
    rig.ctl.clear_latched_faults()
    rig.step()
    assert FaultKind.RCM in rig.ctl.faults
    assert rig.pilot.mode is PilotMode.STATE_F and not rig.closed


def test_weld_detected_only_after_250_ms_mismatch(rig: Rig) -> None:
    rig.plugged_in()
    rig.step()
    rig.sim.inject_fault(1, "weld")  # feedback says closed while commanded open
    rig.step()
    mismatch_from = rig.now  # the first step that sees the disagreement
    while rig.now < mismatch_from + 0.24 - 1e-9:
        rig.step()
        assert FaultKind.WELD not in rig.ctl.faults, f"weld reported after {rig.now - mismatch_from:.2f} s"
    assert rig.pilot.mode is not PilotMode.STATE_F
    rig.run(0.02)  # 260 ms
    assert FaultKind.WELD in rig.ctl.faults
    assert rig.pilot.mode is PilotMode.STATE_F


def test_weld_latches_until_cleared(rig: Rig) -> None:
    rig.plugged_in()
    rig.sim.inject_fault(1, "weld")
    rig.run(0.3)
    assert FaultKind.WELD in rig.ctl.faults
    rig.sim.clear_fault(1, "weld")
    rig.run(2.0)
    assert FaultKind.WELD in rig.ctl.faults
    assert rig.pilot.mode is PilotMode.STATE_F
    assert rig.ctl.clear_latched_faults() == frozenset({FaultKind.WELD})
    rig.step()
    assert not rig.ctl.faults


def test_weld_while_charging_found_once_commanded_open(rig: Rig) -> None:
    rig.charging()
    rig.sim.inject_fault(1, "weld")
    rig.run(1.0)
    assert not rig.ctl.faults  # closed and reading closed: nothing to see yet
    rig.sim.set_ev_state(1, "B")
    rig.until(lambda: not rig.closed, within=BUDGET_S)
    rig.run(0.24)
    assert FaultKind.WELD not in rig.ctl.faults
    rig.run(0.03)
    assert FaultKind.WELD in rig.ctl.faults
    assert rig.pilot.mode is PilotMode.STATE_F


# --- the socket lock ------------------------------------------------------------------------


def test_lock_follows_authorisation_while_plugged(rig: Rig) -> None:
    rig.ctl.authorise()
    rig.run(0.5)
    assert rig.locked is False  # nothing to lock without a cable
    rig.plugged_in()
    assert rig.locked is True
    rig.ctl.deauthorise()
    rig.step()
    assert rig.locked is False


def test_plugged_but_not_authorised_is_not_locked(rig: Rig) -> None:
    rig.plugged_in()
    rig.run(1.0)
    assert rig.locked is False


def test_request_unlock_waits_for_the_contactor_to_open(rig: Rig) -> None:
    rig.charging()
    assert rig.locked is True
    rig.ctl.request_unlock()
    rig.until(lambda: rig.locked is False, within=BUDGET_S)
    for _, closed, _, locked in rig.history:
        assert not (closed and not locked), "unlocked while the contactor was closed"
    assert not rig.closed
    assert rig.pilot.mode is PilotMode.CONSTANT_HIGH
    rig.run(1.0)
    assert rig.locked is False


def test_lock_never_released_while_closed_in_c1() -> None:
    pilot = FakePilot()
    rig = Rig(pilot=pilot)
    pilot.ev_state = CpState.B
    rig.run(0.05)
    rig.ctl.authorise()
    pilot.ev_state = CpState.C
    rig.until(lambda: rig.closed, within=BUDGET_S)
    assert rig.locked is True
    rig.ctl.request_unlock()
    for _ in range(300):  # 3 s of C1 grace: the EV still draws
        rig.step()
        assert rig.closed and rig.locked is True
    pilot.ev_state = CpState.B
    rig.until(lambda: not rig.closed, within=BUDGET_S)
    assert rig.locked is False


def test_after_a_fault_not_unlocked_before_5_s(rig: Rig) -> None:
    rig.charging()
    rig.sim.inject_fault(1, "rcm")
    rig.step()
    fault_at = rig.now
    assert rig.pilot.mode is PilotMode.STATE_F
    rig.ctl.request_unlock()
    while rig.now < fault_at + 4.99:
        rig.step()
        assert rig.locked is True, f"unlocked {rig.now - fault_at:.2f} s after the fault"
    rig.until(lambda: rig.locked is False, within=0.03)
    assert rig.now - fault_at >= 5.0 - 1e-9


def test_weld_keeps_the_lock(rig: Rig) -> None:
    rig.charging()
    rig.sim.inject_fault(1, "weld")
    rig.ctl.request_unlock()
    rig.run(10.0)
    assert FaultKind.WELD in rig.ctl.faults
    assert not rig.closed
    assert rig.locked is True


# --- duty changes -----------------------------------------------------------------------------


def test_duty_changes_rate_limited_while_charging(rig: Rig) -> None:
    rig.charging()
    rig.run(6.0)
    rig.ctl.set_limit_a(16)
    rig.step()
    first_change = rig.now
    assert rig.pilot.duty_percent == pytest.approx(duty_for_current(16))
    rig.run(1.0)
    rig.ctl.set_limit_a(10)
    while rig.now < first_change + 5.0 - 0.01:
        rig.step()
        assert rig.pilot.duty_percent == pytest.approx(duty_for_current(16)), (
            f"second change applied {rig.now - first_change:.2f} s after the first")
    rig.until(lambda: rig.pilot.duty_percent == pytest.approx(duty_for_current(10)), within=0.03)
    assert rig.now - first_change >= 5.0 - 1e-9
    assert rig.closed


def test_first_change_after_start_also_waits_5_s(rig: Rig) -> None:
    rig.charging()
    started = rig.now
    rig.ctl.set_limit_a(20)
    rig.run(1.0)
    assert rig.pilot.duty_percent == pytest.approx(duty_for_current(32))
    rig.until(lambda: rig.pilot.duty_percent == pytest.approx(duty_for_current(20)), within=5.0)
    assert rig.now - started <= 5.0


def test_duty_changes_not_rate_limited_when_not_charging(rig: Rig) -> None:
    rig.plugged_in()
    rig.ctl.authorise()
    rig.step()
    rig.ctl.set_limit_a(16)
    rig.step()
    assert rig.pilot.duty_percent == pytest.approx(duty_for_current(16))
    rig.run(0.5)
    rig.ctl.set_limit_a(10)
    rig.step()
    assert rig.pilot.duty_percent == pytest.approx(duty_for_current(10))
    assert not any(closed for _, closed, _, _ in rig.history)


def test_pause_and_resume_does_not_bypass_the_rate_limit(rig: Rig) -> None:
    """Dropping below 6 A for one step and back must not count as a free duty change while the
    contactor is still closed (C1 grace): the new duty waits for the 5 s or for the contactor to
    open first."""
    rig.charging()
    rig.run(6.0)
    rig.ctl.set_limit_a(20)
    rig.step()
    change_at = rig.now
    old_duty, new_duty = duty_for_current(20), duty_for_current(10)
    assert rig.pilot.duty_percent == pytest.approx(old_duty)
    rig.run(1.0)
    rig.ctl.set_limit_a(0)
    rig.step()
    assert rig.pilot.mode is PilotMode.CONSTANT_HIGH and rig.closed  # paused, still in C1 grace
    rig.ctl.set_limit_a(10)
    stayed_closed = True
    while rig.now < change_at + 5.0 - 0.01:
        rig.step()
        stayed_closed = stayed_closed and rig.closed
        if stayed_closed and rig.pilot.pwm_on:
            assert rig.pilot.duty_percent == pytest.approx(old_duty), (
                f"duty changed {rig.now - change_at:.2f} s after the last one, contactor closed throughout")
    rig.run(0.2)
    assert rig.closed and rig.pilot.duty_percent == pytest.approx(new_duty)


def test_pause_and_resume_at_the_same_duty_keeps_charging() -> None:
    pilot = FakePilot()
    rig = Rig(pilot=pilot)
    pilot.ev_state = CpState.B
    rig.run(0.05)
    rig.ctl.authorise()
    pilot.ev_state = CpState.C
    rig.until(lambda: rig.closed, within=BUDGET_S)
    rig.run(1.0)
    rig.ctl.set_available(False)
    rig.step()
    assert not rig.pilot.pwm_on
    rig.ctl.set_available(True)
    rig.step()
    assert rig.pilot == PilotOutput(PilotMode.PWM, pytest.approx(duty_for_current(32)))
    assert all(closed for _, closed, _, _ in rig.history[-3:])


# --- withdrawing supply while the EV stays in C (C2 -> C1) -----------------------------------


@pytest.fixture
def c1() -> tuple[Rig, FakePilot]:
    pilot = FakePilot()
    rig = Rig(pilot=pilot)
    pilot.ev_state = CpState.B
    rig.run(0.05)
    rig.ctl.authorise()
    rig.step()
    pilot.ev_state = CpState.C
    rig.until(lambda: rig.closed, within=BUDGET_S)
    rig.run(1.0)
    return rig, pilot


def test_deauthorise_stops_pwm_at_once_and_opens_after_6_s(c1: tuple[Rig, FakePilot]) -> None:
    rig, pilot = c1
    rig.take_events()
    rig.ctl.deauthorise()
    rig.step()
    stopped_at = rig.now
    assert rig.pilot == PilotOutput(PilotMode.CONSTANT_HIGH, 100.0)
    assert PilotChanged(1, PilotOutput(PilotMode.CONSTANT_HIGH, 100.0)) in rig.take_events()
    while rig.now < stopped_at + 5.99:
        rig.step()
        assert rig.closed, f"opened under load {rig.now - stopped_at:.2f} s after PWM stopped"
    rig.until(lambda: not rig.closed, within=0.03)
    assert rig.now - stopped_at == pytest.approx(6.0, abs=0.011)
    assert ContactorChanged(1, False) in rig.take_events()
    rig.run(1.0)
    assert not rig.closed and rig.pilot.mode is PilotMode.CONSTANT_HIGH


def test_deauthorise_opens_when_the_ev_goes_to_b(c1: tuple[Rig, FakePilot]) -> None:
    rig, pilot = c1
    rig.ctl.deauthorise()
    rig.step()
    assert not rig.pilot.pwm_on
    rig.run(2.0)
    assert rig.closed
    changed_at = rig.now
    pilot.ev_state = CpState.B
    rig.until(lambda: not rig.closed, within=BUDGET_S)
    assert rig.now - changed_at <= BUDGET_S


@pytest.mark.parametrize("withdraw", ["unavailable", "limit"])
def test_other_withdrawals_use_the_same_c1_grace(c1: tuple[Rig, FakePilot], withdraw: str) -> None:
    rig, _ = c1
    if withdraw == "unavailable":
        rig.ctl.set_available(False)
    else:
        rig.ctl.set_limit_a(3)
    rig.step()
    stopped_at = rig.now
    assert not rig.pilot.pwm_on
    rig.until(lambda: not rig.closed, within=6.02)
    assert rig.now - stopped_at >= 6.0 - 1e-9


def test_deauthorise_with_the_sim_ev_opens_quickly(rig: Rig) -> None:
    rig.charging()
    rig.ctl.deauthorise()
    rig.step()
    stopped_at = rig.now
    assert rig.pilot.mode is PilotMode.CONSTANT_HIGH
    rig.until(lambda: not rig.closed, within=BUDGET_S)  # the simulated EV follows to B at once
    assert rig.now - stopped_at <= BUDGET_S


# --- events ---------------------------------------------------------------------------------


def test_events_of_a_charging_session(rig: Rig) -> None:
    rig.run(0.1)
    assert rig.take_events() == []
    rig.sim.plug(1)
    rig.run(0.1)
    assert rig.take_events() == [CpChanged(1, CpState.A, CpState.B)]
    rig.ctl.authorise()
    rig.step()
    duty = duty_for_current(32)
    assert rig.take_events() == [PilotChanged(1, PilotOutput(PilotMode.PWM, duty))]
    rig.sim.set_ev_state(1, "C")
    rig.until(lambda: rig.closed, within=BUDGET_S)
    assert rig.take_events() == [CpChanged(1, CpState.B, CpState.C), ContactorChanged(1, True)]
    rig.run(1.0)
    assert rig.take_events() == []
    rig.sim.set_ev_state(1, "B")
    rig.until(lambda: not rig.closed, within=BUDGET_S)
    rig.run(0.05)
    # The contactor opens on the first confirmed samples, before the debounced state changes.
    assert rig.take_events() == [ContactorChanged(1, False), CpChanged(1, CpState.C, CpState.B)]
    rig.sim.unplug(1)
    rig.run(0.2)
    assert rig.take_events() == [
        CpChanged(1, CpState.B, CpState.A),
        PilotChanged(1, PilotOutput(PilotMode.CONSTANT_HIGH, 100.0)),
    ]


def test_fault_events_raised_and_cleared_once(rig: Rig) -> None:
    rig.plugged_in()
    rig.take_events()
    rig.ctl.set_external_fault(FaultKind.METER_LOSS, True)
    rig.step()
    assert rig.take_events() == [
        FaultRaised(1, FaultKind.METER_LOSS),
        PilotChanged(1, PilotOutput(PilotMode.STATE_F, 0.0)),
    ]
    rig.run(0.2)
    assert rig.take_events() == []  # no repeats while it lasts
    rig.run(0.2)
    assert rig.take_events() == [PilotChanged(1, PilotOutput(PilotMode.CONSTANT_HIGH, 100.0))]
    rig.ctl.set_external_fault(FaultKind.METER_LOSS, False)
    rig.step()
    assert rig.take_events() == [FaultCleared(1, FaultKind.METER_LOSS)]
    assert not rig.ctl.faults


def test_tethered_evse_has_no_lock_and_no_pp() -> None:
    rig = Rig(connector="Type2Cable")
    rig.charging()
    assert rig.locked is None
    assert rig.ctl.snapshot().locked is None
    assert rig.pilot.duty_percent == pytest.approx(duty_for_current(32))


# --- the socket lock --------------------------------------------------------------------------


def test_a_socket_is_not_energised_while_its_lock_does_not_hold(rig: Rig) -> None:
    rig.sim.inject_fault(1, FaultKind.LOCK)  # the actuator does not move
    rig.plugged_in()
    rig.ctl.authorise()
    rig.sim.set_ev_state(1, "C")
    rig.run(0.9)
    assert not any(closed for _, closed, _, _ in rig.history), "energised with the plug unlocked"
    assert FaultKind.LOCK not in rig.ctl.faults  # the lock still has time to move
    rig.run(0.2)
    assert FaultKind.LOCK in rig.ctl.faults
    assert error_for(rig.ctl.faults).code == "ConnectorLockFailure"
    assert not rig.closed
    # The plug comes out: the lock is released and the fault goes with it.
    rig.sim.clear_fault(1, FaultKind.LOCK)
    rig.sim.unplug(1)
    rig.run(6.0)
    assert not rig.ctl.faults and rig.locked is False


def test_a_lock_that_opens_while_charging_opens_the_contactor_at_once(rig: Rig) -> None:
    rig.charging()
    rig.run(0.5)
    rig.sim.inject_fault(1, FaultKind.LOCK)  # the feedback now says unlocked
    rig.step()
    assert not rig.closed, "the contactor stayed closed with the plug unlocked"
    rig.run(1.1)
    assert FaultKind.LOCK in rig.ctl.faults
