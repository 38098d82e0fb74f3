"""Safety properties of EvseController under random sequences of EV behaviour, intentions, faults
and time, on the simulated board (hypothesis stateful testing, one and two EVSEs).

Time only moves in `advance`, which calls `step(now)` every 10 ms; every other rule acts between
two steps. The properties are checked after every step (so also after every rule, where nothing
has been stepped since the last check)."""
from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import hypothesis.strategies as st
from hypothesis import HealthCheck, settings
from hypothesis.stateful import RuleBasedStateMachine, invariant, precondition, rule

from chargepoint.config.model import (
    BoardConfig,
    ChargePointConfig,
    Config,
    ConnectorConfig,
    EvseConfig,
    OcppConfig,
    StorageConfig,
)
from chargepoint.evse.controller import EvseController, EvseTiming
from chargepoint.evse.iec61851 import duty_for_current
from drivers.sim.board import build_sim
from drivers.sim.devices import SimEvse
from hal.clock import ManualClock
from hal.types import CpState, FaultKind, PilotMode

PERIOD_S = 0.01
EPS = 1e-6
TIMING = EvseTiming()
# A change of what the EV shows on the pilot is acted on after the CP debounce (which restarts at
# every change), plus one period (see `Watch.check`).
SIM_SETTLE_S = TIMING.cp_debounce_s + PERIOD_S
# From the last step before a fault appears to the step that must have opened: sampling (one
# period), the debounce of the signal that shows it, one period of float rounding at the boundary.
FAULT_BOUND_S = {
    FaultKind.RCM: PERIOD_S,
    FaultKind.METER_LOSS: PERIOD_S,
    FaultKind.STATE_E: TIMING.cp_debounce_s + 2 * PERIOD_S,
    FaultKind.DIODE: TIMING.cp_debounce_s + 2 * PERIOD_S,
    FaultKind.PP: TIMING.pp_debounce_s + 2 * PERIOD_S,
    FaultKind.LOCK: PERIOD_S,  # a socket's lock that does not hold: open at the next step
}
EV_CHANGE_BUDGET_S = 0.1  # C->B, C->D (no ventilation) or unplug: open within 100 ms
EVSE = st.integers(1, 2)
SIM_FAULTS = (FaultKind.RCM, FaultKind.DIODE, FaultKind.WELD, FaultKind.METER_LOSS, FaultKind.PP,
              FaultKind.STATE_E, FaultKind.LOCK)


def make_config(evses: tuple[EvseConfig, ...]) -> Config:
    return Config(
        source=Path("/etc/borne/firmware.toml"),
        chargepoint=ChargePointConfig(id="CP1", vendor="Borne", model="Sim"),
        ocpp=OcppConfig(version="1.6", csms_url="ws://127.0.0.1:9000"),
        board=BoardConfig(kind="sim"),
        storage=StorageConfig(path=Path("/tmp/borne-test-unused.db")),
        evses=evses,
    )


SOCKET = EvseConfig(id=1, max_current_a=32, phases=3, connectors=(ConnectorConfig(id=1, type="Type2Socket"),))
TETHERED = EvseConfig(id=2, max_current_a=16, phases=1, connectors=(ConnectorConfig(id=1, type="Type2Cable"),))


