"""CP classification (windows, hysteresis, diode check) and CpSensor on a fake ADS1115 bus."""
from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from drivers.pilot.ads1115 import Ads1115, Ads1115Scanner
from drivers.pilot.cp_sensor import CP_WINDOWS, CpSensor, classify_cp
from drivers.pilot.fakes import FakeAds1115Bus
from hal.clock import ManualClock
from hal.types import CpState

# The board's divider: CP -12...+12 V onto ADC 0...3 V, i.e. cp = adc * 8 - 12.
DIVIDER = (8.0, -12.0)
HIGH, LOW = 0, 1


def adc_v(cp_v: float) -> float:
    return (cp_v - DIVIDER[1]) / DIVIDER[0]


NOMINAL = {CpState.A: 12.0, CpState.B: 9.0, CpState.C: 6.0, CpState.D: 3.0, CpState.E: 0.0, CpState.F: -12.0}
STATES_OR_NONE = st.one_of(st.none(), st.sampled_from(list(CpState)))


# ---- classify_cp --------------------------------------------------------------------------------


@pytest.mark.parametrize("state", list(CpState))
def test_nominal_levels(state: CpState) -> None:
    assert classify_cp(NOMINAL[state]) is state


@pytest.mark.parametrize(("volts", "state"), [
    (13.0, CpState.A), (11.0, CpState.A), (10.0, CpState.B), (8.0, CpState.B), (7.0, CpState.C), (5.0, CpState.C),
    (4.0, CpState.D), (2.0, CpState.D), (1.0, CpState.E), (-1.0, CpState.E), (-11.0, CpState.F), (-13.0, CpState.F),
])
def test_window_edges_are_inclusive_whatever_came_before(volts: float, state: CpState) -> None:
    for previous in [None, *CpState]:
        assert classify_cp(volts, previous) is state


@pytest.mark.parametrize(("gap", "lower", "upper"), [
    ((10.0, 11.0), CpState.B, CpState.A), ((7.0, 8.0), CpState.C, CpState.B),
    ((4.0, 5.0), CpState.D, CpState.C), ((1.0, 2.0), CpState.E, CpState.D),
])
def test_hysteresis_band_keeps_the_previous_state(gap: tuple[float, float], lower: CpState, upper: CpState) -> None:
    low, high = gap
    for volts in (low + 0.01, (low + high) / 2, high - 0.01):
        assert classify_cp(volts, upper) is upper  # falling towards `lower`, not there yet
        assert classify_cp(volts, lower) is lower  # rising towards `upper`, not there yet
    # Without history, the nearer window.
    assert classify_cp(low + 0.1) is lower
    assert classify_cp(high - 0.1) is upper


def test_hysteresis_sequence_a_to_b_and_back() -> None:
    state = None
    seen = []
    for volts in (12.0, 11.2, 10.9, 10.5, 10.1, 9.9, 10.4, 10.9, 11.0, 10.6):
        state = classify_cp(volts, state)
        seen.append(state.value)
    assert "".join(seen) == "AAAAABBBAA"


@pytest.mark.parametrize("volts", [-5.0, -10.9, -1.1, 13.5, 15.0, -14.0])
def test_implausible_levels_read_as_e(volts: float) -> None:
    for previous in [None, *CpState]:
        assert classify_cp(volts, previous) is CpState.E


@given(data=st.data(), previous=STATES_OR_NONE)
def test_property_any_level_inside_a_window_gives_that_state(data: st.DataObject, previous: CpState | None) -> None:
    state, low, high = data.draw(st.sampled_from(CP_WINDOWS))
    volts = data.draw(st.floats(min_value=low, max_value=high, allow_nan=False))
    assert classify_cp(volts, previous) is state


