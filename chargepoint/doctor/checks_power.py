"""Contactor, residual-current monitor, socket lock and over-temperature input.

The contactor is closed only with --allow-contactor, and only while CP reads state A (no vehicle)
unless the technician also gives --allow-contactor-with-ev. Its mirror contact must follow each
command within 250 ms, the time after which the controller latches a weld / contactor fault."""
from __future__ import annotations

from collections.abc import Callable

from chargepoint.doctor.context import DoctorContext, Step
from chargepoint.doctor.results import Verdict, failed, passed, skipped
from chargepoint.doctor.sampling import follows, sample_pilot
from hal.board import EvseDevices
from hal.contracts import Contactor, FaultInput, ResidualCurrentMonitor, SocketLock
from hal.types import CpState

FEEDBACK_FOLLOW_S = 0.25
CONTACTOR_HOLD_S = 0.3  # closed at least this long, so the technician hears both clicks
LOCK_TIMEOUT_DEFAULT_S = 1.0

WELD_HINT = ("the mirror contact reports the main contacts closed while they are commanded open: welded contacts "
             "(do not energise the box; replace the contactor), or the feedback is misconfigured: check "
             "feedback_pin and feedback_closed_high in [evse.contactor] (a mirror/NC contact reads high while the "
             "main contacts are open: feedback_closed_high = false)")
CLOSE_HINT = ("the mirror contact did not report closed within 250 ms: check the relay driver output (pin, "
              "active_high), the coil supply and its fuse, the external heartbeat watchdog relay in the coil "
              "supply, the RCM module (it opens the contactor by itself when tripped), and the feedback wiring "
              "(feedback_pin, feedback_closed_high)")
OPEN_HINT = ("the mirror contact still reports closed 250 ms after opening: welded or sticking contacts (do not "
             "energise the box), a relay driver stuck on, or active_high inverted in [evse.contactor]")


async def check_contactor_at_rest(contactor: Contactor) -> Verdict:
    contactor.set_closed(False)
    feedback = contactor.feedback_closed()
    if feedback is None:
        return skipped("no mirror contact configured: nothing to compare", feedback=None)
    if feedback:
        return failed("feedback reads closed while commanded open", WELD_HINT, feedback="closed")
    return passed("open, feedback agrees", feedback="open")


def _heartbeat_keeper(ctx: DoctorContext) -> Callable[[], None] | None:
    """Toggles the heartbeat while the contactor is exercised: an external watchdog relay in the
    coil supply lets the contactor close only while the heartbeat runs, as under the controller."""
    heartbeat = ctx.board.heartbeat
    if heartbeat is None:
        return None
    last = [ctx.clock.monotonic()]

    def keep() -> None:
        now = ctx.clock.monotonic()
        if now - last[0] >= 0.01:
            heartbeat.toggle()
            last[0] = now

    return keep


async def check_contactor_switching(ctx: DoctorContext, evse_id: int, devices: EvseDevices) -> Verdict:
    options = ctx.options
    if not options.allow_contactor:
        return skipped("skipped (needs --allow-contactor)")
    contactor = devices.contactor
    if contactor.feedback_closed():
        return skipped("refused: the feedback reads closed at rest (see the check above)")
    rcm = devices.rcm
    if rcm is not None and rcm.tripped():
        return skipped("refused: the RCM reports a fault")
    cp = (await sample_pilot(devices.pilot, ctx.clock)).state
    if cp is not CpState.A and not options.contactor_with_ev:
        return skipped(f"refused: CP reads state {cp.value} (a vehicle or a CP fault); unplug the vehicle or add "
                       "--allow-contactor-with-ev", cp_state=cp.value)
    if getattr(contactor, "closes_only_with_ev", False) and not cp.wants_energy:
        return skipped(f"the board closes the contactor only while a vehicle asks for energy (CP {cp.value}): "
                       "check it with a vehicle or an EV simulator in state C", cp_state=cp.value)
    keep = _heartbeat_keeper(ctx)
    clock = ctx.clock
    contactor.set_closed(True)
    try:
        closed_after = await follows(contactor.feedback_closed, True, FEEDBACK_FOLLOW_S, clock, meanwhile=keep)
        hold_until = clock.monotonic() + CONTACTOR_HOLD_S
        while clock.monotonic() < hold_until:
            if keep is not None:
                keep()
            await clock.sleep(min(0.01, max(0.0, hold_until - clock.monotonic())))
    finally:
        contactor.set_closed(False)
    opened_after = await follows(contactor.feedback_closed, False, FEEDBACK_FOLLOW_S, clock)
    values = {"close_ms": _ms(closed_after), "open_ms": _ms(opened_after), "cp_state": cp.value}
    if contactor.feedback_closed() is None:
        return passed("closed and opened; no mirror contact configured: listen for both clicks", **values)
    if closed_after is None:
        if opened_after is None:
            return failed("feedback stuck at closed", OPEN_HINT, **values)
        return failed("feedback did not follow the close within 250 ms (stuck open)", CLOSE_HINT, **values)
    if opened_after is None:
        return failed(f"closed in {closed_after * 1000:.0f} ms, but feedback did not follow the open within 250 ms",
                      OPEN_HINT, **values)
    return passed(f"feedback followed: closed in {closed_after * 1000:.0f} ms, open in {opened_after * 1000:.0f} ms",
                  **values)


