"""Control pilot and proximity pilot checks.

At rest the pilot drives constant +12 V: without a vehicle CP must read state A (11…13 V), with
a vehicle plugged state B (8…10 V). The PWM check drives a test duty (5 % by default: "digital
communication required", so a basic EV does not start charging) and expects the reading to
classify still and the low plateau to reach about −12 V (the EV's diode, or the op-amp's
negative rail without a vehicle)."""
from __future__ import annotations

from chargepoint.doctor.context import DoctorContext, Step
from chargepoint.doctor.results import Verdict, failed, passed, skipped
from chargepoint.doctor.sampling import PilotSample, diode_threshold_v, fmt_v, plateau_windows, sample_pilot
from hal.board import EvseDevices
from hal.contracts import ControlPilot, ProximityPilot
from hal.types import CpState

REST_STATES = (CpState.A, CpState.B)
STATE_MEANING = {
    CpState.A: "no vehicle",
    CpState.B: "vehicle plugged, not ready",
    CpState.C: "vehicle asks for energy",
    CpState.D: "vehicle asks for energy with ventilation",
    CpState.E: "no valid level",
    CpState.F: "-12 V",
}
MEASURE = "Measure CP against PE with a multimeter: +12 V without a vehicle, +9 V with one."
ADC_HINT = ("the CP level cannot be read: check the ADS1115 on the I2C bus (`i2cdetect -y {bus}` must show "
            "0x{address:02x}), its supply, and adc_bus / adc_address / high_channel / low_channel in [evse.pilot]")
REST_HINTS = {
    CpState.C: ("a vehicle asks for energy although no PWM is offered, or the level reads too low: check "
                "divider_gain / divider_offset_v in [evse.pilot] and the op-amp's +12 V supply. " + MEASURE),
    CpState.D: ("the level reads far too low for a plugged vehicle: check divider_gain / divider_offset_v, the "
                "op-amp's +12 V supply and the 1 kOhm source resistor. " + MEASURE),
    CpState.E: ("the CP level is in no IEC 61851 window: CP shorted to PE, the op-amp's +/-12 V supply missing, "
                "a broken CP wire to the peak detector, or divider_gain / divider_offset_v wrong. " + MEASURE),
    CpState.F: ("CP stays at -12 V although +12 V is driven: the PWM channel does not drive (check the dtoverlay, "
                "pwm_chip / pwm_channel and `ls /sys/class/pwm`), the state-F switch (state_f_pin) is stuck on, or "
                "the op-amp stage inverts. " + MEASURE),
}
UNSTABLE_HINT = ("the CP level jumps between states: a loose CP or PE wire, a vehicle changing state during the "
                 "test, or noise on the ADC input (check the peak detectors' capacitors)")
GAP_HINT = ("the CP level lies between two IEC 61851 windows: check divider_gain / divider_offset_v in "
            "[evse.pilot] against the board's divider, and the +12 V supply under load. " + MEASURE)


def _voltages(sample: PilotSample) -> dict[str, object]:
    return {"state": sample.state.value, "high_v": sample.high_v, "low_v": sample.low_v}


def _levels(sample: PilotSample) -> str:
    """The plateau voltages, where the driver measures them."""
    if sample.high_v is None and sample.low_v is None:
        return ""
    return f"; high {fmt_v(sample.high_v)}, low {fmt_v(sample.low_v)}"


def _adc_hint(ctx: DoctorContext, evse_id: int) -> str:
    hw = ctx.config.hardware.evses.get(evse_id) if ctx.config.hardware is not None else None
    adc = getattr(hw, "pilot", None)
    if adc is None:  # the simulator, or a co-processor that senses the pilot itself
        return "the pilot's sensing reported an error: check the board's CP sensing (and its serial link)"
    return ADC_HINT.format(bus=adc.adc_bus, address=adc.adc_address)


def _window_problem(pilot: ControlPilot, sample: PilotSample) -> str | None:
    window = plateau_windows(pilot).get(sample.state)
    if window is None or sample.high_v is None:
        return None
    low, high = window
    if low <= sample.high_v <= high:
        return None
    return (f"high plateau {fmt_v(sample.high_v)} is outside the state {sample.state.value} window "
            f"({low:+.0f} ... {high:+.0f} V)")


