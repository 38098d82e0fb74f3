"""PP resistor decoding (EVerest accept ranges) and AdcProximity on a fake ADS1115 bus."""
from __future__ import annotations

import math

import pytest
from hypothesis import given
from hypothesis import strategies as st

from drivers.pilot.ads1115 import Ads1115, Ads1115Scanner
from drivers.pilot.fakes import FakeAds1115Bus
from drivers.pilot.proximity import PP_RANGES, AdcProximity, classify_pp, pp_resistance
from hal.clock import ManualClock
from hal.contracts import ProximityPilot
from hal.types import ProximityReading

PULL_UP, SUPPLY = 330.0, 3.3


def pp_volts(rc: float, parallel: float | None = None) -> float:
    r = rc if parallel is None else (rc * parallel / (rc + parallel) if math.isfinite(rc) else parallel)
    return SUPPLY if math.isinf(r) else SUPPLY * r / (r + PULL_UP)


@pytest.mark.parametrize(("ohm", "amps"), [(1500, 13), (680, 20), (220, 32), (100, 63)])
def test_nominal_resistors(ohm: float, amps: int) -> None:
    assert classify_pp(ohm) == ProximityReading(ampacity_a=amps)


@pytest.mark.parametrize(("ohm", "amps"), [
    (1100, 13), (2460, 13), (400, 20), (936, 20), (164, 32), (308, 32), (80, 63), (140, 63),
])
def test_range_boundaries_are_inclusive(ohm: float, amps: int) -> None:
    assert classify_pp(ohm).ampacity_a == amps


@pytest.mark.parametrize(("ohm", "amps"), [
    (1000, 13), (937, 13), (1099, 13),  # between 20 A and 13 A
    (350, 20), (309, 20), (399, 20),  # between 32 A and 20 A
    (150, 32), (141, 32), (163, 32),  # between 63 A and 32 A
    (60, 63), (70, 63), (79.9, 63),  # below 63 A, above the error limit
    (2461, 13), (3000, 13), (4500, 13),  # above 13 A, not yet "no cable"
])
def test_between_ranges_the_lower_ampacity(ohm: float, amps: int) -> None:
    assert classify_pp(ohm) == ProximityReading(ampacity_a=amps)


@pytest.mark.parametrize("ohm", [4500.1, 10_000, math.inf])
def test_no_cable(ohm: float) -> None:
    assert classify_pp(ohm) == ProximityReading(ampacity_a=None, error=False)


@pytest.mark.parametrize("ohm", [59.9, 30, 0, math.nan])
def test_shorted_pp_is_an_error(ohm: float) -> None:
    assert classify_pp(ohm) == ProximityReading(ampacity_a=None, error=True)


@given(data=st.data())
def test_property_any_resistance_inside_a_range_gives_its_ampacity(data: st.DataObject) -> None:
    amps, low, high = data.draw(st.sampled_from(PP_RANGES))
    assert classify_pp(data.draw(st.floats(min_value=low, max_value=high))).ampacity_a == amps


@given(ohm=st.floats(min_value=60, max_value=4500))
def test_property_never_more_than_the_range_just_above(ohm: float) -> None:
    """Between 60 and 4500 Ω there is always an ampacity, never above that of a range containing
    or lying above the value (higher resistance = lower ampacity)."""
    amps = classify_pp(ohm).ampacity_a
    assert amps is not None
    above = [a for a, low, high in PP_RANGES if high >= ohm]
    assert amps <= max(above, default=13)


def test_resistance_formula() -> None:
    assert pp_resistance(pp_volts(1500), PULL_UP, SUPPLY) == pytest.approx(1500)
    assert pp_resistance(SUPPLY, PULL_UP, SUPPLY) == math.inf
    assert pp_resistance(0.0, PULL_UP, SUPPLY) == 0.0
    assert pp_resistance(pp_volts(220, parallel=2700), PULL_UP, SUPPLY, parallel_ohm=2700) == pytest.approx(220)
    assert pp_resistance(pp_volts(math.inf, parallel=2700), PULL_UP, SUPPLY, parallel_ohm=2700) == math.inf


def make(bus: FakeAds1115Bus, **kwargs: object) -> AdcProximity:
    return AdcProximity(Ads1115(bus, sleep=lambda s: None), 2, PULL_UP, SUPPLY, **kwargs)  # type: ignore[arg-type]


@pytest.mark.parametrize(("rc", "expected"), [
    (1500, ProximityReading(13)), (680, ProximityReading(20)), (220, ProximityReading(32)), (100, ProximityReading(63)),
    (1000, ProximityReading(13)), (150, ProximityReading(32)), (math.inf, ProximityReading(None)),
    (10_000, ProximityReading(None)), (20, ProximityReading(None, error=True)), (0, ProximityReading(None, error=True)),
])
def test_adc_proximity_reads_the_table(rc: float, expected: ProximityReading) -> None:
    bus = FakeAds1115Bus(volts={2: pp_volts(rc)})
    pp = make(bus, min_interval_s=0.0)
    assert isinstance(pp, ProximityPilot)
    assert pp.read() == expected
    assert (bus.writes[0] >> 12) & 0b111 == 0b110  # AIN2
    if math.isfinite(rc) and rc > 0:
        assert pp.last_resistance_ohm == pytest.approx(rc, rel=0.01)


def test_adc_proximity_through_a_divider_and_with_a_parallel_resistor() -> None:
    bus = FakeAds1115Bus(volts={2: pp_volts(680, parallel=2700) / 2})
    pp = make(bus, divider_gain=2.0, parallel_ohm=2700, min_interval_s=0.0)
    assert pp.read() == ProximityReading(20)
    bus.volts[2] = pp_volts(math.inf, parallel=2700) / 2  # no cable: only the board's resistor
    assert pp.read() == ProximityReading(None)


def test_adc_error_is_a_pp_error() -> None:
    bus = FakeAds1115Bus(fail=True)
    pp = make(bus, min_interval_s=0.0)
    assert pp.read() == ProximityReading(None, error=True)
    assert pp.errors == 1


def test_blocking_mode_reads_at_most_every_min_interval() -> None:
    clock = ManualClock()
    bus = FakeAds1115Bus(volts={2: pp_volts(220)})
    pp = make(bus, min_interval_s=0.05, clock=clock)
    assert pp.read().ampacity_a == 32
    bus.volts[2] = pp_volts(1500)
    clock.advance(0.04)
    assert pp.read().ampacity_a == 32 and len(bus.writes) == 1  # cached
    clock.advance(0.011)
    assert pp.read().ampacity_a == 13 and len(bus.writes) == 2


def test_scanner_mode_shares_the_chip_with_the_pilot() -> None:
    clock = ManualClock()
    bus = FakeAds1115Bus(volts={0: 3.0, 1: 0.0, 2: pp_volts(680)})
    scanner = Ads1115Scanner(Ads1115(bus, sleep=lambda s: None), [0, 1, 2], schedule=[0, 1, 0, 1, 2], clock=clock)
    pp = AdcProximity(scanner, 2, PULL_UP, SUPPLY, clock=clock, max_age_s=0.2)
    assert pp.read().ampacity_a == 20
    bus.volts[2] = pp_volts(100)
    for _ in range(6):
        clock.advance(0.01)
        pp.read()
    assert pp.read().ampacity_a == 63
    bus.fail = True
    for _ in range(25):
        clock.advance(0.01)
        reading = pp.read()
    assert reading == ProximityReading(None, error=True)  # stale
