"""GpioContactor on gpiozero's MockFactory (injected, never the global default)."""
from __future__ import annotations

from collections.abc import Iterator

import pytest
from gpiozero.pins.mock import MockFactory, MockPWMPin

from drivers.gpio.contactor import GpioContactor, MismatchKind
from hal.clock import ManualClock
from hal.contracts import Contactor

RELAY, FEEDBACK = 17, 27


@pytest.fixture
def factory() -> Iterator[MockFactory]:
    f = MockFactory(pin_class=MockPWMPin)
    yield f
    f.reset()


@pytest.fixture
def clock() -> ManualClock:
    return ManualClock()


def test_active_high_output_starts_open_and_follows_the_command(factory: MockFactory) -> None:
    c = GpioContactor(RELAY, active_high=True, pin_factory=factory)
    pin = factory.pin(RELAY)
    assert isinstance(c, Contactor)
    assert pin.state == 0 and c.commanded_closed is False
    c.set_closed(True)
    assert pin.state == 1 and c.commanded_closed is True
    c.set_closed(False)
    assert pin.state == 0 and c.commanded_closed is False


def test_active_low_output_is_high_while_open(factory: MockFactory) -> None:
    c = GpioContactor(RELAY, active_high=False, pin_factory=factory)
    pin = factory.pin(RELAY)
    assert pin.state == 1
    c.set_closed(True)
    assert pin.state == 0
    c.set_closed(False)
    assert pin.state == 1


def test_without_feedback_pin_feedback_is_none(factory: MockFactory, clock: ManualClock) -> None:
    c = GpioContactor(RELAY, pin_factory=factory, clock=clock)
    c.set_closed(True)
    assert c.feedback_closed() is None
    assert c.mismatch_since(clock.monotonic()) is None
    assert c.mismatch(clock.monotonic()) is None


@pytest.mark.parametrize("closed_level", [False, True])
def test_feedback_reads_the_configured_closed_level(factory: MockFactory, closed_level: bool) -> None:
    c = GpioContactor(RELAY, feedback_pin=FEEDBACK, feedback_closed_level=closed_level, pin_factory=factory)
    fb = factory.pin(FEEDBACK)
    (fb.drive_high if closed_level else fb.drive_low)()
    assert c.feedback_closed() is True
    (fb.drive_low if closed_level else fb.drive_high)()
    assert c.feedback_closed() is False


def test_feedback_with_internal_pull_up(factory: MockFactory) -> None:
    c = GpioContactor(RELAY, feedback_pin=FEEDBACK, feedback_closed_level=False, feedback_pull_up=True,
                      pin_factory=factory)
    # Pulled up and nothing driving it: high, which is not the closed level (low) here.
    assert factory.pin(FEEDBACK).state == 1
    assert c.feedback_closed() is False


def test_failed_to_close_mismatch_dates_from_the_command(factory: MockFactory, clock: ManualClock) -> None:
    c = GpioContactor(RELAY, feedback_pin=FEEDBACK, feedback_closed_level=False, pin_factory=factory, clock=clock)
    fb = factory.pin(FEEDBACK)
    fb.drive_high()  # main contacts open
    clock.advance(5.0)
    c.set_closed(True)
    t_cmd = clock.monotonic()
    assert c.last_commanded_at == t_cmd
    clock.advance(0.3)
    now = clock.monotonic()
    assert c.mismatch_since(now) == t_cmd
    m = c.mismatch(now)
    assert m is not None and m.kind is MismatchKind.FAILED_TO_CLOSE
    assert m.duration_s == pytest.approx(0.3)
    fb.drive_low()  # the relay finally closed
    assert c.feedback_closed() is True
    assert c.mismatch(clock.monotonic()) is None


def test_welded_mismatch_dates_from_the_open_command(factory: MockFactory, clock: ManualClock) -> None:
    c = GpioContactor(RELAY, feedback_pin=FEEDBACK, pin_factory=factory, clock=clock)
    fb = factory.pin(FEEDBACK)
    fb.drive_high()
    c.set_closed(True)
    clock.advance(0.05)
    fb.drive_low()  # closed
    clock.advance(10.0)
    c.set_closed(False)
    t_open = clock.monotonic()
    clock.advance(0.26)  # feedback never opens: welded
    m = c.mismatch(clock.monotonic())
    assert m is not None and m.kind is MismatchKind.WELDED
    assert m.since == t_open and m.duration_s == pytest.approx(0.26)


def test_spontaneous_feedback_change_dates_from_the_edge(factory: MockFactory, clock: ManualClock) -> None:
    c = GpioContactor(RELAY, feedback_pin=FEEDBACK, pin_factory=factory, clock=clock)
    fb = factory.pin(FEEDBACK)
    fb.drive_high()
    c.set_closed(True)
    clock.advance(0.02)
    fb.drive_low()
    assert c.mismatch(clock.monotonic()) is None
    clock.advance(60.0)
    fb.drive_high()  # drops out while commanded closed (coil supply lost, watchdog relay...)
    t_drop = clock.monotonic()
    assert c.last_feedback_change_at == t_drop
    clock.advance(0.1)
    m = c.mismatch(clock.monotonic())
    assert m is not None and m.kind is MismatchKind.FAILED_TO_CLOSE and m.since == t_drop


def test_repeating_the_same_command_keeps_the_command_time(factory: MockFactory, clock: ManualClock) -> None:
    c = GpioContactor(RELAY, pin_factory=factory, clock=clock)
    c.set_closed(True)
    t = clock.monotonic()
    clock.advance(1.0)
    c.set_closed(True)
    assert c.last_commanded_at == t


def test_close_opens_the_relay_and_releases_the_pins(factory: MockFactory) -> None:
    c = GpioContactor(RELAY, feedback_pin=FEEDBACK, pin_factory=factory)
    c.set_closed(True)
    c.close()
    assert factory.pin(RELAY).state == 0
    again = GpioContactor(RELAY, feedback_pin=FEEDBACK, pin_factory=factory)  # pins free again
    again.close()