@given(volts=st.floats(min_value=1.0, max_value=11.0, exclude_min=True, exclude_max=True), previous=st.sampled_from(list(CpState)))
def test_property_levels_between_neighbouring_windows_keep_the_previous_state(volts: float, previous: CpState) -> None:
    inside = [s for s, lo, hi in CP_WINDOWS if lo <= volts <= hi]
    expected = inside[0] if inside else previous
    assert classify_cp(volts, previous) is expected


# ---- CpSensor, blocking, two channels (positive and negative peak detectors) --------------------


def sensor_two_channel(bus: FakeAds1115Bus, **kwargs: object) -> CpSensor:
    return CpSensor(Ads1115(bus, sleep=lambda s: None), HIGH, DIVIDER, low_channel=LOW, **kwargs)  # type: ignore[arg-type]


def set_cp(bus: FakeAds1115Bus, high: float, low: float = -12.0) -> None:
    bus.volts[HIGH] = adc_v(high)
    bus.volts[LOW] = adc_v(low)


@pytest.mark.parametrize("state", list(CpState))
def test_sensor_classifies_every_state(state: CpState) -> None:
    bus = FakeAds1115Bus()
    set_cp(bus, NOMINAL[state], -12.0)
    sensor = sensor_two_channel(bus)
    reading = sensor.read(pwm_on=False)
    assert reading.state is state and reading.diode_fault is False
    assert sensor.last_high_v == pytest.approx(NOMINAL[state], abs=0.01)
    assert [w >> 12 & 0b111 for w in bus.writes] == [0b100, 0b101]  # AIN0 then AIN1


@pytest.mark.parametrize("state", [CpState.A, CpState.B, CpState.C, CpState.D])
def test_diode_check_passes_with_a_low_plateau_at_minus_12(state: CpState) -> None:
    bus = FakeAds1115Bus()
    set_cp(bus, NOMINAL[state], -12.0)
    assert sensor_two_channel(bus).read(pwm_on=True).diode_fault is False


@pytest.mark.parametrize(("low", "fault"), [(-12.0, False), (-10.2, False), (-9.8, True), (-5.0, True), (9.0, True)])
def test_diode_fault_when_the_low_plateau_is_above_minus_10(low: float, fault: bool) -> None:
    bus = FakeAds1115Bus()
    set_cp(bus, 9.0, low)
    sensor = sensor_two_channel(bus)
    assert sensor.read(pwm_on=True).diode_fault is fault
    assert sensor.read(pwm_on=False).diode_fault is False  # no PWM, no diode check


def test_no_diode_fault_while_driving_state_f() -> None:
    bus = FakeAds1115Bus()
    set_cp(bus, -12.0, -12.0)
    assert sensor_two_channel(bus).read(pwm_on=True).diode_fault is False


def test_sensor_keeps_state_inside_the_hysteresis_band() -> None:
    bus = FakeAds1115Bus()
    sensor = sensor_two_channel(bus)
    set_cp(bus, 12.0)
    assert sensor.read().state is CpState.A
    set_cp(bus, 10.5)
    assert sensor.read().state is CpState.A
    set_cp(bus, 9.5)
    assert sensor.read().state is CpState.B
    set_cp(bus, 10.7)
    assert sensor.read().state is CpState.B


def test_several_samples_use_max_high_and_min_low() -> None:
    bus = FakeAds1115Bus(sequences={HIGH: [adc_v(8.6), adc_v(9.2), adc_v(8.9)], LOW: [adc_v(-11.0), adc_v(-12.1), adc_v(-11.5)]})
    sensor = sensor_two_channel(bus, samples=3)
    reading = sensor.read(pwm_on=True)
    assert sensor.last_high_v == pytest.approx(9.2, abs=0.01)
    assert sensor.last_low_v == pytest.approx(-12.1, abs=0.01)
    assert reading.state is CpState.B and not reading.diode_fault
    assert len(bus.writes) == 6


