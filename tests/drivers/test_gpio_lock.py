"""GpioSocketLock: motor pulses, holding solenoid, feedback timeout and the failure flag."""
from __future__ import annotations

import asyncio
import threading
from collections.abc import Iterator

import pytest
from gpiozero.pins.mock import MockFactory, MockPWMPin

from drivers.gpio.lock import GpioSocketLock
from hal.clock import ManualClock
from hal.contracts import SocketLock

LOCK, UNLOCK, FEEDBACK = 12, 13, 16


@pytest.fixture
def factory() -> Iterator[MockFactory]:
    f = MockFactory(pin_class=MockPWMPin)
    yield f
    f.reset()


@pytest.fixture
def clock() -> ManualClock:
    return ManualClock()


def motor(factory: MockFactory, clock: ManualClock, **kwargs: object) -> GpioSocketLock:
    return GpioSocketLock(LOCK, UNLOCK, FEEDBACK, clock=clock, pin_factory=factory, **kwargs)  # type: ignore[arg-type]


def levels(factory: MockFactory) -> tuple[int, int]:
    return int(factory.pin(LOCK).state), int(factory.pin(UNLOCK).state)


def test_motor_lock_pulses_the_lock_line_for_pulse_s(factory: MockFactory, clock: ManualClock) -> None:
    lock = motor(factory, clock)
    assert isinstance(lock, SocketLock)
    assert levels(factory) == (0, 0) and lock.commanded_locked is False
    t0 = clock.monotonic()
    lock.set_locked(True)
    assert levels(factory) == (1, 0) and lock.commanded_locked is True and lock.pulsing
    lock.poll(t0 + 0.29)
    assert levels(factory) == (1, 0)
    lock.poll(t0 + 0.3)
    assert levels(factory) == (0, 0) and not lock.pulsing


def test_motor_unlock_pulses_the_unlock_line(factory: MockFactory, clock: ManualClock) -> None:
    lock = motor(factory, clock)
    lock.set_locked(True)
    lock.poll(clock.monotonic() + 0.3)
    clock.advance(5.0)
    t1 = clock.monotonic()
    lock.set_locked(False)
    assert levels(factory) == (0, 1)
    lock.poll(t1 + 0.3)
    assert levels(factory) == (0, 0)


def test_reversing_mid_pulse_never_drives_both_lines(factory: MockFactory, clock: ManualClock) -> None:
    lock = motor(factory, clock)
    lock.set_locked(True)
    clock.advance(0.1)
    lock.set_locked(False)
    assert levels(factory) == (0, 1)
    # The lock line went off before the unlock line came on: their state histories never overlap.
    lock_states = [(s.timestamp, s.state) for s in factory.pin(LOCK).states]
    unlock_states = [(s.timestamp, s.state) for s in factory.pin(UNLOCK).states]
    lock_off = max(t for t, v in lock_states if not v)
    unlock_on = min(t for t, v in unlock_states if v)
    assert lock_off <= unlock_on


def test_feedback_following_in_time_is_no_failure(factory: MockFactory, clock: ManualClock) -> None:
    lock = motor(factory, clock)
    fb = factory.pin(FEEDBACK)
    fb.drive_low()
    t0 = clock.monotonic()
    lock.set_locked(True)
    clock.advance(0.4)
    fb.drive_high()  # locked (feedback_locked_level=True)
    assert lock.feedback_locked() is True
    lock.poll(t0 + 1.0)
    clock.advance(1.0)
    assert lock.failed is False


def test_feedback_not_following_within_timeout_sets_failed(factory: MockFactory, clock: ManualClock) -> None:
    lock = motor(factory, clock)
    factory.pin(FEEDBACK).drive_low()
    t0 = clock.monotonic()
    lock.set_locked(True)
    lock.poll(t0 + 0.99)
    clock.advance(0.99)
    assert lock.failed is False
    clock.advance(0.01)
    assert lock.failed is True
    assert lock.commanded_locked is True
    # Same command again retries: a new pulse, the flag is cleared until the new timeout.
    lock.set_locked(True)
    assert levels(factory) == (1, 0) and lock.failed is False
    factory.pin(FEEDBACK).drive_high()
    clock.advance(1.0)
    assert lock.failed is False


