"""`chargepoint doctor` on the real drivers of a Raspberry-Pi board wired to protocol peers, as in
tests/drivers/test_pi_board_session.py: GPIO through gpiozero's MockFactory, the pilot PWM in a
fake sysfs tree, CP and PP through a fake ADS1115, the meter a pymodbus server on an RS-485 line (a null modem
between two ptys),
the badge reader a PN532 emulator on a pty. A small "physics" task plays the board: mirror
contact, lock feedback and RCM follow their outputs unless a test breaks them."""
from __future__ import annotations

import asyncio
import json
import sys
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from pathlib import Path

import pytest
from gpiozero import Device
from gpiozero.pins.mock import MockFactory, MockPWMPin

from chargepoint.config import load_config
from chargepoint.config.model import Config
from chargepoint.doctor import CheckResult, Doctor, DoctorOptions, Outcome, Report
from chargepoint.doctor.render import render_json, render_table
from drivers.meter.maps import get_map
from drivers.meter.peer import MeterPeer, NullModem
from drivers.meter.registers import register_image
from drivers.pi.board import build_pi_board
from drivers.pilot.fakes import FakeAds1115Bus, FakePwmSysfs
from hal.board import Board
from hal.clock import SystemClock

sys.path.insert(0, str(Path(__file__).resolve().parent / "drivers"))
from pn532_emulator import Card, Pn532Emulator, PtyPort  # noqa: E402
from example_configs import example_text

pytestmark = pytest.mark.timeout(30)

EXAMPLE = Path(__file__).resolve().parents[1] / "docs" / "examples" / "pi-ads1115-sdm630-pn532.toml"
GAIN, OFFSET = 6.6, -13.2  # the example's divider: CP volts = ADC volts x 6.6 - 13.2
RELAY, MIRROR, STATE_F, RCM_FAULT, RCM_TEST = 17, 27, 22, 5, 6
LOCK, UNLOCK, LOCK_FEEDBACK, THERMAL, HEARTBEAT = 23, 24, 25, 16, 26
LEDS = (12, 13, 19)
BADGE = Card.mifare_classic(bytes.fromhex("04A1B2C3"))


def adc_for(cp_v: float) -> float:
    return (cp_v - OFFSET) / GAIN


def config_text(tmp_path: Path, meter_port: str, reader_port: Path, device_id: int) -> str:
    text = example_text(EXAMPLE)
    text = text.replace("wss://csms.example.com/ocpp", "ws://127.0.0.1:9/ocpp").replace("security_profile = 2",
                                                                                         "security_profile = 0")
    text = text.replace('password_file = "/etc/borne/csms-password"\n', "")
    text = text.replace("/var/lib/borne/borne.db", str(tmp_path / "borne.db"))
    text = text.replace('port = "/dev/ttyAMA1"', f'port = "{meter_port}"\ntimeout_s = 0.3')
    text = text.replace('port = "/dev/ttyAMA0"', f'port = "{reader_port}"')
    text = text.replace("device_id = 1\n", f"device_id = {device_id}\n")
    return text.replace("feedback_locked_high = true\n", "feedback_locked_high = true\ntimeout_s = 0.5\n")


@dataclass
class Faults:
    mirror_stuck_open: bool = False  # the mirror contact never reports the contactor closed
    mirror_stuck_closed: bool = False  # ... or never reports it open (welded)
    lock_feedback_stuck: bool = False


@dataclass
class Rig:
    config: Config
    pins: MockFactory
    adc: FakeAds1115Bus
    sysfs: FakePwmSysfs
    modem: NullModem
    emulator: Pn532Emulator
    faults: Faults = field(default_factory=Faults)
    built: list[Board] = field(default_factory=list)  # kept: a collected gpiozero device releases its pin

    def board(self) -> Board:
        """A board as `hal.board.build_board` makes it, on the fakes (the doctor closes it at the end)."""
        board = build_pi_board(self.config, SystemClock(), pin_factory=self.pins, pwm_root=self.sysfs.root,
                               i2c_bus=lambda n: self.adc, pwm_sleep=self.sysfs.kernel_sleep)
        self.built.append(board)
        return board

    async def doctor(self, **options: object) -> Report:
        opts = DoctorOptions(**{"badge_timeout_s": 3.0, "pattern_hold_s": 0.01, **options})  # type: ignore[arg-type]
        return await Doctor(self.config, opts, board=self.board(), clock=SystemClock()).run()

    def last(self, pin: int) -> bool:
        return bool(self.pins.pin(pin).state)

    def ever_high(self, pin: int) -> bool:
        return any(s.state for s in self.pins.pin(pin).states)