@dataclass
class Watch:
    """What the test knows about one EVSE, beyond what the controller says."""

    ctl: EvseController
    sim: SimEvse
    injected: dict[FaultKind, float] = field(default_factory=dict)  # kind -> last step before it
    ev_not_c_since: float | None = None  # last step before the EV stopped showing C
    # observations of previous steps
    closed_before: bool = False
    pwm_off_since: float | None = None
    f_entered: float | None = None
    fault_episode_since: float | None = None
    last_duty: float | None = None  # the last PWM duty emitted (kept through pauses)
    last_duty_change_at: float | None = None
    weld_run_since: float | None = None  # weld injected and contactor commanded open since
    weld_justified: bool = False
    locked_before: bool | None = None
    shown: CpState = CpState.A  # what the EV shows on the pilot, as the controller will read it
    shown_since: float = 0.0

    @property
    def has_socket(self) -> bool:
        return self.sim.has_socket

    def ev_shows_c(self) -> bool:
        return self.sim.ev.plugged and self.sim.ev.requested is CpState.C

    def check(self, now: float) -> None:
        ctl, dev = self.ctl, self.ctl.devices
        closed = dev.contactor.commanded_closed
        out = dev.pilot.output
        faults = ctl.faults
        where = f"EVSE {ctl.evse_id} at {now:.2f} s"

        # -- bookkeeping of what was observed --------------------------------------------------
        if out.pwm_on or not closed:
            self.pwm_off_since = None
        elif self.pwm_off_since is None:
            self.pwm_off_since = now
        # A fault episode lasts from the first fault until the faults are gone and state F is over.
        if faults and self.fault_episode_since is None:
            self.fault_episode_since = now
        elif not faults and out.mode is not PilotMode.STATE_F:
            self.fault_episode_since = None
        shown = self.sim.cp_reading().state  # what the controller will read at the next step
        if shown is not self.shown:
            self.shown, self.shown_since = shown, now
        weld_run = FaultKind.WELD in self.injected and not closed
        if not weld_run:
            self.weld_run_since = None
        elif self.weld_run_since is None:
            self.weld_run_since = now
        if self.weld_run_since is not None and now - self.weld_run_since >= TIMING.feedback_mismatch_s - EPS:
            self.weld_justified = True

        # -- the contactor closes only when everything allows it -------------------------------
        if closed:
            assert not faults, f"{where}: contactor closed with faults {set(faults)}"
            assert ctl.plugged and ctl.cp_state is CpState.C, (
                f"{where}: contactor closed in CP state {ctl.cp_state.value} (plugged={ctl.plugged})")
            if out.pwm_on:
                snap = ctl.snapshot()
                assert snap.authorised and snap.available and ctl.offered_current_a >= 6, (
                    f"{where}: PWM and contactor on without authorisation/availability/6 A: {snap}")
            else:
                # C2->C1: supply withdrawn while the EV still shows C: 6 s at most.
                assert self.pwm_off_since is not None
                held = now - self.pwm_off_since
                assert held <= TIMING.c1_timeout_s + EPS, f"{where}: closed {held:.2f} s after PWM stopped"
            # The simulated EV leaves C as soon as the PWM stops (or it is told to): the contactor
            # stays closed only until the CP debounce has seen the new state for 20 ms. `shown` is
            # recorded after a step and read by the controller at the next one; float rounding
            # can make the debounce take one step more: one period on top of the debounce.
            if self.shown is not CpState.C:
                settled = now - self.shown_since
                assert settled <= SIM_SETTLE_S + EPS, (
                    f"{where}: closed while the EV shows {self.shown.value} for {settled:.2f} s")

        # -- faults open the contactor in time ----------------------------------------------------
        for kind, since in self.injected.items():
            bound = FAULT_BOUND_S.get(kind)
            if kind is FaultKind.LOCK and (dev.lock is None or ctl.tethered):
                continue  # a fixed cable has no lock to fail
            if bound is not None and closed:
                assert now - since < bound + EPS, f"{where}: {kind.value} for {now - since:.2f} s, contactor closed"
        if self.weld_run_since is not None and now - self.weld_run_since >= TIMING.feedback_mismatch_s + 2 * PERIOD_S:
            assert FaultKind.WELD in faults, f"{where}: weld not detected after {now - self.weld_run_since:.2f} s"
        if FaultKind.WELD in faults:
            assert self.weld_justified, f"{where}: weld reported before 250 ms of mismatch"

        # -- the EV's own changes open it within 100 ms ------------------------------------------
        if self.ev_not_c_since is not None and closed:
            assert now - self.ev_not_c_since < EV_CHANGE_BUDGET_S + EPS, (
                f"{where}: closed {now - self.ev_not_c_since:.2f} s after the EV left C")

        # -- state F lasts at least 300 ms -----------------------------------------------------
        if out.mode is PilotMode.STATE_F:
            if self.f_entered is None:
                self.f_entered = now
        elif self.f_entered is not None:
            assert now - self.f_entered >= TIMING.state_f_min_s - EPS, (
                f"{where}: state F left after {now - self.f_entered:.2f} s")
            self.f_entered = None

        # -- the lock ------------------------------------------------------------------------------
        if dev.lock is not None:
            locked = dev.lock.commanded_locked
            if closed:
                assert locked, f"{where}: lock released while the contactor is closed"
                assert dev.lock.feedback_locked() is not False or FaultKind.LOCK in self.injected, (
                    f"{where}: contactor closed while the lock's feedback says unlocked")
            if FaultKind.WELD in faults:
                assert locked, f"{where}: lock released with a welded contactor"
            if self.locked_before and not locked and self.fault_episode_since is not None:
                assert now - self.fault_episode_since >= TIMING.unlock_in_f_s - EPS, (
                    f"{where}: unlocked {now - self.fault_episode_since:.2f} s into a fault")
            self.locked_before = locked

        # -- PWM only while supply is allowed, at the offered current unless rate-limited ---------
        if out.pwm_on:
            snap = ctl.snapshot()
            assert not faults and ctl.plugged and snap.authorised and snap.available, (
                f"{where}: PWM on while supply is not allowed: {snap}")
            offered = ctl.offered_current_a
            assert offered >= 6, f"{where}: PWM on offering {offered} A"
            if abs(out.duty_percent - duty_for_current(offered)) > EPS:
                # Only the 5 s rule may delay a new duty, and only while the contactor is closed
                # (when the step began: it decides the duty before it opens the contactor).
                assert (closed or self.closed_before) and self.last_duty_change_at is not None, (
                    f"{where}: duty {out.duty_percent:.2f} % does not offer {offered} A")
                assert now - self.last_duty_change_at < TIMING.pwm_min_interval_s + PERIOD_S + EPS, (
                    f"{where}: duty {out.duty_percent:.2f} % still not offering {offered} A "
                    f"{now - self.last_duty_change_at:.2f} s after the last change")

        # -- duty changes while the contactor stays closed: 5 s after the previous change at least
        # (the previous change may be the PWM starting; a pause in C1 grace does not reset it) ----
        if out.pwm_on and (self.last_duty is None or abs(out.duty_percent - self.last_duty) > EPS):
            if self.closed_before and closed and self.last_duty_change_at is not None:
                gap = now - self.last_duty_change_at
                assert gap >= TIMING.pwm_min_interval_s - EPS, (
                    f"{where}: duty {self.last_duty:.2f} -> {out.duty_percent:.2f} % {gap:.2f} s after "
                    f"the previous change, contactor closed")
            self.last_duty = out.duty_percent
            self.last_duty_change_at = now
        self.closed_before = closed