def test_unlock_timeout_with_active_low_feedback(factory: MockFactory, clock: ManualClock) -> None:
    lock = motor(factory, clock, feedback_locked_level=False)
    fb = factory.pin(FEEDBACK)
    fb.drive_high()  # unlocked
    lock.set_locked(True)
    fb.drive_low()
    assert lock.feedback_locked() is True
    clock.advance(2.0)
    lock.set_locked(False)  # but the pin stays locked (stuck)
    clock.advance(1.0)
    assert lock.failed is True


def test_repeating_the_command_does_not_restart_the_pulse(factory: MockFactory, clock: ManualClock) -> None:
    lock = motor(factory, clock)
    t0 = clock.monotonic()
    lock.set_locked(True)
    clock.advance(0.2)
    lock.set_locked(True)
    lock.poll(t0 + 0.3)
    assert levels(factory) == (0, 0)


def test_holding_solenoid_follows_the_command(factory: MockFactory, clock: ManualClock) -> None:
    lock = GpioSocketLock(LOCK, None, FEEDBACK, clock=clock, pin_factory=factory)
    pin = factory.pin(LOCK)
    lock.set_locked(True)
    lock.poll(clock.monotonic() + 10.0)
    assert pin.state == 1 and not lock.pulsing
    lock.set_locked(False)
    assert pin.state == 0


def test_active_low_outputs(factory: MockFactory, clock: ManualClock) -> None:
    lock = motor(factory, clock, active_high=False)
    assert levels(factory) == (1, 1)
    lock.set_locked(True)
    assert levels(factory) == (0, 1)
    lock.poll(clock.monotonic() + 0.3)
    assert levels(factory) == (1, 1)


def test_without_feedback_nothing_fails(factory: MockFactory, clock: ManualClock) -> None:
    lock = GpioSocketLock(LOCK, UNLOCK, None, clock=clock, pin_factory=factory)
    lock.set_locked(True)
    clock.advance(5.0)
    assert lock.feedback_locked() is None and lock.failed is False


async def test_task_ends_the_pulse_and_flags_the_timeout_on_the_clock(factory: MockFactory, clock: ManualClock) -> None:
    lock = motor(factory, clock)
    factory.pin(FEEDBACK).drive_low()
    lock.set_locked(True)  # no poll() calls from here on: only the task
    for _ in range(29):
        clock.advance(0.01)
        await asyncio.sleep(0)
    assert levels(factory) == (1, 0)
    clock.advance(0.011)
    await asyncio.sleep(0)
    assert levels(factory) == (0, 0)
    clock.advance(0.7)
    await asyncio.sleep(0)
    assert lock._failed is True  # noqa: SLF001 - set by the task, not by reading `failed`


async def test_close_stops_a_running_pulse(factory: MockFactory, clock: ManualClock) -> None:
    lock = motor(factory, clock)
    lock.set_locked(True)
    lock.close()
    assert levels(factory) == (0, 0)
    await asyncio.sleep(0)


async def test_a_command_from_the_control_thread_runs_its_timer_on_the_event_loop(
        factory: MockFactory, clock: ManualClock) -> None:
    """The control loop has a thread of its own: the pulse it starts must still end, timed by
    a task on the event loop that built the driver."""
    lock = motor(factory, clock)
    command = threading.Thread(target=lock.set_locked, args=(True,))
    command.start()
    command.join()
    assert levels(factory) == (1, 0)
    for _ in range(5):  # the hand-over to the event loop, then the task's first sleep
        await asyncio.sleep(0)
    clock.advance(0.31)
    for _ in range(5):
        await asyncio.sleep(0)
    assert levels(factory) == (0, 0) and not lock.pulsing


def test_a_driver_built_without_an_event_loop_is_polled_only(factory: MockFactory, clock: ManualClock) -> None:
    lock = motor(factory, clock)
    command = threading.Thread(target=lock.set_locked, args=(True,))
    command.start()
    command.join()
    assert lock.pulsing
    lock.poll(clock.monotonic() + 0.3)
    assert not lock.pulsing