def _ms(seconds: float | None) -> float | None:
    return None if seconds is None else round(seconds * 1000, 1)


async def check_rcm_at_rest(rcm: ResidualCurrentMonitor) -> Verdict:
    if not rcm.tripped():
        return passed("not tripped", tripped=False)
    rcm.reset()
    if rcm.tripped():
        return failed("reports a residual-current fault at rest", "the fault output is active with the contactor "
                      "open: check the module's supply and its fault output wiring (fault_pin, fault_active_high in "
                      "[evse.rcm]), and that only L and N (not PE) pass through the sensor", tripped=True)
    return passed("a latched trip (from before) cleared by reset; not tripped now", tripped=False, was_latched=True)


async def check_rcm_self_test(rcm: ResidualCurrentMonitor) -> Verdict:
    try:
        ok = await rcm.self_test()
    finally:
        rcm.reset()
    result = getattr(rcm, "last_self_test", None)
    reason = getattr(result, "reason", None)
    values = {"passed": ok, "trip_after_s": getattr(result, "trip_after_s", None),
              "release_after_s": getattr(result, "release_after_s", None)}
    if not ok:
        return failed(f"self-test failed{': ' + reason if reason else ''}",
                      "check the TST wire (test_pin in [evse.rcm]) and the module's supply; a module that trips "
                      "but never releases, or never trips, must be replaced before the box charges", **values)
    if rcm.tripped():
        return failed("passed the self-test but stays tripped after reset",
                      "the fault output did not return to rest: check fault_active_high and the module", **values)
    return passed(f"self-test passed{': ' + reason if reason else ''}; reset", **values)


async def check_lock(ctx: DoctorContext, lock: SocketLock) -> Verdict:
    timeout = float(getattr(lock, "timeout_s", LOCK_TIMEOUT_DEFAULT_S))
    clock = ctx.clock
    lock.set_locked(True)
    try:
        locked_after = await follows(lock.feedback_locked, True, timeout, clock)
    finally:
        lock.set_locked(False)
    unlocked_after = await follows(lock.feedback_locked, False, timeout, clock)
    values = {"lock_ms": _ms(locked_after), "unlock_ms": _ms(unlocked_after), "timeout_s": timeout}
    if lock.feedback_locked() is None:
        return passed("locked and unlocked; no feedback configured: check the pin moves", **values)
    hint = ("the lock's feedback did not follow within {t:g} s: check the motor lines (lock_pin, unlock_pin) and the "
            "motor supply, the feedback switch (feedback_pin, feedback_locked_high in [evse.lock]), pulse_s (too "
            "short for the motor), and that nothing blocks the pin").format(t=timeout)
    if locked_after is None:
        return failed(f"did not report locked within {timeout:g} s", hint, **values)
    if unlocked_after is None:
        return failed(f"locked in {locked_after * 1000:.0f} ms, but did not report unlocked within {timeout:g} s",
                      hint, **values)
    return passed(f"locked in {locked_after * 1000:.0f} ms, unlocked in {unlocked_after * 1000:.0f} ms", **values)


async def check_over_temperature(sensor: FaultInput) -> Verdict:
    if sensor.active():
        return failed("reports over-temperature", "the thermal switch reads hot or disconnected: let the box cool, "
                      "check the switch and its wire, and active_high in [evse.over_temperature]", active=True)
    return passed("cool", active=False)


def power_steps(ctx: DoctorContext, evse_id: int, devices: EvseDevices) -> list[Step]:
    scope = f"EVSE {evse_id}"
    steps: list[Step] = []
    rcm, lock, thermal = devices.rcm, devices.lock, devices.over_temperature
    if rcm is not None:
        steps += [Step(scope, "RCM", "at rest", lambda: check_rcm_at_rest(rcm), 2.0),
                  Step(scope, "RCM", "self-test", lambda: check_rcm_self_test(rcm), 5.0)]
    steps += [
        Step(scope, "contactor", "open at rest", lambda: check_contactor_at_rest(devices.contactor), 2.0),
        Step(scope, "contactor", "close and open", lambda: check_contactor_switching(ctx, evse_id, devices), 5.0),
    ]
    if lock is not None:
        timeout = float(getattr(lock, "timeout_s", LOCK_TIMEOUT_DEFAULT_S))
        steps.append(Step(scope, "socket lock", "lock and unlock", lambda: check_lock(ctx, lock), 2 * timeout + 3.0))
    if thermal is not None:
        steps.append(Step(scope, "over-temperature", "input", lambda: check_over_temperature(thermal), 2.0))
    return steps
