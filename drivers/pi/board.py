"""Builds a real board from the typed configuration ([board] kind = "pi"). The hardware access
points (GPIO pin factory, sysfs PWM root, I2C bus) can be injected, so the same builder runs
against gpiozero's MockFactory, a fake sysfs tree and a fake I2C bus in tests."""
from __future__ import annotations

import time
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any

from gpiozero import OutputDevice

from drivers.gpio.contactor import GpioContactor
from drivers.gpio.fault_input import GpioFaultInput
from drivers.gpio.heartbeat import GpioHeartbeat
from drivers.gpio.indicator import GpioIndicator
from drivers.gpio.lock import GpioSocketLock
from drivers.gpio.rcm import GpioRcm
from drivers.meter.configured import ConfiguredMeters
from drivers.pilot.ads1115 import Ads1115, Ads1115Scanner
from drivers.pilot.control_pilot import HardwarePilot
from drivers.pilot.cp_sensor import CpSensor
from drivers.pilot.proximity import AdcProximity
from drivers.pilot.sysfs_pwm import SysfsPwm
from drivers.rfid import make_reader
from hal.board import Board, EvseDevices, StatusProvider
from hal.clock import Clock

if TYPE_CHECKING:
    from chargepoint.config import Config
    from chargepoint.config.model import BoardHardware

PWM_ROOT = Path("/sys/class/pwm")


def _smbus(number: int) -> Any:
    from smbus2 import SMBus

    return SMBus(number)


class PiBoardBuilder:
    def __init__(self, config: Config, clock: Clock, *, pin_factory: Any = None, pwm_root: Path = PWM_ROOT,
                 i2c_bus: Callable[[int], Any] = _smbus, pwm_sleep: Callable[[float], None] = time.sleep) -> None:
        if config.hardware is None:
            raise ValueError('board kind "pi" needs its hardware tables (see docs/hardware.md)')
        self.config = config
        self.hw: BoardHardware = config.hardware
        self.clock = clock
        self.pins = pin_factory
        self.pwm_root = pwm_root
        self.i2c_bus = i2c_bus
        self.pwm_sleep = pwm_sleep
        self._buses: dict[int, Any] = {}
        self._adcs: dict[tuple[int, int], Ads1115] = {}
        self._scanners: dict[tuple[int, int], Ads1115Scanner] = {}
        self.meters = ConfiguredMeters(self.hw.modbus_buses, clock)

    def _channels(self) -> dict[tuple[int, int], list[int]]:
        """Every ADC channel in use, per chip: one scanner per chip serves CP and PP alike."""
        wanted: dict[tuple[int, int], list[int]] = {}
        for evse in self.hw.evses.values():
            chip = (evse.pilot.adc_bus, evse.pilot.adc_address)
            channels = wanted.setdefault(chip, [])
            for ch in (evse.pilot.high_channel, evse.pilot.low_channel,
                       evse.proximity.adc_channel if evse.proximity else None):
                if ch is not None and ch not in channels:
                    channels.append(ch)
        return wanted

    def _scanner(self, bus: int, address: int) -> Ads1115Scanner:
        key = (bus, address)
        if key not in self._scanners:
            if bus not in self._buses:
                self._buses[bus] = self.i2c_bus(bus)
            self._adcs[key] = Ads1115(self._buses[bus], address)
            self._scanners[key] = Ads1115Scanner(self._adcs[key], self._channels()[key], clock=self.clock)
            self._scanners[key].prime()
        return self._scanners[key]

    def _evse(self, evse_id: int) -> EvseDevices:
        hw = self.hw.evses[evse_id]
        c, p = hw.contactor, hw.pilot
        scanner = self._scanner(p.adc_bus, p.adc_address)
        sensor = CpSensor(scanner, p.high_channel, (p.divider_gain, p.divider_offset_v),
                          low_channel=p.low_channel, clock=self.clock)
        state_f = OutputDevice(p.state_f_pin, pin_factory=self.pins) if p.state_f_pin is not None else None
        pilot = HardwarePilot(SysfsPwm(p.pwm_chip, p.pwm_channel, root=self.pwm_root, sleep=self.pwm_sleep), sensor, state_f,
                              clock=self.clock)
        return EvseDevices(
            contactor=GpioContactor(c.pin, c.active_high, c.feedback_pin, c.feedback_closed_high,
                                    pin_factory=self.pins, clock=self.clock),
            pilot=pilot,
            proximity=(AdcProximity(scanner, hw.proximity.adc_channel, hw.proximity.pull_up_ohm,
                                    hw.proximity.supply_v, clock=self.clock) if hw.proximity else None),
            rcm=(GpioRcm(hw.rcm.fault_pin, hw.rcm.test_pin, hw.rcm.fault_active_high, clock=self.clock,
                         pin_factory=self.pins) if hw.rcm else None),
            lock=(GpioSocketLock(hw.lock.lock_pin, hw.lock.unlock_pin, hw.lock.feedback_pin,
                                 hw.lock.feedback_locked_high, hw.lock.pulse_s, hw.lock.timeout_s,
                                 clock=self.clock, pin_factory=self.pins) if hw.lock else None),
            meter=self.meters.meter(hw.meter),
            over_temperature=(GpioFaultInput(hw.over_temperature_pin, hw.over_temperature_active_high,
                                             pin_factory=self.pins) if hw.over_temperature_pin is not None else None),
        )

    def build(self) -> Board:
        evses = {e.id: self._evse(e.id) for e in self.config.evses}
        r = self.hw.reader
        reader = make_reader(r.driver, r.port, self.clock, baudrate=r.baudrate, evse=r.evse) if r else None
        i = self.hw.indicator
        indicator = (GpioIndicator(i.red_pin, i.green_pin, i.blue_pin, clock=self.clock, pin_factory=self.pins)
                     if i else None)
        heartbeat = GpioHeartbeat(self.hw.heartbeat_pin, pin_factory=self.pins) if self.hw.heartbeat_pin is not None else None
        scanners = list(self._scanners.values())

        async def scan(_: StatusProvider) -> None:
            """Keeps every ADC channel fresh between control steps."""
            import asyncio

            await asyncio.gather(*(s.run() for s in scanners))

        return Board(kind="pi", evses=evses, reader=reader, indicator=indicator, heartbeat=heartbeat,
                     services=[scan] if scanners else [])


def build_pi_board(config: Config, clock: Clock, **injected: Any) -> Board:
    return PiBoardBuilder(config, clock, **injected).build()


def pi_safe_state(config: Config, *, pin_factory: Any = None, pwm_root: Path = PWM_ROOT) -> dict[str, Any]:
    """Contactors open and pilots at -12 V, touching nothing else. The pins are left driven at
    their safe level; the board's pull resistors keep them there once the process is gone."""
    hw = config.hardware
    result: dict[str, Any] = {}
    if hw is None:
        return result
    for evse_id, e in hw.evses.items():
        relay = OutputDevice(e.contactor.pin, active_high=e.contactor.active_high, initial_value=False,
                             pin_factory=pin_factory)
        relay.off()
        pilot = "state_f"
        if e.pilot.state_f_pin is not None:
            OutputDevice(e.pilot.state_f_pin, initial_value=True, pin_factory=pin_factory).on()
        try:
            pwm = SysfsPwm(e.pilot.pwm_chip, e.pilot.pwm_channel, root=pwm_root).open()
            pwm.set_duty_percent(0.0)
            pwm.enable()
        except OSError as exc:
            pilot = f"state_f (PWM not reachable: {exc})"
        result[str(evse_id)] = {"contactor_closed": False, "pilot": pilot}
    return result
