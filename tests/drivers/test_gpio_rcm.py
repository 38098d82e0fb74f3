"""GpioRcm: software latch and the self-test sequence, driven by ManualClock.

`FakeRcmModule` plays the RDC-DD module: it watches the TST pin and, once a test pulse starts,
drives its fault output after `trip_after_s` and clears it after `release_after_s` (both from
the start of the pulse), unless told to misbehave."""
from __future__ import annotations

import asyncio
from collections.abc import Iterator

import pytest
from gpiozero.pins.mock import MockFactory, MockPWMPin

from drivers.gpio.rcm import GpioRcm
from hal.clock import ManualClock
from hal.contracts import ResidualCurrentMonitor

FAULT, TEST = 22, 23
STEP_S = 0.01


class FakeRcmModule:
    def __init__(self, factory: MockFactory, clock: ManualClock, *, active_high: bool = True,
                 trip_after_s: float | None = 0.7, release_after_s: float | None = 1.2) -> None:
        self.fault = factory.pin(FAULT)
        self.test = factory.pin(TEST)
        self.clock = clock
        self.active_high = active_high
        self.trip_after_s = trip_after_s
        self.release_after_s = release_after_s
        self.test_started: float | None = None
        self.test_pulses: list[tuple[float, float]] = []  # (start, end) of every TST pulse seen
        self._pulse_start: float | None = None
        self.set_fault(False)

    def set_fault(self, active: bool) -> None:
        high = active == self.active_high
        (self.fault.drive_high if high else self.fault.drive_low)()

    def update(self) -> None:
        now = self.clock.monotonic()
        if self.test.state and self._pulse_start is None:
            self._pulse_start = now
            self.test_started = now
        elif not self.test.state and self._pulse_start is not None:
            self.test_pulses.append((self._pulse_start, now))
            self._pulse_start = None
        if self.test_started is None:
            return
        elapsed = now - self.test_started
        tripped = self.trip_after_s is not None and elapsed >= self.trip_after_s
        released = self.release_after_s is not None and elapsed >= self.release_after_s
        self.set_fault(tripped and not released)


@pytest.fixture
def factory() -> Iterator[MockFactory]:
    f = MockFactory(pin_class=MockPWMPin)
    yield f
    f.reset()


@pytest.fixture
def clock() -> ManualClock:
    return ManualClock()


async def settle() -> None:
    for _ in range(3):
        await asyncio.sleep(0)


async def run_self_test(rcm: GpioRcm, module: FakeRcmModule, clock: ManualClock, max_s: float = 5.0) -> bool:
    task = asyncio.create_task(rcm.self_test())
    await settle()
    t0 = clock.monotonic()
    while not task.done():
        assert clock.monotonic() - t0 < max_s, "self-test did not finish"
        module.update()
        clock.advance(STEP_S)
        module.update()
        await settle()
    return task.result()


def make(factory: MockFactory, clock: ManualClock, **kwargs: object) -> GpioRcm:
    return GpioRcm(FAULT, TEST, clock=clock, pin_factory=factory, **kwargs)  # type: ignore[arg-type]


def test_trip_is_latched_until_reset(factory: MockFactory, clock: ManualClock) -> None:
    module = FakeRcmModule(factory, clock)
    rcm = make(factory, clock)
    assert isinstance(rcm, ResidualCurrentMonitor)
    assert rcm.tripped() is False
    module.set_fault(True)
    assert rcm.tripped() is True
    module.set_fault(False)
    assert rcm.tripped() is True  # latched in software
    rcm.reset()
    assert rcm.tripped() is False


def test_reset_while_the_fault_is_still_active_keeps_the_latch(factory: MockFactory, clock: ManualClock) -> None:
    module = FakeRcmModule(factory, clock)
    rcm = make(factory, clock)
    module.set_fault(True)
    rcm.reset()
    assert rcm.tripped() is True


def test_a_pulse_between_two_polls_is_caught_by_the_edge(factory: MockFactory, clock: ManualClock) -> None:
    module = FakeRcmModule(factory, clock)
    rcm = make(factory, clock)
    module.set_fault(True)
    module.set_fault(False)  # never seen by a tripped() call
    assert rcm.tripped() is True


def test_active_low_fault_output(factory: MockFactory, clock: ManualClock) -> None:
    module = FakeRcmModule(factory, clock, active_high=False)
    rcm = make(factory, clock, fault_active_high=False)
    assert factory.pin(FAULT).state == 1 and rcm.tripped() is False
    module.set_fault(True)
    assert factory.pin(FAULT).state == 0 and rcm.tripped() is True


def test_fault_active_at_start_up_is_latched(factory: MockFactory, clock: ManualClock) -> None:
    factory.pin(FAULT).drive_high()
    rcm = make(factory, clock)
    factory.pin(FAULT).drive_low()
    assert rcm.tripped() is True


