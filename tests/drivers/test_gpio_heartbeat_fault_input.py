"""GpioHeartbeat and GpioFaultInput on an injected MockFactory."""
from __future__ import annotations

from collections.abc import Iterator

import pytest
from gpiozero.pins.mock import MockFactory, MockPWMPin

from drivers.gpio.fault_input import GpioFaultInput
from drivers.gpio.heartbeat import GpioHeartbeat
from hal.contracts import FaultInput, HeartbeatOutput


@pytest.fixture
def factory() -> Iterator[MockFactory]:
    f = MockFactory(pin_class=MockPWMPin)
    yield f
    f.reset()


def test_heartbeat_toggles_the_pin_every_call(factory: MockFactory) -> None:
    hb = GpioHeartbeat(5, pin_factory=factory)
    assert isinstance(hb, HeartbeatOutput)
    pin = factory.pin(5)
    assert pin.state == 0
    for expected in (1, 0, 1, 0, 1):
        hb.toggle()
        assert pin.state == expected and hb.level is bool(expected)
    assert hb.toggles == 5
    hb.close()
    assert pin.state == 0


@pytest.mark.parametrize("active_high", [True, False])
def test_fault_input_is_active_at_the_configured_level(factory: MockFactory, active_high: bool) -> None:
    fi = GpioFaultInput(6, active_high=active_high, pin_factory=factory)
    assert isinstance(fi, FaultInput)
    pin = factory.pin(6)
    pin.drive_high()
    assert fi.active() is active_high
    pin.drive_low()
    assert fi.active() is (not active_high)


def test_thermal_switch_with_pull_up_reads_a_broken_wire_as_active(factory: MockFactory) -> None:
    fi = GpioFaultInput(6, active_high=True, pull_up=True, pin_factory=factory)
    assert fi.active() is True  # nothing pulls it low: switch open (hot) or wire broken
    factory.pin(6).drive_low()  # normally-closed switch to GND, cool
    assert fi.active() is False