async def physics(rig: Rig) -> None:
    """The board's side: mirror contact (high while the main contacts are open), a motor lock
    whose switch follows the last pulse, an RCM module that trips while TST is driven."""
    pins, faults = rig.pins, rig.faults
    locked = False
    while True:
        closed = pins.pin(RELAY).state
        if faults.mirror_stuck_open:
            closed = False
        if faults.mirror_stuck_closed:
            closed = True
        (pins.pin(MIRROR).drive_low if closed else pins.pin(MIRROR).drive_high)()
        if pins.pin(LOCK).state:
            locked = True
        if pins.pin(UNLOCK).state:
            locked = False
        shown = False if faults.lock_feedback_stuck else locked
        (pins.pin(LOCK_FEEDBACK).drive_high if shown else pins.pin(LOCK_FEEDBACK).drive_low)()
        (pins.pin(RCM_FAULT).drive_high if pins.pin(RCM_TEST).state else pins.pin(RCM_FAULT).drive_low)()
        await asyncio.sleep(0.002)


@pytest.fixture
def pins() -> MockFactory:
    factory = MockFactory(pin_class=MockPWMPin)
    yield factory
    factory.reset()
    Device.pin_factory = None


async def make_rig(tmp_path: Path, pins: MockFactory, *, device_id: int = 1) -> AsyncIterator[Rig]:
    modem = NullModem()
    pty = PtyPort(tmp_path / "ttyPN532")
    (tmp_path / "firmware.toml").write_text(config_text(tmp_path, modem.port_a, pty.link, device_id))
    config = load_config(tmp_path / "firmware.toml")
    image = register_image(get_map("sdm630"), energy_import_wh=12_345.0, power_w=0.0, voltage_v=(231.0, 230.0, 229.0),
                           current_a=(0.0, 0.0, 0.0))
    peer = MeterPeer({1: image})
    await peer.start_rtu(modem.port_b)
    emulator = Pn532Emulator(pty)
    emulator.card = BADGE
    emulator.start()
    adc = FakeAds1115Bus()
    adc.volts.update({0: adc_for(12.0), 1: adc_for(-12.0), 2: 3.3})  # state A, PP open (no cable)
    sysfs = FakePwmSysfs(tmp_path / "pwm")
    pins.pin(THERMAL).drive_high()  # the thermal switch (active low) reports a cool box
    pins.pin(MIRROR).drive_high()  # mirror contact closed: main contacts open
    rig = Rig(config, pins, adc, sysfs, modem, emulator)
    task = asyncio.create_task(physics(rig))
    try:
        yield rig
    finally:
        task.cancel()
        await asyncio.gather(task, return_exceptions=True)
        await emulator.stop()
        await peer.stop()
        modem.close()
        if pty.present:
            pty.close()


@pytest.fixture
async def rig(tmp_path: Path, pins: MockFactory) -> AsyncIterator[Rig]:
    async for r in make_rig(tmp_path, pins):
        yield r


def result(report: Report, device: str, check: str) -> CheckResult:
    found = [r for r in report.results if r.device == device and r.check == check]
    assert len(found) == 1, f"no single {device!r} / {check!r} in {[(r.device, r.check) for r in report.results]}"
    return found[0]


def failures(report: Report) -> list[tuple[str, str]]:
    return [(r.device, r.check) for r in report.results if r.outcome is Outcome.FAIL]