def test_low_channel_may_have_its_own_divider() -> None:
    bus = FakeAds1115Bus(volts={HIGH: adc_v(6.0), LOW: 1.2})  # negative peak: cp = -adc * 10
    sensor = CpSensor(Ads1115(bus, sleep=lambda s: None), HIGH, DIVIDER, low_channel=LOW, low_divider=(-10.0, 0.0))
    reading = sensor.read(pwm_on=True)
    assert reading.state is CpState.C and not reading.diode_fault
    assert sensor.last_low_v == pytest.approx(-12.0, abs=0.01)


def test_bus_error_reads_as_e_without_disturbing_the_remembered_state() -> None:
    bus = FakeAds1115Bus()
    sensor = sensor_two_channel(bus)
    set_cp(bus, 9.0)
    assert sensor.read().state is CpState.B
    bus.fail = True
    assert sensor.read(pwm_on=True).state is CpState.E
    assert sensor.errors == 1 and "0x48" in (sensor.last_error or "")
    bus.fail = False
    set_cp(bus, 10.5)  # in the band: the state before the error is kept, not E
    assert sensor.read().state is CpState.B


# ---- CpSensor, one channel behind an alternating sample-and-hold --------------------------------


def test_single_channel_takes_both_plateaus_from_alternating_samples() -> None:
    bus = FakeAds1115Bus(sequences={HIGH: [adc_v(6.0), adc_v(-12.0)]})
    sensor = CpSensor(Ads1115(bus, sleep=lambda s: None), HIGH, DIVIDER)
    assert sensor.samples == 2
    reading = sensor.read(pwm_on=True)
    assert reading.state is CpState.C and not reading.diode_fault
    bus.sequences[HIGH] = [adc_v(6.0), adc_v(6.0)]  # diode shorted: the low half follows the high
    assert sensor.read(pwm_on=True).diode_fault is True


def test_single_channel_needs_two_samples() -> None:
    with pytest.raises(ValueError):
        CpSensor(Ads1115(FakeAds1115Bus()), HIGH, DIVIDER, samples=1)


# ---- CpSensor on the non-blocking scanner ----------------------------------------------------------


def test_scanner_mode_reads_without_waiting_and_tracks_changes_within_two_steps() -> None:
    clock = ManualClock()
    bus = FakeAds1115Bus()
    set_cp(bus, 12.0)
    scanner = Ads1115Scanner(Ads1115(bus, sleep=lambda s: None), [HIGH, LOW], clock=clock)
    sensor = CpSensor(scanner, HIGH, DIVIDER, low_channel=LOW, clock=clock)
    assert sensor.read(pwm_on=True).state is CpState.A  # first read primes the scanner
    for _ in range(4):
        clock.advance(0.01)
        assert sensor.read(pwm_on=True).state is CpState.A
    set_cp(bus, 9.0)  # EV plugged in
    steps = 0
    while sensor.read(pwm_on=True).state is not CpState.B:
        clock.advance(0.01)
        steps += 1
        assert steps <= 3
    # A single read cost at most one conversion read and one start, never a wait.
    writes = len(bus.writes)
    clock.advance(0.01)
    sensor.read()
    assert len(bus.writes) == writes + 1


def test_scanner_mode_reports_stale_data_as_e() -> None:
    clock = ManualClock()
    bus = FakeAds1115Bus()
    set_cp(bus, 6.0)
    scanner = Ads1115Scanner(Ads1115(bus, sleep=lambda s: None), [HIGH, LOW], clock=clock)
    sensor = CpSensor(scanner, HIGH, DIVIDER, low_channel=LOW, clock=clock, max_age_s=0.1)
    assert sensor.read().state is CpState.C
    bus.fail = True
    states = []
    for _ in range(15):
        clock.advance(0.01)
        states.append(sensor.read().state)
    assert states[:5] == [CpState.C] * 5 and states[-1] is CpState.E


def test_scanner_mode_checks_its_channels() -> None:
    scanner = Ads1115Scanner(Ads1115(FakeAds1115Bus()), [HIGH])
    with pytest.raises(ValueError):
        CpSensor(scanner, HIGH, DIVIDER, low_channel=LOW)
