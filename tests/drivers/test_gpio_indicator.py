"""GpioIndicator: one colour and rhythm per IndicatorPattern, on ManualClock."""
from __future__ import annotations

import asyncio
from collections.abc import Iterator

import pytest
from gpiozero.pins.mock import MockFactory, MockPWMPin

from drivers.gpio.indicator import (
    BLUE,
    GREEN,
    OFF,
    RED,
    RGB_PATTERNS,
    TWO_COLOUR_PATTERNS,
    YELLOW,
    GpioIndicator,
)
from hal.clock import ManualClock
from hal.contracts import Indicator
from hal.types import IndicatorPattern

R, G, B = 9, 10, 11


@pytest.fixture
def factory() -> Iterator[MockFactory]:
    f = MockFactory(pin_class=MockPWMPin)
    yield f
    f.reset()


@pytest.fixture
def clock() -> ManualClock:
    return ManualClock()


def pins(factory: MockFactory, rgb: bool = True) -> tuple[bool, bool, bool]:
    return (bool(factory.pin(R).state), bool(factory.pin(G).state), bool(factory.pin(B).state) if rgb else False)


@pytest.mark.parametrize("table", [RGB_PATTERNS, TWO_COLOUR_PATTERNS])
def test_every_pattern_has_an_entry(table: dict) -> None:
    assert set(table) == set(IndicatorPattern)


@pytest.mark.parametrize("pattern", list(IndicatorPattern))
def test_rgb_pattern_shows_its_colour_then_blinks_in_phase(factory: MockFactory, clock: ManualClock,
                                                           pattern: IndicatorPattern) -> None:
    ind = GpioIndicator(R, G, B, clock=clock, pin_factory=factory)
    assert isinstance(ind, Indicator)
    spec = RGB_PATTERNS[pattern]
    t0 = clock.monotonic()
    ind.show(pattern)
    assert pins(factory) == spec.colour == ind.colour
    if spec.blinking:
        assert spec.on_s is not None
        ind.poll(t0 + spec.on_s - 0.001)
        assert pins(factory) == spec.colour
        ind.poll(t0 + spec.on_s + 0.001)
        assert pins(factory) == OFF
        ind.poll(t0 + spec.on_s + spec.off_s + 0.001)
        assert pins(factory) == spec.colour
    else:
        ind.poll(t0 + 12.345)
        assert pins(factory) == spec.colour


def test_table_highlights(factory: MockFactory, clock: ManualClock) -> None:
    assert RGB_PATTERNS[IndicatorPattern.AVAILABLE].colour == GREEN and not RGB_PATTERNS[IndicatorPattern.AVAILABLE].blinking
    assert RGB_PATTERNS[IndicatorPattern.CHARGING].colour == BLUE and RGB_PATTERNS[IndicatorPattern.CHARGING].blinking
    assert RGB_PATTERNS[IndicatorPattern.FAULTED].colour == RED and RGB_PATTERNS[IndicatorPattern.FAULTED].blinking
    assert TWO_COLOUR_PATTERNS[IndicatorPattern.SUSPENDED].colour == YELLOW
    assert all(not p.colour[2] for p in TWO_COLOUR_PATTERNS.values())


def test_two_colour_indicator_uses_its_table(factory: MockFactory, clock: ManualClock) -> None:
    ind = GpioIndicator(R, G, clock=clock, pin_factory=factory)
    ind.show(IndicatorPattern.UNAVAILABLE)
    assert pins(factory, rgb=False) == (True, False, False) == ind.colour
    ind.show(IndicatorPattern.SUSPENDED)
    assert pins(factory, rgb=False) == YELLOW


def test_active_low_leds(factory: MockFactory, clock: ManualClock) -> None:
    ind = GpioIndicator(R, G, B, active_high=False, clock=clock, pin_factory=factory)
    assert (factory.pin(R).state, factory.pin(G).state, factory.pin(B).state) == (1, 1, 1)
    ind.show(IndicatorPattern.AVAILABLE)
    assert (factory.pin(R).state, factory.pin(G).state, factory.pin(B).state) == (1, 0, 1)


async def test_blinking_runs_on_the_clock_and_stops_on_a_steady_pattern(factory: MockFactory,
                                                                        clock: ManualClock) -> None:
    ind = GpioIndicator(R, G, B, clock=clock, pin_factory=factory)
    ind.show(IndicatorPattern.FAULTED)  # red 0.25 s / 0.25 s, no poll() from here on
    seen = []
    for _ in range(90):  # 0.9 s in 10 ms steps
        clock.advance(0.01)
        await asyncio.sleep(0)
        seen.append(pins(factory)[0])
    edges = sum(1 for a, b in zip(seen, seen[1:]) if a != b)
    assert edges == 3  # off at 0.25 s, on at 0.5 s, off at 0.75 s
    assert seen[:24] == [True] * 24 and seen[25:49] == [False] * 24
    ind.show(IndicatorPattern.AVAILABLE)
    for _ in range(60):
        clock.advance(0.01)
        await asyncio.sleep(0)
        assert pins(factory) == GREEN


def test_close_turns_everything_off(factory: MockFactory, clock: ManualClock) -> None:
    ind = GpioIndicator(R, G, B, clock=clock, pin_factory=factory)
    ind.show(IndicatorPattern.BOOTING)
    ind.close()
    assert (factory.pin(R).state, factory.pin(G).state, factory.pin(B).state) == (0, 0, 0)
