"""A whole charging session on the real drivers of a Raspberry-Pi board, wired to protocol peers:
GPIO through gpiozero's MockFactory, the pilot PWM in a fake sysfs tree, CP and PP through a fake
ADS1115 on a fake I2C bus, energy from a pymodbus server speaking Modbus TCP."""
from __future__ import annotations

import asyncio
import socket
import time
from pathlib import Path

import pytest
from gpiozero import Device
from gpiozero.pins.mock import MockFactory, MockPWMPin

from chargepoint.app import build_controller, run_controller
from chargepoint.config import load_config
from drivers.meter.maps import get_map
from drivers.meter.peer import MeterPeer
from drivers.meter.registers import register_image
from drivers.pi.board import build_pi_board
from drivers.pilot.fakes import FakeAds1115Bus, FakePwmSysfs
from hal.clock import SystemClock
from hal.types import IdToken
from example_configs import example_text

EXAMPLE = Path(__file__).resolve().parents[2] / "docs" / "examples" / "pi-ads1115-sdm630-pn532.toml"
GAIN, OFFSET = 6.6, -13.2  # the example's divider: CP volts = ADC volts x 6.6 - 13.2


def adc_for(cp_v: float) -> float:
    return (cp_v - OFFSET) / GAIN


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


async def until(predicate, timeout: float = 5.0) -> None:
    deadline = time.monotonic() + timeout
    while not predicate():
        assert time.monotonic() < deadline, "condition not reached"
        await asyncio.sleep(0.01)


@pytest.fixture
def pins():
    factory = MockFactory(pin_class=MockPWMPin)
    yield factory
    factory.reset()
    Device.pin_factory = None


async def test_a_session_on_real_drivers(tmp_path: Path, pins: MockFactory) -> None:
    port = free_port()
    text = example_text(EXAMPLE)
    text = text.replace('wss://csms.example.com/ocpp', 'ws://127.0.0.1:9/ocpp').replace("security_profile = 2", "security_profile = 0")
    text = text.replace('password_file = "/etc/borne/csms-password"\n', "")
    text = text.replace('/var/lib/borne/borne.db', str(tmp_path / "borne.db"))
    text = text.replace('port = "/dev/ttyAMA1"', f'host = "127.0.0.1"\ntcp_port = {port}')
    reader = text[text.index("[reader]"): text.index("[indicator]")]
    text = text.replace(reader, "")
    (tmp_path / "firmware.toml").write_text(text)
    config = load_config(tmp_path / "firmware.toml")

    sdm630 = get_map("sdm630")
    energy = {"wh": 12_000.0}

    def image(power_w: float) -> dict:
        return register_image(sdm630, energy_import_wh=energy["wh"], power_w=power_w,
                              voltage_v=(230.0, 230.0, 230.0), current_a=(power_w / 690,) * 3)

    peer = MeterPeer({1: image(0.0)})
    await peer.start_tcp("127.0.0.1", port)

    adc = FakeAds1115Bus()
    adc.volts.update({0: adc_for(12.0), 1: adc_for(-12.0), 2: 3.3 * 220 / (220 + 330)})  # A, no cable
    sysfs = FakePwmSysfs(tmp_path / "pwm")
    clock = SystemClock()
    board = build_pi_board(config, clock, pin_factory=pins, pwm_root=sysfs.root, i2c_bus=lambda n: adc,
                           pwm_sleep=sysfs.kernel_sleep)
    c = build_controller(config, clock, board=board)
    relay, feedback = pins.pin(17), pins.pin(27)
    lock_feedback = pins.pin(25)
    feedback.drive_high()  # mirror contact closed = main contacts open
    pins.pin(16).drive_high()  # the thermal switch (active low) reports a cool box
    lock_feedback.drive_low()

    async def wiring() -> None:
        """The board's physics: mirror contact and lock feedback follow their outputs."""
        while True:
            (feedback.drive_low if relay.state else feedback.drive_high)()
            lock = c.controllers[1].devices.lock
            (lock_feedback.drive_high if lock.commanded_locked else lock_feedback.drive_low)()
            await asyncio.sleep(0.005)

    stop = asyncio.Event()
    physics = asyncio.create_task(wiring())
    runner = asyncio.create_task(run_controller(c, stop))
    try:
        adc.volts[0] = adc_for(9.0)  # EV plugged: state B
        await until(lambda: c.controllers[1].plugged)
        await c.station.present_token(IdToken("TECH-0001"))  # offline: the technician whitelist
        # PWM on for 32 A (EVSE max 32 A, cable coded 32 A): 53.33 % of 1 ms.
        await until(lambda: sysfs.read("enable") == "1" and sysfs.read("duty_cycle") == "533333")
        assert sysfs.read("period") == "1000000"
        adc.volts[0] = adc_for(6.0)  # EV ready: state C
        await until(lambda: relay.state)
        energy["wh"] += 2_500.0
        img = image(22_000.0)
        for function, regs in img.items():
            for address in sorted(regs):
                await peer.set_registers(1, function, address, [regs[address]])
        await until(lambda: (c.station.sessions[1].meter or 0) and c.station.sessions[1].meter.power_w > 20_000)
        adc.volts[0] = adc_for(12.0)  # unplugged: state A
        await until(lambda: not relay.state, timeout=1.0)
        await until(lambda: c.station.sessions[1].tx is None)
        head = [r for r in c.store._db.execute("SELECT kind, payload FROM outbox ORDER BY seq")]
        kinds = [r["kind"] for r in head]
        assert kinds[0] == "start" and kinds[-1] == "stop"
        import json
        start, stop_msg = json.loads(head[0]["payload"]), json.loads(head[-1]["payload"])
        assert start["meter_start_wh"] == pytest.approx(12_000.0, abs=1)
        assert stop_msg["meter_stop_wh"] == pytest.approx(14_500.0, abs=1)
        assert stop_msg["reason"] == "EVDisconnected"
    finally:
        stop.set()
        await asyncio.gather(runner, return_exceptions=True)
        physics.cancel()
        await peer.stop()