async def test_self_test_passes_when_the_module_trips_and_releases(factory: MockFactory, clock: ManualClock) -> None:
    module = FakeRcmModule(factory, clock, trip_after_s=0.7, release_after_s=1.2)
    rcm = make(factory, clock)
    assert await run_self_test(rcm, module, clock) is True
    result = rcm.last_self_test
    assert result is not None and result.passed
    assert result.trip_after_s == pytest.approx(0.7, abs=STEP_S + 1e-9)
    assert result.release_after_s == pytest.approx(1.2, abs=STEP_S + 1e-9)
    # TST was pulsed once for 250 ms and is off again.
    assert len(module.test_pulses) == 1
    start, end = module.test_pulses[0]
    assert end - start == pytest.approx(0.25, abs=STEP_S + 1e-9)
    assert factory.pin(TEST).state == 0
    # The expected trip was not latched.
    assert rcm.tripped() is False


async def test_self_test_fails_when_the_module_never_trips(factory: MockFactory, clock: ManualClock) -> None:
    module = FakeRcmModule(factory, clock, trip_after_s=None)
    rcm = make(factory, clock)
    t0 = clock.monotonic()
    assert await run_self_test(rcm, module, clock) is False
    assert clock.monotonic() - t0 == pytest.approx(0.8, abs=2 * STEP_S)
    assert rcm.last_self_test is not None and "did not trip" in rcm.last_self_test.reason
    assert factory.pin(TEST).state == 0
    assert rcm.tripped() is False


async def test_self_test_fails_when_the_module_trips_too_late(factory: MockFactory, clock: ManualClock) -> None:
    module = FakeRcmModule(factory, clock, trip_after_s=0.9, release_after_s=1.2)
    rcm = make(factory, clock)
    assert await run_self_test(rcm, module, clock) is False


async def test_self_test_fails_when_the_output_never_clears_and_the_fault_latches(
        factory: MockFactory, clock: ManualClock) -> None:
    module = FakeRcmModule(factory, clock, trip_after_s=0.7, release_after_s=None)
    rcm = make(factory, clock)
    t0 = clock.monotonic()
    assert await run_self_test(rcm, module, clock) is False
    assert clock.monotonic() - t0 == pytest.approx(1.5, abs=2 * STEP_S)
    result = rcm.last_self_test
    assert result is not None and "still active" in result.reason
    assert result.trip_after_s == pytest.approx(0.7, abs=STEP_S + 1e-9)
    assert factory.pin(TEST).state == 0
    assert rcm.tripped() is True  # the output stays active: a real fault now
    rcm.reset()
    assert rcm.tripped() is True


async def test_self_test_refuses_while_the_fault_output_is_active(factory: MockFactory, clock: ManualClock) -> None:
    module = FakeRcmModule(factory, clock)
    rcm = make(factory, clock)
    module.set_fault(True)
    assert await rcm.self_test() is False
    assert rcm.last_self_test is not None and "before the test" in rcm.last_self_test.reason
    assert module.test_pulses == [] and factory.pin(TEST).state == 0


async def test_self_test_with_active_low_test_output(factory: MockFactory, clock: ManualClock) -> None:
    rcm = make(factory, clock, test_active_high=False)
    test_pin = factory.pin(TEST)
    assert test_pin.state == 1  # idle high
    task = asyncio.create_task(rcm.self_test())
    await settle()
    assert test_pin.state == 0  # pulse = low
    clock.advance(0.3)
    await settle()
    assert test_pin.state == 1
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    assert test_pin.state == 1


async def test_cancelled_self_test_leaves_the_test_output_off(factory: MockFactory, clock: ManualClock) -> None:
    FakeRcmModule(factory, clock)
    rcm = make(factory, clock)
    task = asyncio.create_task(rcm.self_test())
    await settle()
    assert factory.pin(TEST).state == 1
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    assert factory.pin(TEST).state == 0
    factory.pin(FAULT).drive_high()
    assert rcm.tripped() is True  # monitoring is back


async def test_without_test_output_the_self_test_only_checks_the_input(factory: MockFactory, clock: ManualClock) -> None:
    rcm = GpioRcm(FAULT, None, clock=clock, pin_factory=factory)
    assert await rcm.self_test() is True
    assert rcm.last_self_test is not None and "no test output" in rcm.last_self_test.reason
    factory.pin(FAULT).drive_high()
    assert await rcm.self_test() is False


def test_timing_must_be_ordered(factory: MockFactory, clock: ManualClock) -> None:
    with pytest.raises(ValueError):
        make(factory, clock, test_pulse_s=1.0, expect_trip_within_s=0.8)
