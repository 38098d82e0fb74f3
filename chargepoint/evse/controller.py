"""One EVSE's IEC 61851 state machine and the safety decisions that own its contactor.

`step(now)` runs on the control loop: it samples the hardware, decides, and commands the
contactor, pilot and lock directly, in the same call. It never awaits and never touches the
network or the disk; what happened is returned as events for the policy layer to handle later.
The policy layer only sets intentions (authorised, available, current limit); the controller
alone decides whether they are safe to act on."""
from __future__ import annotations

import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from functools import wraps
from typing import Any, TypeVar

from chargepoint.evse.debounce import Debounced
from chargepoint.evse.events import (
    ContactorChanged,
    CpChanged,
    EvseEvent,
    FaultCleared,
    FaultRaised,
    PilotChanged,
)
from chargepoint.evse.iec61851 import MIN_CURRENT_A, duty_for_current, offered_current
from hal.board import EvseDevices
from hal.types import CpState, FaultKind, PilotMode, PilotOutput

F = TypeVar("F", bound=Callable[..., Any])


def _exclusive(method: F) -> F:
    """The control loop runs in its own thread and the policy on the event loop: every entry
    point takes the controller's lock, so a step never sees half of a policy change."""

    @wraps(method)
    def locked(self: EvseController, *args: Any, **kwargs: Any) -> Any:
        with self._guard:
            return method(self, *args, **kwargs)

    return locked  # type: ignore[return-value]


# Faults that stay until a technician clears them: the hardware may be damaged.
LATCHING_FAULTS = frozenset({FaultKind.RCM, FaultKind.RCM_SELF_TEST, FaultKind.WELD, FaultKind.CONTACTOR})


@dataclass(frozen=True)
class EvseTiming:
    """IEC 61851-1 timing as applied here (see docs/architecture.md for the sources)."""

    cp_debounce_s: float = 0.02  # detection budget is 50 ms including filtering
    # Leaving C/D under load is confirmed by consecutive samples rather than by time: the
    # sensor's own filtering and hysteresis already reject noise, and the opening direction is
    # the safe one, so it is held to the sampling rate, not to the debounce time.
    leave_energy_samples: int = 2
    pp_debounce_s: float = 0.05  # PP and CP open within milliseconds of each other at unplug
    feedback_mismatch_s: float = 0.25  # mirror contact disagreeing longer than this is a fault
    lock_follow_s: float = 1.0  # the socket lock's feedback must show locked within this time
    state_f_min_s: float = 0.3  # state F is held at least this long after a fault
    unlock_in_f_s: float = 5.0  # after a fault the cable is released only after this long in F
    c1_timeout_s: float = 6.0  # PWM off while the EV stays in C: open under load after this
    pwm_min_interval_s: float = 5.0  # duty changes while charging at most this often


@dataclass
class _Intent:
    authorised: bool = False
    available: bool = True
    limit_a: float | None = None  # smart charging / site limit; None = no limit
    unlock_requested: bool = False
    # UnlockConnectorOnEVSideDisconnect: False keeps a locked cable locked when the EV side is
    # unplugged, until request_unlock() or a new authorisation.
    unlock_on_ev_disconnect: bool = True


@dataclass
class EvseSnapshot:
    """What the rest of the controller may read about an EVSE."""

    evse_id: int
    cp_state: CpState
    plugged: bool
    contactor_closed: bool
    pilot: PilotOutput
    offered_current_a: float
    faults: frozenset[FaultKind]
    locked: bool | None
    authorised: bool
    available: bool
    offering: bool  # the EVSE lets the EV draw: authorised, available, fault-free, >= 6 A
    # A CP change is seen but not yet confirmed (or the EV left C/D and the contactor opened
    # before the CP state's debounce): what the connector's status will be is not known yet.
    settling: bool = False



