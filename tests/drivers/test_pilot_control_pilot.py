"""HardwarePilot: sysfs PWM file contents after each call, state-F wiring, sensing, and the
drivers under the real EvseController."""
from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from gpiozero import OutputDevice
from gpiozero.pins.mock import MockFactory, MockPWMPin

from chargepoint.evse.controller import EvseController
from chargepoint.evse.iec61851 import duty_for_current
from drivers.gpio.contactor import GpioContactor
from drivers.pilot.ads1115 import Ads1115, Ads1115Scanner
from drivers.pilot.control_pilot import HardwarePilot, StateFWiring
from drivers.pilot.cp_sensor import CpSensor
from drivers.pilot.fakes import FakeAds1115Bus, FakePwmSysfs
from drivers.pilot.sysfs_pwm import SysfsPwm
from hal.board import EvseDevices
from hal.clock import ManualClock
from hal.contracts import ControlPilot
from hal.types import CpState, FaultKind, MeterReading, PilotMode

DIVIDER = (8.0, -12.0)
STATE_F_PIN, RELAY, FEEDBACK = 24, 17, 27


def adc_v(cp_v: float) -> float:
    return (cp_v - DIVIDER[1]) / DIVIDER[0]


@pytest.fixture
def factory() -> Iterator[MockFactory]:
    f = MockFactory(pin_class=MockPWMPin)
    yield f
    f.reset()


@pytest.fixture
def sysfs(tmp_path: Path) -> FakePwmSysfs:
    return FakePwmSysfs(tmp_path / "pwm")


class Rig:
    def __init__(self, sysfs: FakePwmSysfs, state_f: OutputDevice | None = None, **kwargs: object) -> None:
        self.sysfs = sysfs
        self.clock = ManualClock()
        self.bus = FakeAds1115Bus()
        self.set_cp(12.0)
        self.pwm = SysfsPwm(root=sysfs.root, sleep=sysfs.kernel_sleep)
        self.sensor = CpSensor(Ads1115(self.bus, sleep=lambda s: None), 0, DIVIDER, low_channel=1)
        self.pilot = HardwarePilot(self.pwm, self.sensor, state_f, clock=self.clock, **kwargs)  # type: ignore[arg-type]

    def set_cp(self, high: float, low: float = -12.0) -> None:
        self.bus.volts[0] = adc_v(high)
        self.bus.volts[1] = adc_v(low)

    def files(self) -> tuple[str, str]:
        return self.sysfs.read("duty_cycle"), self.sysfs.read("enable")


def test_duty_zero_wiring_file_contents_after_each_call(sysfs: FakePwmSysfs) -> None:
    rig = Rig(sysfs)
    pilot = rig.pilot
    assert isinstance(pilot, ControlPilot)
    assert pilot.state_f_wiring is StateFWiring.DUTY_ZERO
    # Starts in state F: enabled at 0 % (the op-amp drives -12 V).
    assert pilot.output.mode is PilotMode.STATE_F
    assert sysfs.read("period") == "1000000" and rig.files() == ("0", "1")
    pilot.set_constant_high()
    assert rig.files() == ("1000000", "1")
    assert pilot.output.mode is PilotMode.CONSTANT_HIGH and pilot.output.duty_percent == 100.0
    pilot.set_pwm(duty_for_current(16))
    assert rig.files() == ("266667", "1")
    assert pilot.output.mode is PilotMode.PWM and pilot.output.duty_percent == pytest.approx(26.6667, abs=1e-3)
    pilot.set_pwm(duty_for_current(32))
    assert rig.files() == ("533333", "1")
    pilot.set_pwm(duty_for_current(63))  # 89.2 %
    assert rig.files() == ("892000", "1")
    pilot.set_pwm(duty_for_current(6))  # 10 %
    assert rig.files() == ("100000", "1")
    pilot.set_state_f()
    assert rig.files() == ("0", "1") and pilot.output.mode is PilotMode.STATE_F
    assert sysfs.read("period") == "1000000"


def test_gpio_wiring_switches_the_minus_12v_output(sysfs: FakePwmSysfs, factory: MockFactory) -> None:
    state_f = OutputDevice(STATE_F_PIN, initial_value=True, pin_factory=factory)
    rig = Rig(sysfs, state_f)
    pilot = rig.pilot
    pin = factory.pin(STATE_F_PIN)
    assert pilot.state_f_wiring is StateFWiring.GPIO
    assert rig.files() == ("0", "0") and pin.state == 1  # PWM off, CP switched to -12 V
    pilot.set_constant_high()
    assert pin.state == 0 and rig.files() == ("1000000", "1")
    pilot.set_pwm(50.0)
    assert pin.state == 0 and rig.files() == ("500000", "1")
    pilot.set_state_f()
    assert pin.state == 1 and rig.files() == ("0", "0")


def test_gpio_wiring_needs_its_output(sysfs: FakePwmSysfs) -> None:
    with pytest.raises(ValueError):
        Rig(sysfs, None, state_f_wiring="gpio")


