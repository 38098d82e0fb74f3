"""Hardware tables of a real board: the shipped example passes, mistakes are named with their line."""
from __future__ import annotations

from pathlib import Path

from chargepoint.config import check_config, load_config
from example_configs import example_text

EXAMPLE = Path(__file__).resolve().parents[1] / "docs" / "examples" / "pi-ads1115-sdm630-pn532.toml"


def test_the_shipped_pi_example_passes() -> None:
    config = load_config(EXAMPLE)
    hw = config.hardware
    assert hw is not None and config.board.kind == "pi"
    evse = hw.evses[1]
    assert evse.contactor.pin == 17 and evse.contactor.feedback_pin == 27
    assert evse.pilot.adc_address == 0x48 and evse.pilot.divider_gain == 6.6 and evse.pilot.low_channel == 1
    assert evse.meter.model == "sdm630" and evse.meter.bus == "rs485"
    assert hw.modbus_buses[0].port == "/dev/ttyAMA1"
    assert hw.reader.driver == "pn532" and hw.heartbeat_pin == 26


def _write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "firmware.toml"
    path.write_text(text, encoding="utf-8")
    return path


def test_unknown_bus_and_bad_pin_are_reported_with_lines(tmp_path: Path) -> None:
    text = example_text(EXAMPLE).replace('bus = "rs485"', 'bus = "rs-485"').replace("pin = 17 ", "pin = 40 ")
    issues = check_config(_write(tmp_path, text))
    by_key = {i.key: i for i in issues}
    assert "evse[0].meter.bus" in by_key and "rs485" in by_key["evse[0].meter.bus"].fix
    assert "evse[0].contactor.pin" in by_key
    line = text.splitlines().index(next(l for l in text.splitlines() if l.startswith("pin = 40"))) + 1
    assert by_key["evse[0].contactor.pin"].line == line


def test_hardware_tables_are_refused_on_the_simulator(tmp_path: Path) -> None:
    text = example_text(EXAMPLE).replace('kind = "pi"', 'kind = "sim"') + '\n[sim]\ncontrol_socket = "s.sock"\n'
    keys = {i.key for i in check_config(_write(tmp_path, text))}
    assert {"evse[0].contactor", "reader", "modbus_bus"} <= keys


def test_custom_meter_map_is_read_and_checked_by_the_driver_rules(tmp_path: Path) -> None:
    registers = (
        "[evse.meter.registers.energy_import_wh]\nfunction = 4\naddress = 0x0048\ntype = \"float32\"\nscale = 1000.0\n\n"
        "[evse.meter.registers.power_w]\nfunction = 4\naddress = 0x0034\ntype = \"float32\"\n\n")
    text = example_text(EXAMPLE).replace('model = "sdm630"', 'model = "custom"')
    text = text.replace("[evse.over_temperature]", registers + "[evse.over_temperature]", 1)
    config = load_config(_write(tmp_path, text))
    regs = config.hardware.evses[1].meter.registers
    assert regs["energy_import_wh"]["address"] == 0x48 and regs["power_w"]["type"] == "float32"
    bad = text.replace('type = "float32"\nscale', 'type = "foat32"\nscale', 1)
    issues = check_config(_write(tmp_path, bad))
    assert [i.key for i in issues] == ["evse[0].meter.registers.energy_import_wh.type"]
    assert issues[0].line == bad.splitlines().index('type = "foat32"') + 1