@dataclass
class EvseController:
    evse_id: int
    devices: EvseDevices
    max_current_a: float
    tethered: bool = False  # a fixed cable has no lock and no PP coding
    ventilation_available: bool = False  # state D allows charging only with ventilation
    timing: EvseTiming = field(default_factory=EvseTiming)

    def __post_init__(self) -> None:
        self._guard = threading.RLock()
        self._intent = _Intent()
        self._rcm_testing = False
        self._cp = Debounced(CpState.A, self.timing.cp_debounce_s)
        # Whether the EV asks for energy (C or D), debounced on its own: leaving C/D must count
        # even when the EV passes through several other states faster than the CP debounce.
        self._wants_energy = Debounced(False, self.timing.cp_debounce_s)
        self._leaving_energy = 0  # consecutive samples without C/D while the EV wanted energy
        self._diode = Debounced(False, self.timing.cp_debounce_s)
        self._pp_error = Debounced(False, self.timing.pp_debounce_s)
        self._plugged = False
        self._latched: set[FaultKind] = set()
        self._conditions: set[FaultKind] = set()
        self._external: set[FaultKind] = set()
        self._pp_limit_a: float | None = None
        self._mismatch_since: float | None = None
        self._lock_since: float | None = None  # commanded locked, feedback not (yet) locked
        self._lock_confirmed = True  # a socket's lock holds the plug (or there is nothing to hold)
        self._state_f_since: float | None = None
        self._c1_since: float | None = None
        self._cp_confirmed = True  # the debounced CP state was seen from the EV (not held over F)
        self._cp_seen_since: float | None = None
        self._last_duty_change = float("-inf")
        self._last_duty: float | None = None  # the last PWM duty emitted (kept while paused)
        self._reported_faults: frozenset[FaultKind] = frozenset()
        self._reported_pilot = self.devices.pilot.output
        self._reported_contactor = self.devices.contactor.commanded_closed
        self._lock_held = False  # kept locked after the EV side was unplugged
        # Safe outputs first: whatever the hardware was left in, start open and not offering.
        self.devices.contactor.set_closed(False)
        self.devices.pilot.set_constant_high()
        if self.devices.lock is not None:
            self.devices.lock.set_locked(False)

    # ---- intentions from the policy layer (take effect at the next step) -------------------

    @_exclusive
    def authorise(self) -> None:
        self._intent.authorised = True
        self._intent.unlock_requested = False
        self._lock_held = False  # a new session owns the cable now

    @_exclusive
    def deauthorise(self) -> None:
        self._intent.authorised = False

    @_exclusive
    def set_available(self, available: bool) -> None:
        self._intent.available = available

    @_exclusive
    def set_limit_a(self, limit_a: float | None) -> None:
        self._intent.limit_a = limit_a

    @_exclusive
    def request_unlock(self) -> None:
        """Release the cable as soon as it is safe (contactor open, no weld)."""
        self._intent.authorised = False
        self._intent.unlock_requested = True
        self._lock_held = False

    @_exclusive
    def set_unlock_on_ev_disconnect(self, unlock: bool) -> None:
        """Whether a locked cable is released when the EV side is unplugged (OCPP 1.6 §4.10)."""
        self._intent.unlock_on_ev_disconnect = unlock

    @property
    @_exclusive
    def lock_held(self) -> bool:
        """The cable stays locked after the EV side was unplugged, waiting for its owner."""
        return self._lock_held

    @_exclusive
    def set_external_fault(self, kind: FaultKind, active: bool) -> None:
        """Faults detected outside the control loop (meter loss, for one)."""
        if active:
            self._external.add(kind)
        else:
            self._external.discard(kind)

    @_exclusive
    def latch_fault(self, kind: FaultKind) -> None:
        """A fault found outside the control loop that only a technician may clear."""
        self._latched.add(kind)

    @_exclusive
    def suspend_rcm_monitoring(self, suspended: bool) -> None:
        """While the RCM self-test injects its test current (EVSE idle), its trip is expected."""
        self._rcm_testing = suspended

    @_exclusive
    def clear_latched_faults(self) -> frozenset[FaultKind]:
        """Technician reset. Returns what was cleared; the RCM is re-armed too."""
        cleared = frozenset(self._latched)
        self._latched.clear()
        if self.devices.rcm is not None:
            self.devices.rcm.reset()
        return cleared

    # ---- the control loop --------------------------------------------------------------------

    @_exclusive
    def step(self, now: float) -> list[EvseEvent]:
        events: list[EvseEvent] = []
        self._sense(now, events)
        self._act(now)
        self._report(events)
        return events

    def _sense(self, now: float, events: list[EvseEvent]) -> None:
        d = self.devices
        reading = d.pilot.read()
        previous = self._cp.value
        # While the EVSE drives -12 V it reads its own signal back, not the EV: hold the last
        # state the EV showed until the pilot is released.
        own_signal = d.pilot.output.mode is PilotMode.STATE_F and reading.state is CpState.F
        if own_signal:
            # The held state is from before F: it must be seen again before the contactor closes,
            # and a change that was pending when F began must be seen again from the start.
            self._cp_confirmed, self._cp_seen_since = False, None
            self._cp = Debounced(self._cp.value, self.timing.cp_debounce_s)
            self._wants_energy = Debounced(self._wants_energy.value, self.timing.cp_debounce_s)
        else:
            self._filter_wants_energy(reading.state.wants_energy, now)
            if self._cp.update(reading.state, now):
                current = self._cp.value
                if current in (CpState.A,):
                    self._plugged = False
                elif current.plugged:
                    self._plugged = True
                events.append(CpChanged(self.evse_id, previous, current))
                self._cp_confirmed = True  # a new state, seen for the debounce time
            elif not self._cp_confirmed:
                if reading.state is not self._cp.value:
                    self._cp_seen_since = None
                elif self._cp_seen_since is None:
                    self._cp_seen_since = now
                elif now - self._cp_seen_since >= self.timing.cp_debounce_s:
                    self._cp_confirmed = True

        cp = self._cp.value
        pwm_on = d.pilot.output.pwm_on
        if pwm_on:
            # The diode shows on the PWM's low half only: a step without PWM tells nothing, and a
            # brief pause must not restart the check.
            self._diode.update(reading.diode_fault, now)
        if self._diode.value and self._plugged:
            self._conditions.add(FaultKind.DIODE)
        elif cp is CpState.A:
            # A new plug-in needs a new diode check before the contactor may close.
            self._conditions.discard(FaultKind.DIODE)
            self._diode = Debounced(False, self.timing.cp_debounce_s)

        self._toggle(FaultKind.STATE_E, cp is CpState.E)

        if d.over_temperature is not None:
            self._toggle(FaultKind.OVER_TEMPERATURE, d.over_temperature.active())
        for kind, source in d.fault_inputs.items():
            self._toggle(kind, source.active())

        if d.rcm is not None and not self._rcm_testing and d.rcm.tripped():
            self._latched.add(FaultKind.RCM)

        if d.proximity is not None and not self.tethered:
            pp = d.proximity.read()
            # An out-of-range reading is an error whenever it is seen (so a bad cable is known
            # the moment it is plugged in); no cable coded on PP is one only once a plug is
            # seen, otherwise every plug-in would pass through a PP fault.
            self._pp_error.update(pp.error or (self._plugged and pp.ampacity_a is None), now)
            self._toggle(FaultKind.PP, self._plugged and cp is not CpState.A and self._pp_error.value)
            self._pp_limit_a = float(pp.ampacity_a) if (self._plugged and pp.ampacity_a) else None

        self._sense_lock(now)

        feedback = d.contactor.feedback_closed()
        commanded = d.contactor.commanded_closed
        if feedback is None or feedback == commanded:
            self._mismatch_since = None
        elif self._mismatch_since is None:
            self._mismatch_since = now
        elif now - self._mismatch_since > self.timing.feedback_mismatch_s:
            self._latched.add(FaultKind.CONTACTOR if commanded else FaultKind.WELD)

    def _sense_lock(self, now: float) -> None:
        """A socket is energised only with its plug locked (IEC 61851-1): a lock commanded but
        not confirmed by its feedback within `lock_follow_s` is a fault (ConnectorLockFailure)
        that lasts while the lock is commanded, i.e. until the plug is taken out."""
        lock = self.devices.lock
        if lock is None or self.tethered:
            self._lock_confirmed = True
            return
        feedback = lock.feedback_locked()
        locked = lock.commanded_locked and feedback is not False
        if lock.commanded_locked and feedback is False:
            if self._lock_since is None:
                self._lock_since = now
        else:
            self._lock_since = None
        self._lock_confirmed = locked
        failed = self._lock_since is not None and now - self._lock_since > self.timing.lock_follow_s
        self._toggle(FaultKind.LOCK, failed)

    def _filter_wants_energy(self, wants: bool, now: float) -> None:
        """Asking for energy counts after the debounce time; leaving C/D after a few samples."""
        if self._wants_energy.value and not wants:
            self._leaving_energy += 1
            if self._leaving_energy >= self.timing.leave_energy_samples:
                self._wants_energy = Debounced(False, self.timing.cp_debounce_s)
                self._leaving_energy = 0
            return
        self._leaving_energy = 0
        self._wants_energy.update(wants, now)

    def _toggle(self, kind: FaultKind, active: bool) -> None:
        if active:
            self._conditions.add(kind)
        else:
            self._conditions.discard(kind)

    @property
    def faults(self) -> frozenset[FaultKind]:
        with self._guard:
            return frozenset(self._latched | self._conditions | self._external)

    @property
    def offered_current_a(self) -> float:
        offered = offered_current(self.max_current_a, self._pp_limit_a, self._intent.limit_a)
        return offered if offered >= MIN_CURRENT_A else 0.0

    def _act(self, now: float) -> None:
        d = self.devices
        cp = self._cp.value
        faults = self.faults
        if faults:
            d.contactor.set_closed(False)
            self._c1_since = None
            if self._state_f_since is None:
                self._state_f_since = now
                d.pilot.set_state_f()
            held = now - self._state_f_since >= self.timing.state_f_min_s
            if faults & LATCHING_FAULTS:
                # Latched faults stay in F, also when they arrive during a condition fault (F then
                # starts again, with its minimum time).
                if d.pilot.output.mode is not PilotMode.STATE_F:
                    self._state_f_since = now
                    d.pilot.set_state_f()
            elif held and d.pilot.output.mode is PilotMode.STATE_F:
                # Condition faults: back to +12 V so the pilot can be observed again.
                d.pilot.set_constant_high()
            self._drive_lock(now)
            return
        if self._state_f_since is not None and now - self._state_f_since < self.timing.state_f_min_s:
            # The fault is gone, but state F is held its minimum time (contactor stays open).
            self._drive_lock(now)
            return
        self._state_f_since = None
        if d.pilot.output.mode is PilotMode.STATE_F:
            d.pilot.set_constant_high()

        intent = self._intent
        offered = self.offered_current_a
        supply_allowed = (self._plugged and intent.authorised and intent.available and offered > 0
                          and not self._rcm_testing)
        if supply_allowed:
            self._set_duty(duty_for_current(offered), now)
        elif d.pilot.output.pwm_on:
            d.pilot.set_constant_high()

        energy_state = ((cp is CpState.C or (cp is CpState.D and self.ventilation_available))
                        and self._wants_energy.value)
        may_close = (energy_state and supply_allowed and d.pilot.output.pwm_on and self._cp_confirmed
                     and self._lock_confirmed)
        if may_close:
            self._c1_since = None
            if not d.contactor.commanded_closed:
                d.contactor.set_closed(True)
        elif d.contactor.commanded_closed:
            ev_still_in_c = cp in (CpState.C, CpState.D) and not d.pilot.output.pwm_on and self._plugged
            if ev_still_in_c and energy_state:
                # IEC 61851 C2->C1: give the EV time to stop drawing before breaking under load.
                if self._c1_since is None:
                    self._c1_since = now
                if now - self._c1_since >= self.timing.c1_timeout_s:
                    d.contactor.set_closed(False)
                    self._c1_since = None
            else:
                d.contactor.set_closed(False)
                self._c1_since = None
        self._drive_lock(now)

    def _set_duty(self, duty: float, now: float) -> None:
        out = self.devices.pilot.output
        if out.pwm_on and abs(out.duty_percent - duty) < 1e-6:
            return
        # A closed contactor means the EV draws, or may still draw (C1 grace after a pause):
        # resuming the PWM at another duty is a change too, and is rate-limited like one.
        changes = self._last_duty is None or abs(self._last_duty - duty) >= 1e-6
        charging = self.devices.contactor.commanded_closed
        if changes and charging and now - self._last_duty_change < self.timing.pwm_min_interval_s:
            return
        self.devices.pilot.set_pwm(duty)
        if changes:
            self._last_duty = duty
            self._last_duty_change = now

    def _drive_lock(self, now: float) -> None:
        lock = self.devices.lock
        if lock is None or self.tethered:
            return
        contactor = self.devices.contactor
        energised = contactor.commanded_closed or bool(contactor.feedback_closed())
        welded = FaultKind.WELD in self._latched
        in_fault_hold = self._state_f_since is not None and now - self._state_f_since < self.timing.unlock_in_f_s
        if energised or welded:
            want = True
        elif in_fault_hold and lock.commanded_locked:
            want = True
        elif self._intent.unlock_requested:
            want = False
        elif self._lock_held:
            want = True
        elif not self._plugged:
            # The EV side was unplugged: a locked cable stays locked when the policy says so.
            self._lock_held = lock.commanded_locked and not self._intent.unlock_on_ev_disconnect
            want = self._lock_held
        else:
            want = self._intent.authorised
        if want != lock.commanded_locked:
            lock.set_locked(want)
        if not self._plugged and self._intent.unlock_requested and not want:
            self._intent.unlock_requested = False

    def _report(self, events: list[EvseEvent]) -> None:
        faults = self.faults
        for kind in sorted(faults - self._reported_faults, key=lambda k: k.value):
            events.append(FaultRaised(self.evse_id, kind))
        for kind in sorted(self._reported_faults - faults, key=lambda k: k.value):
            events.append(FaultCleared(self.evse_id, kind))
        self._reported_faults = faults
        closed = self.devices.contactor.commanded_closed
        if closed != self._reported_contactor:
            events.append(ContactorChanged(self.evse_id, closed))
            self._reported_contactor = closed
        pilot = self.devices.pilot.output
        if pilot != self._reported_pilot:
            events.append(PilotChanged(self.evse_id, pilot))
            self._reported_pilot = pilot

    # ---- read-only view ----------------------------------------------------------------------

    @_exclusive
    def snapshot(self) -> EvseSnapshot:
        d = self.devices
        return EvseSnapshot(
            evse_id=self.evse_id,
            cp_state=self._cp.value,
            plugged=self._plugged,
            contactor_closed=d.contactor.commanded_closed,
            pilot=d.pilot.output,
            offered_current_a=self.offered_current_a if d.pilot.output.pwm_on else 0.0,
            faults=self.faults,
            locked=d.lock.commanded_locked if d.lock is not None else None,
            authorised=self._intent.authorised,
            available=self._intent.available,
            offering=(self._intent.authorised and self._intent.available and not self.faults
                      and self.offered_current_a > 0),
            settling=self._cp.settling or (self._cp.value.wants_energy and not self._wants_energy.value),
        )

    @property
    @_exclusive
    def quiet(self) -> bool:
        """Nothing here needs a fast reaction: no EV, nothing energised or pending, no fault and
        no timer running. The control loop may then sample less often."""
        return (not self._plugged and self._cp.value is CpState.A and not self._cp.settling
                and not self.devices.contactor.commanded_closed and not self.devices.pilot.output.pwm_on
                and not self.faults and self._state_f_since is None and self._mismatch_since is None)

    @property
    def plugged(self) -> bool:
        return self._plugged

    @property
    def cp_state(self) -> CpState:
        return self._cp.value