async def test_a_healthy_board_passes_and_is_left_safe(rig: Rig) -> None:
    report = await rig.doctor(allow_contactor=True)

    assert failures(report) == [], render_table(report)
    assert report.exit_code == 0
    assert all(r.outcome is Outcome.PASS for r in report.results), render_table(report)
    cp = result(report, "control pilot", "+12 V at rest").verdict
    assert cp.values["state"] == "A" and cp.values["high_v"] == pytest.approx(12.0, abs=0.05)
    pwm = result(report, "control pilot", "PWM").verdict
    assert pwm.values["low_v"] == pytest.approx(-12.0, abs=0.05)
    registers = result(report, "energy meter", "every register").verdict
    assert registers.values["registers"]["energy_import_wh"] == {"value": pytest.approx(12_345.0), "unit": "Wh"}
    assert registers.values["registers"]["voltage_v[0]"]["value"] == pytest.approx(231.0)
    assert registers.values["timeouts"] == 0 and registers.values["crc_errors"] == 0
    assert result(report, "energy meter", "full reading").verdict.values["energy_import_wh"] == pytest.approx(12_345.0)
    assert result(report, "badge reader", "badge").verdict.values["uid"] == "04A1B2C3"
    switching = result(report, "contactor", "close and open").verdict
    assert switching.values["close_ms"] <= 250 and switching.values["open_ms"] <= 250
    assert rig.ever_high(RELAY), "the contactor was never closed"

    # Every output back at its safe level: contactor open, pilot at -12 V (state-F switch on,
    # PWM off), TST, lock lines, LEDs and heartbeat low.
    assert not rig.last(RELAY)
    assert rig.last(STATE_F)
    assert rig.sysfs.read("enable") == "0" and rig.sysfs.read("duty_cycle") == "0"
    for pin in (RCM_TEST, LOCK, UNLOCK, HEARTBEAT, *LEDS):
        assert not rig.last(pin), f"GPIO{pin} left high"
    assert report.safe_state["1"] == {"contactor_closed": False, "pilot": "state_f"}
    json.loads(render_json(report))


async def test_without_allow_contactor_the_contactor_is_never_commanded(rig: Rig) -> None:
    report = await rig.doctor()

    switching = result(report, "contactor", "close and open")
    assert switching.outcome is Outcome.SKIP
    assert "needs --allow-contactor" in switching.verdict.detail
    assert not rig.ever_high(RELAY)
    assert result(report, "contactor", "open at rest").outcome is Outcome.PASS
    assert report.exit_code == 0


async def test_a_plugged_vehicle_refuses_the_contactor(rig: Rig) -> None:
    rig.adc.volts[0] = adc_for(9.0)  # state B
    report = await rig.doctor(allow_contactor=True)

    assert result(report, "control pilot", "+12 V at rest").verdict.values["state"] == "B"
    pwm = result(report, "control pilot", "PWM")
    assert pwm.outcome is Outcome.PASS and "diode check sane" in pwm.verdict.detail
    switching = result(report, "contactor", "close and open")
    assert switching.outcome is Outcome.SKIP and "state B" in switching.verdict.detail
    assert not rig.ever_high(RELAY)
    assert report.exit_code == 0


async def test_the_technician_may_close_the_contactor_with_a_vehicle_plugged(rig: Rig) -> None:
    rig.adc.volts[0] = adc_for(9.0)  # state B
    report = await rig.doctor(allow_contactor=True, contactor_with_ev=True)

    assert result(report, "contactor", "close and open").outcome is Outcome.PASS
    assert rig.ever_high(RELAY)
    assert not rig.last(RELAY)


async def test_a_missing_vehicle_diode_fails_the_pwm_check(rig: Rig) -> None:
    rig.adc.volts[0] = adc_for(9.0)  # state B...
    rig.adc.volts[1] = adc_for(-2.0)  # ...but the negative half does not reach -12 V
    report = await rig.doctor(no_badge=True)

    pwm = result(report, "control pilot", "PWM")
    assert pwm.outcome is Outcome.FAIL
    assert "diode" in pwm.verdict.hint and pwm.verdict.values["low_v"] == pytest.approx(-2.0, abs=0.05)


@pytest.fixture
async def silent_meter_rig(tmp_path: Path, pins: MockFactory) -> AsyncIterator[Rig]:
    async for r in make_rig(tmp_path, pins, device_id=7):  # the meter answers as 1
        yield r


async def test_a_meter_at_another_address_fails_with_the_address_hint(silent_meter_rig: Rig) -> None:
    silent_meter_rig.modem.drop_requests_to = {7}  # nothing on the line answers to address 7
    report = await silent_meter_rig.doctor(no_badge=True)

    assert failures(report) == [("energy meter", "every register"), ("energy meter", "full reading")]
    registers = result(report, "energy meter", "every register").verdict
    assert registers.values["timeouts"] == 2 and registers.values["crc_errors"] == 0
    assert registers.detail.startswith("0/8 registers")
    assert "not tried (the meter is silent)" in registers.lines[-1]
    assert "no answer from Modbus address 7" in registers.hint and "device_id = 7" in registers.hint
    assert "9600 baud" in registers.hint
    assert "device_id = 7" in result(report, "energy meter", "full reading").verdict.hint
    assert report.exit_code == 1