class EvseMachine(RuleBasedStateMachine):
    EVSES: tuple[EvseConfig, ...] = (SOCKET,)

    def __init__(self) -> None:
        super().__init__()
        self.clock = ManualClock()
        self.sim = build_sim(make_config(self.EVSES), self.clock)
        board = self.sim.board()
        self.watch: dict[int, Watch] = {}
        for e in self.EVSES:
            ctl = EvseController(e.id, board.evses[e.id], float(e.max_current_a),
                                 tethered=e.connectors[0].type == "Type2Cable")
            self.watch[e.id] = Watch(ctl, self.sim.evses[e.id])
        self.now = 0.0
        self.ticks = 0

    def _tick(self) -> None:
        self.ticks += 1
        self.now = self.ticks * PERIOD_S
        self.clock.advance(PERIOD_S)
        for w in self.watch.values():
            w.ctl.step(self.now)
            w.check(self.now)

    def _ev_changed(self, w: Watch) -> None:
        if w.ev_shows_c():
            w.ev_not_c_since = None
        elif w.ev_not_c_since is None:
            w.ev_not_c_since = self.now

    def _w(self, evse: int) -> tuple[int, Watch]:
        """Rules draw an EVSE number 1-2; with one EVSE configured both mean EVSE 1."""
        ids = sorted(self.watch)
        i = ids[(evse - 1) % len(ids)]
        return i, self.watch[i]

    # --- the EV ------------------------------------------------------------------------------

    @rule(evse=EVSE, cable_a=st.sampled_from((13, 20, 32, 63)), ev_max=st.sampled_from((10.0, 16.0, 32.0)))
    def plug(self, evse: int, cable_a: int, ev_max: float) -> None:
        i, w = self._w(evse)
        if not w.sim.ev.plugged:
            self.sim.plug(i, max_current_a=ev_max, cable_a=cable_a)
            self._ev_changed(w)

    @rule(evse=EVSE)
    def unplug(self, evse: int) -> None:
        i, w = self._w(evse)
        if w.sim.ev.plugged:
            self.sim.unplug(i)
            self._ev_changed(w)

    @rule(evse=EVSE, state=st.sampled_from(["B", "C", "D"]))
    def ev_state(self, evse: int, state: str) -> None:
        i, w = self._w(evse)
        if w.sim.ev.plugged:
            self.sim.set_ev_state(i, state)
            self._ev_changed(w)

    @rule(evse=EVSE, steps=st.integers(3, 10))
    def start_charging(self, evse: int, steps: int) -> None:
        """What a session does, in one rule: plug if needed, authorise, EV asks for C."""
        i, w = self._w(evse)
        if not w.sim.ev.plugged:
            self.sim.plug(i)
        w.ctl.authorise()
        self.sim.set_ev_state(i, "C")
        self._ev_changed(w)
        for _ in range(steps):
            self._tick()

    # --- intentions ------------------------------------------------------------------------

    @rule(evse=EVSE, action=st.sampled_from(["authorise", "deauthorise", "request_unlock"]))
    def authorisation(self, evse: int, action: str) -> None:
        getattr(self._w(evse)[1].ctl, action)()

    @rule(evse=EVSE, available=st.booleans())
    def set_available(self, evse: int, available: bool) -> None:
        self._w(evse)[1].ctl.set_available(available)

    @rule(evse=EVSE, limit=st.one_of(st.sampled_from([None, 0.0, 5.9, 6.0, 10.0, 16.0, 20.0, 80.0]),
                                     st.floats(0, 80)))
    def set_limit_a(self, evse: int, limit: float | None) -> None:
        self._w(evse)[1].ctl.set_limit_a(limit)

    @rule(evse=EVSE, how=st.sampled_from(["deauthorise", "unavailable", "limit"]), steps=st.integers(1, 3),
          new_limit=st.sampled_from([None, 6.0, 10.0, 16.0, 32.0]))
    def withdraw_briefly(self, evse: int, how: str, steps: int, new_limit: float | None) -> None:
        """Supply withdrawn for a few steps and given back (a policy layer changing its mind),
        possibly with a new limit: shorter than the CP debounce, so the EV may still be in C."""
        w = self._w(evse)[1]
        if how == "deauthorise":
            w.ctl.deauthorise()
        elif how == "unavailable":
            w.ctl.set_available(False)
        else:
            w.ctl.set_limit_a(0.0)
        for _ in range(steps):
            self._tick()
        w.ctl.set_limit_a(new_limit)
        w.ctl.set_available(True)
        w.ctl.authorise()

    # --- faults ----------------------------------------------------------------------------

    @rule(evse=EVSE, kind=st.sampled_from(SIM_FAULTS))
    def inject_fault(self, evse: int, kind: FaultKind) -> None:
        i, w = self._w(evse)
        if kind is FaultKind.PP and not w.has_socket:
            return
        if kind is FaultKind.METER_LOSS:
            w.ctl.set_external_fault(kind, True)
        else:
            self.sim.inject_fault(i, kind)
        w.injected.setdefault(kind, self.now)

    @rule(evse=EVSE, kind=st.sampled_from(SIM_FAULTS))
    def clear_fault(self, evse: int, kind: FaultKind) -> None:
        i, w = self._w(evse)
        if kind is FaultKind.PP and not w.has_socket:
            return
        if kind is FaultKind.METER_LOSS:
            w.ctl.set_external_fault(kind, False)
        else:
            self.sim.clear_fault(i, kind)
        w.injected.pop(kind, None)

    @rule(evse=EVSE)
    def clear_latched_faults(self, evse: int) -> None:
        w = self._w(evse)[1]
        w.ctl.clear_latched_faults()
        w.weld_justified = False  # a weld reported from now on needs a new 250 ms of mismatch...
        if w.weld_run_since is not None and self.now - w.weld_run_since >= TIMING.feedback_mismatch_s - EPS:
            w.weld_justified = True  # ...unless the one that was found is still there

    # --- time ------------------------------------------------------------------------------

    @rule(steps=st.integers(1, 50))
    def advance(self, steps: int) -> None:
        for _ in range(steps):
            self._tick()

    @precondition(lambda self: any(w.ctl.devices.contactor.commanded_closed or w.ctl.faults
                                   for w in self.watch.values()))
    @rule(seconds=st.floats(4.5, 6.5))
    def wait_long(self, seconds: float) -> None:
        """Long enough for the 5 s duty interval, the 5 s lock hold and the 6 s C1 timeout."""
        for _ in range(round(seconds / PERIOD_S)):
            self._tick()

    @invariant()
    def properties_hold(self) -> None:
        # Nothing was stepped since the last check: the state it saw is still the state there is.
        for w in self.watch.values():
            closed = w.ctl.devices.contactor.commanded_closed
            assert closed == w.closed_before
            if closed:
                assert w.ctl.plugged and w.ctl.cp_state is CpState.C


class TwoEvseMachine(EvseMachine):
    EVSES = (SOCKET, TETHERED)


SETTINGS = settings(max_examples=120, stateful_step_count=50, deadline=None,
                    suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much])

TestOneEvse = EvseMachine.TestCase
TestOneEvse.settings = SETTINGS
TestTwoEvses = TwoEvseMachine.TestCase
TestTwoEvses.settings = SETTINGS