async def check_cp_at_rest(ctx: DoctorContext, evse_id: int, pilot: ControlPilot) -> Verdict:
    pilot.set_constant_high()
    sample = await sample_pilot(pilot, ctx.clock)
    ctx.cp_at_rest[evse_id] = sample.state
    values = _voltages(sample)
    levels = _levels(sample)
    if sample.adc_error is not None and sample.state is CpState.E:
        return failed(f"CP unreadable: {sample.adc_error}", _adc_hint(ctx, evse_id), **values)
    if not sample.stable:
        seen = ", ".join(sorted({s.value for s in sample.states_seen}))
        return failed(f"CP not steady (states {seen}){levels}", UNSTABLE_HINT, **values)
    if sample.state not in REST_STATES:
        return failed(f"state {sample.state.value} ({STATE_MEANING[sample.state]}) at +12 V{levels}",
                      REST_HINTS[sample.state], **values)
    problem = _window_problem(pilot, sample)
    if problem is not None:
        return failed(problem, GAP_HINT, **values)
    return passed(f"state {sample.state.value} ({STATE_MEANING[sample.state]}){levels}", **values)


async def check_cp_pwm(ctx: DoctorContext, evse_id: int, pilot: ControlPilot) -> Verdict:
    duty = ctx.options.pwm_duty_percent
    if duty <= 0:
        return skipped("skipped (--pwm-duty 0)")
    rest = ctx.cp_at_rest.get(evse_id)
    if rest not in REST_STATES:
        return skipped("skipped (CP did not read A or B at rest)")
    pilot.set_pwm(duty)
    try:
        sample = await sample_pilot(pilot, ctx.clock)
    finally:
        pilot.set_constant_high()
    values = {**_voltages(sample), "duty_percent": duty}
    levels = _levels(sample)
    if sample.adc_error is not None and sample.state is CpState.E:
        return failed(f"CP unreadable with PWM: {sample.adc_error}", _adc_hint(ctx, evse_id), **values)
    if sample.state in (CpState.E, CpState.F):
        return failed(f"with {duty:g} % PWM CP reads state {sample.state.value}{levels}",
                      "the level does not classify while PWM runs: the peak detectors do not hold the plateaus "
                      "(check their diodes and capacitors) or the PWM frequency is wrong (1 kHz expected)", **values)
    plugged = sample.state.plugged
    if sample.diode_fault:
        threshold = diode_threshold_v(pilot)
        limit = f" (must be below {threshold:+.0f} V)" if threshold is not None else ""
        if plugged:
            hint = ("the vehicle's diode looks missing or shorted, or CP touches PE during the negative half: "
                    "try another vehicle or an EV simulator; check the CP wire")
        else:
            hint = ("the negative half does not reach -12 V without a vehicle: check the op-amp's -12 V supply and "
                    "the negative peak detector (low_channel, its divider)")
        return failed(f"low plateau {fmt_v(sample.low_v)}{limit} with {duty:g} % PWM; state {sample.state.value}",
                      hint, **values)
    problem = _window_problem(pilot, sample)
    if problem is not None:
        return failed(problem, GAP_HINT, **values)
    if plugged:
        diode = "diode check sane"
    else:
        diode = "no vehicle" + ("" if sample.low_v is None else ": the low plateau reaches -12 V")
    return passed(f"{duty:g} % PWM: state {sample.state.value}{levels}; {diode}", **values)


async def check_proximity(ctx: DoctorContext, proximity: ProximityPilot) -> Verdict:
    reading = proximity.read()
    for _ in range(6):  # a scanned ADC needs a few polls for a fresh conversion
        await ctx.clock.sleep(0.01)
        reading = proximity.read()
    ohm = getattr(proximity, "last_resistance_ohm", None)
    if not hasattr(proximity, "last_resistance_ohm"):
        resistance = "resistance not measured by this driver"
    else:
        resistance = "open" if ohm is None or ohm == float("inf") else f"{ohm:.0f} Ohm"
    values = {"resistance_ohm": ohm, "ampacity_a": reading.ampacity_a, "error": reading.error}
    if reading.error:
        last_error = getattr(proximity, "last_error", None)
        detail = f"PP error ({last_error})" if last_error and ohm is None else f"PP error: {resistance}"
        return failed(detail, "PP reads below 60 Ohm (shorted to PE) or its ADC input cannot be read: check the PP "
                              "wire and the cable's coding resistor, the pull-up (pull_up_ohm, supply_v) and "
                              "adc_channel in [evse.proximity]", **values)
    if reading.ampacity_a is None:
        return passed(f"no cable ({resistance})", **values)
    return passed(f"cable coded {reading.ampacity_a} A ({resistance})", **values)


def pilot_steps(ctx: DoctorContext, evse_id: int, devices: EvseDevices) -> list[Step]:
    scope = f"EVSE {evse_id}"
    steps = [
        Step(scope, "control pilot", "+12 V at rest", lambda: check_cp_at_rest(ctx, evse_id, devices.pilot), 3.0),
        Step(scope, "control pilot", "PWM", lambda: check_cp_pwm(ctx, evse_id, devices.pilot), 3.0),
    ]
    proximity = devices.proximity
    if proximity is not None:
        steps.append(Step(scope, "proximity pilot", "cable coding", lambda: check_proximity(ctx, proximity), 3.0))
    return steps