async def test_garbled_meter_replies_are_counted_as_crc_errors(rig: Rig) -> None:
    rig.modem.corrupt_replies = 2
    report = await rig.doctor(no_badge=True)

    registers = result(report, "energy meter", "every register").verdict
    assert registers.outcome is Outcome.FAIL
    assert registers.values["crc_errors"] == 2 and registers.values["timeouts"] == 0
    assert registers.detail.startswith("6/8 registers")
    assert "baud rate or parity" in registers.hint
    assert result(report, "energy meter", "full reading").outcome is Outcome.PASS


async def test_a_cp_level_in_no_window_fails_with_the_cp_hint(rig: Rig) -> None:
    rig.adc.volts[0] = adc_for(-5.0)  # between F and E: no EV produces this
    report = await rig.doctor(no_badge=True, allow_contactor=True)

    cp = result(report, "control pilot", "+12 V at rest")
    assert cp.outcome is Outcome.FAIL
    assert cp.verdict.values["high_v"] == pytest.approx(-5.0, abs=0.05)
    assert "no IEC 61851 window" in cp.verdict.hint
    assert result(report, "control pilot", "PWM").outcome is Outcome.SKIP
    assert result(report, "contactor", "close and open").outcome is Outcome.SKIP  # CP shows no "no EV"
    assert not rig.ever_high(RELAY)
    assert report.exit_code == 1


async def test_a_cp_level_between_windows_fails(rig: Rig) -> None:
    rig.adc.volts[0] = adc_for(10.5)  # hysteresis band between B and A
    report = await rig.doctor(no_badge=True)

    cp = result(report, "control pilot", "+12 V at rest")
    assert cp.outcome is Outcome.FAIL
    assert "outside the state" in cp.verdict.detail and "divider_gain" in cp.verdict.hint


async def test_a_contactor_whose_feedback_does_not_follow_fails(rig: Rig) -> None:
    rig.faults.mirror_stuck_open = True
    report = await rig.doctor(no_badge=True, allow_contactor=True)

    switching = result(report, "contactor", "close and open")
    assert switching.outcome is Outcome.FAIL
    assert "250 ms" in switching.verdict.detail and "coil supply" in switching.verdict.hint
    assert failures(report) == [("contactor", "close and open")]
    assert not rig.last(RELAY)


async def test_a_welded_contactor_fails_at_rest_and_is_not_closed(rig: Rig) -> None:
    rig.faults.mirror_stuck_closed = True
    report = await rig.doctor(no_badge=True, allow_contactor=True)

    rest = result(report, "contactor", "open at rest")
    assert rest.outcome is Outcome.FAIL and "welded" in rest.verdict.hint
    assert result(report, "contactor", "close and open").outcome is Outcome.SKIP
    assert not rig.ever_high(RELAY)


async def test_a_lock_whose_feedback_does_not_follow_fails(rig: Rig) -> None:
    rig.faults.lock_feedback_stuck = True
    report = await rig.doctor(no_badge=True)

    lock = result(report, "socket lock", "lock and unlock")
    assert lock.outcome is Outcome.FAIL
    assert "did not report locked within 0.5 s" in lock.verdict.detail
    assert "feedback_pin" in lock.verdict.hint
    assert failures(report) == [("socket lock", "lock and unlock")]
    assert rig.ever_high(LOCK) and rig.ever_high(UNLOCK)
    assert not rig.last(LOCK) and not rig.last(UNLOCK)


async def test_no_badge_within_the_timeout_fails_with_the_reader_hint(rig: Rig) -> None:
    rig.emulator.card = None
    report = await rig.doctor(badge_timeout_s=0.6)

    badge = result(report, "badge reader", "badge")
    assert badge.outcome is Outcome.FAIL
    assert badge.verdict.detail == "no badge within 0.6 s"
    assert "saw no badge" in badge.verdict.hint
    assert rig.emulator.polls > 0
    assert report.exit_code == 1


async def test_no_badge_option_skips_the_reader(rig: Rig) -> None:
    report = await rig.doctor(no_badge=True)

    assert result(report, "badge reader", "badge").outcome is Outcome.SKIP
    assert rig.emulator.polls == 0
    assert report.exit_code == 0