def test_bad_duty_is_refused_and_changes_nothing(sysfs: FakePwmSysfs) -> None:
    rig = Rig(sysfs)
    rig.pilot.set_pwm(50.0)
    with pytest.raises(ValueError):
        rig.pilot.set_pwm(101.0)
    assert rig.files() == ("500000", "1") and rig.pilot.output.duty_percent == 50.0


def test_read_classifies_and_checks_the_diode_only_with_pwm(sysfs: FakePwmSysfs) -> None:
    rig = Rig(sysfs)
    rig.pilot.set_constant_high()
    rig.set_cp(9.0, low=9.0)  # no negative half (constant +V: there is none to see)
    reading = rig.pilot.read()
    assert reading.state is CpState.B and not reading.diode_fault
    rig.pilot.set_pwm(26.7)
    reading = rig.pilot.read()
    assert reading.state is CpState.B and reading.diode_fault  # PWM on, low half not at -12 V
    rig.set_cp(9.0, low=-12.0)
    assert not rig.pilot.read().diode_fault


def test_settle_time_repeats_the_last_reading_after_an_output_change(sysfs: FakePwmSysfs) -> None:
    rig = Rig(sysfs, settle_s=0.02)
    rig.clock.advance(1.0)
    rig.pilot.set_constant_high()
    rig.clock.advance(1.0)
    rig.set_cp(6.0)
    assert rig.pilot.read().state is CpState.C
    rig.pilot.set_state_f()
    rig.set_cp(-12.0)
    assert rig.pilot.read().state is CpState.C  # detectors still settling
    rig.clock.advance(0.021)
    assert rig.pilot.read().state is CpState.F


def test_close_leaves_state_f(sysfs: FakePwmSysfs) -> None:
    rig = Rig(sysfs)
    rig.pilot.set_pwm(50.0)
    rig.pilot.close()
    assert rig.files() == ("0", "1") and sysfs.channel().exists()


# ---- the drivers under the real controller ----------------------------------------------------------


class NullMeter:
    async def read(self) -> MeterReading:
        return MeterReading(energy_import_wh=0.0, power_w=0.0)


def test_controller_drives_pwm_and_contactor_through_the_drivers(sysfs: FakePwmSysfs, factory: MockFactory) -> None:
    clock = ManualClock()
    bus = FakeAds1115Bus()
    scanner = Ads1115Scanner(Ads1115(bus, sleep=lambda s: None), [0, 1], clock=clock)

    def set_cp(high: float, low: float = -12.0) -> None:
        bus.volts[0], bus.volts[1] = adc_v(high), adc_v(low)

    set_cp(12.0)
    pilot = HardwarePilot(SysfsPwm(root=sysfs.root, sleep=sysfs.kernel_sleep),
                          CpSensor(scanner, 0, DIVIDER, low_channel=1, clock=clock), clock=clock)
    contactor = GpioContactor(RELAY, feedback_pin=FEEDBACK, feedback_closed_level=False, pin_factory=factory, clock=clock)
    relay, feedback = factory.pin(RELAY), factory.pin(FEEDBACK)
    feedback.drive_high()  # mirror contact: main contacts open
    ctl = EvseController(1, EvseDevices(contactor=contactor, pilot=pilot, proximity=None, rcm=None, lock=None,
                                        meter=NullMeter()), max_current_a=16.0, tethered=True)
    files = lambda: (sysfs.read("duty_cycle"), sysfs.read("enable"))  # noqa: E731

    def run(seconds: float) -> None:
        for _ in range(round(seconds / 0.01)):
            clock.advance(0.01)
            ctl.step(clock.monotonic())
            # The relay's mirror contact follows the coil 20 ms later, more or less: here at once.
            (feedback.drive_low if relay.state else feedback.drive_high)()

    run(0.1)
    assert files() == ("1000000", "1")  # +12 V, no PWM
    ctl.authorise()
    set_cp(9.0)  # EV plugged: B
    run(0.1)
    assert ctl.cp_state is CpState.B and files() == ("266667", "1")  # 16 A offered
    set_cp(6.0)  # EV ready: C
    run(0.1)
    assert relay.state == 1 and ctl.snapshot().contactor_closed
    set_cp(9.0)  # EV stops: the contactor must open within 100 ms of the change
    for step in range(1, 11):
        run(0.01)
        if relay.state == 0:
            break
    # Scanning high and low in turn: the first conversion of the new level is read after at most
    # 30 ms, then the core debounces 20 ms: the contactor opens within 50 ms.
    assert relay.state == 0 and step <= 5
    set_cp(6.0, low=6.0)  # diode shorted
    run(0.1)
    assert relay.state == 0
    assert FaultKind.DIODE in ctl.faults
    assert files() == ("0", "1")  # state F for the fault (held 300 ms)
    assert not ctl.snapshot().offering
