"""Validation of a real board's hardware tables ([board] kind = "pi"): per EVSE
[evse.contactor], [evse.pilot], [evse.proximity], [evse.rcm], [evse.lock], [evse.meter]; and
[[modbus_bus]], [reader], [indicator], [heartbeat]. GPIO numbers are BCM numbers."""
from __future__ import annotations

from typing import Any

from chargepoint.config.model import (
    BoardHardware,
    ContactorConfig,
    EvseHardware,
    IndicatorConfig,
    LockConfig,
    McuEvseHardware,
    MeterConfig,
    ModbusBusConfig,
    PilotConfig,
    ProximityConfig,
    RcmConfig,
    ReaderConfig,
)
from chargepoint.config.validation import Section

EVSE_HARDWARE_TABLES = ("contactor", "pilot", "proximity", "rcm", "lock", "meter", "over_temperature")
TOP_HARDWARE_TABLES = ("modbus_bus", "reader", "indicator", "heartbeat")
METER_MODELS = ("sdm630", "sdm120", "sdm72d-m-v2", "abb-b23", "em340", "wm3m4", "custom")
METER_DRIVERS = ("modbus-rtu", "modbus-tcp")
READER_DRIVERS = ("pn532", "rdm6300", "line")

_PIN = "a BCM GPIO number from 0 to 27"
_LEVEL = "true (high = active) or false (low = active)"


def _pin(s: Section, key: str, default: Any = ...) -> int | None:
    if default is ...:
        return s.integer(key, low=0, high=27, fix=_PIN)
    return s.integer(key, low=0, high=27, fix=_PIN, default=default)


def _flag(s: Section, key: str, default: bool) -> bool:
    return bool(s.boolean(key, default=default, fix=_LEVEL))


def evse_hardware(s: Section, board_kind: str | None) -> EvseHardware | McuEvseHardware | None:
    """The hardware tables of one [[evse]]; required for a real board, refused on the simulator."""
    if board_kind == "mcu":
        from chargepoint.config.mcu_schema import refuse_mcu_owned

        refuse_mcu_owned(s)
        return McuEvseHardware(meter=_meter(s))
    real = board_kind == "pi"
    present = [t for t in EVSE_HARDWARE_TABLES if t in s.data]
    if not real:
        for table in present:
            s.fail(table, f"hardware table on board kind {board_kind!r}",
                   'remove it, or set [board] kind = "pi" for a real board')
        return None
    c = s.table("contactor", ("pin", "active_high", "feedback_pin", "feedback_closed_high"), required=True,
                fix="a [evse.contactor] table with pin (and feedback_pin for the mirror contact)")
    contactor = ContactorConfig(
        pin=_pin(c, "pin"), active_high=_flag(c, "active_high", True),
        feedback_pin=_pin(c, "feedback_pin", None), feedback_closed_high=_flag(c, "feedback_closed_high", False))
    p = s.table("pilot", ("pwm_chip", "pwm_channel", "state_f_pin", "adc_bus", "adc_address", "high_channel",
                          "low_channel", "divider_gain", "divider_offset_v"), required=True,
                fix="a [evse.pilot] table with divider_gain and divider_offset_v (CP volts = ADC volts x gain + offset)")
    pilot = PilotConfig(
        divider_gain=p.number("divider_gain", fix="the divider's gain, e.g. 4.0"),
        divider_offset_v=p.number("divider_offset_v", fix="the divider's offset in volts, e.g. -6.0"),
        pwm_chip=p.integer("pwm_chip", default=0, low=0, high=15, fix="the pwmchip number under /sys/class/pwm"),
        pwm_channel=p.integer("pwm_channel", default=0, low=0, high=15, fix="the PWM channel of that chip"),
        state_f_pin=_pin(p, "state_f_pin", None),
        adc_bus=p.integer("adc_bus", default=1, low=0, high=20, fix="the I2C bus number (/dev/i2c-N)"),
        adc_address=p.integer("adc_address", default=0x48, low=0x48, high=0x4B, fix="0x48 to 0x4B (ADS1115)"),
        high_channel=p.integer("high_channel", default=0, low=0, high=3, fix="ADC channel 0 to 3"),
        low_channel=p.integer("low_channel", default=None, low=0, high=3,
                              fix="ADC channel 0 to 3 for the low half; leave out for one sample-and-hold channel"),
    )
    proximity = rcm = lock = None
    if "proximity" in s.data:
        x = s.table("proximity", ("adc_channel", "pull_up_ohm", "supply_v"), required=False)
        proximity = ProximityConfig(
            adc_channel=x.integer("adc_channel", low=0, high=3, fix="ADC channel 0 to 3"),
            pull_up_ohm=x.number("pull_up_ohm", above=0, fix="the PP pull-up resistor in ohms, e.g. 330"),
            supply_v=x.number("supply_v", default=3.3, above=0, high=12, fix="the pull-up supply in volts"))
    if "rcm" in s.data:
        r = s.table("rcm", ("fault_pin", "test_pin", "fault_active_high"), required=False)
        rcm = RcmConfig(fault_pin=_pin(r, "fault_pin"), test_pin=_pin(r, "test_pin", None),
                        fault_active_high=_flag(r, "fault_active_high", True))
    if "lock" in s.data:
        k = s.table("lock", ("lock_pin", "unlock_pin", "feedback_pin", "feedback_locked_high", "pulse_s",
                             "timeout_s"), required=False)
        lock = LockConfig(
            lock_pin=_pin(k, "lock_pin"), unlock_pin=_pin(k, "unlock_pin", None),
            feedback_pin=_pin(k, "feedback_pin", None), feedback_locked_high=_flag(k, "feedback_locked_high", True),
            pulse_s=k.number("pulse_s", default=0.3, above=0, high=5, fix="seconds, e.g. 0.3"),
            timeout_s=k.number("timeout_s", default=1.0, above=0, high=10, fix="seconds, e.g. 1.0"))
    over_pin, over_high = None, True
    if "over_temperature" in s.data:
        o = s.table("over_temperature", ("pin", "active_high"), required=False)
        over_pin, over_high = _pin(o, "pin"), _flag(o, "active_high", True)
    return EvseHardware(contactor=contactor, pilot=pilot, meter=_meter(s), proximity=proximity, rcm=rcm,
                        lock=lock, over_temperature_pin=over_pin, over_temperature_active_high=over_high)


def _meter(s: Section) -> MeterConfig:
    m = s.table("meter", ("driver", "model", "bus", "device_id", "registers"), required=True,
                fix='a [evse.meter] table with driver, model and bus, e.g. driver = "modbus-rtu"')
    model = m.choice("model", METER_MODELS, fix=f"one of {', '.join(METER_MODELS)}")
    registers = None
    raw = m.data.get("registers")
    if model == "custom":
        if not isinstance(raw, dict):
            m.fail("registers", "a custom meter needs its register map",
                   "[evse.meter.registers.energy_import_wh] and [evse.meter.registers.power_w] tables "
                   "(function, address, type, word_order, scale); see docs/meters.md")
        else:
            # The meter driver's own validation, so config check and the driver never disagree.
            from drivers.meter.registers import RegisterMapError, custom_map

            try:
                custom_map(raw, field_prefix="registers")
            except RegisterMapError as exc:
                where, _, why = str(exc).partition(": ")
                m.fail(tuple(where.split(".")), why or str(exc), "see the custom map format in docs/meters.md")
            else:
                registers = raw
    elif raw is not None:
        m.fail("registers", 'register tables belong to model = "custom"', 'remove them or set model = "custom"')
    return MeterConfig(
        driver=m.choice("driver", METER_DRIVERS, fix=f"one of {', '.join(METER_DRIVERS)}"),
        model=model, bus=m.string("bus", fix="the name of a [[modbus_bus]]"),
        device_id=m.integer("device_id", default=1, low=1, high=247, fix="a Modbus device id from 1 to 247"),
        registers=registers)


def board_hardware(root: Section, board_kind: str | None,
                   evses: dict[int, EvseHardware | McuEvseHardware | None]) -> BoardHardware | None:
    if board_kind not in ("pi", "mcu"):
        for table in TOP_HARDWARE_TABLES:
            if table in root.data:
                root.fail(table, f"hardware table on board kind {board_kind!r}",
                          'remove it, or set [board] kind = "pi" for a real board')
        return None
    buses = []
    for b in root.tables("modbus_bus", ("name", "port", "host", "tcp_port", "baudrate", "parity", "stopbits",
                                        "timeout_s"), fix="[[modbus_bus]] tables with name and port (or host)") or []:
        name = b.string("name", fix="a name the meters' bus key refers to")
        port, host = b.string("port", default=None, fix="the serial device, e.g. \"/dev/ttyAMA0\""), \
            b.string("host", default=None, fix="the Modbus TCP host")
        if (port is None) == (host is None):
            b.fail("port", "give exactly one of port (RTU) and host (TCP)", "port = \"/dev/ttyAMA0\" or host = \"10.0.0.5\"")
        buses.append(ModbusBusConfig(
            name=name, port=port, host=host,
            tcp_port=b.integer("tcp_port", default=502, low=1, high=65535, fix="a TCP port"),
            baudrate=b.integer("baudrate", default=9600, low=1200, high=115200, fix="1200 to 115200"),
            parity=b.choice("parity", ("N", "E", "O"), default="N", fix='"N", "E" or "O"'),
            stopbits=b.integer("stopbits", default=1, low=1, high=2, fix="1 or 2"),
            timeout_s=b.number("timeout_s", default=0.5, above=0, high=10, fix="seconds, e.g. 0.5")))
    names = {b.name for b in buses}
    for evse_id, hw in evses.items():
        if hw is not None and hw.meter.bus not in names:
            root.fail(("evse", evse_id - 1, "meter", "bus"), f"no [[modbus_bus]] named {hw.meter.bus!r}",
                      f"one of {', '.join(sorted(n for n in names if n)) or 'the buses you define'}")
    reader = indicator = None
    if "reader" in root.data:
        r = root.table("reader", ("driver", "port", "baudrate", "evse"), required=False)
        reader = ReaderConfig(driver=r.choice("driver", READER_DRIVERS, fix=f"one of {', '.join(READER_DRIVERS)}"),
                              port=r.string("port", fix="the serial device, e.g. \"/dev/ttyS0\""),
                              baudrate=r.integer("baudrate", default=None, low=1200, high=921600, fix="a baud rate"),
                              evse=r.integer("evse", default=None, low=1, high=len(evses) or 1, fix="an EVSE id"))
    if "indicator" in root.data:
        i = root.table("indicator", ("red_pin", "green_pin", "blue_pin"), required=False)
        indicator = IndicatorConfig(red_pin=_pin(i, "red_pin"), green_pin=_pin(i, "green_pin"),
                                    blue_pin=_pin(i, "blue_pin", None))
    heartbeat = None
    if "heartbeat" in root.data:
        heartbeat = _pin(root.table("heartbeat", ("pin",), required=False), "pin")
    return BoardHardware(evses={k: v for k, v in evses.items() if v is not None}, modbus_buses=tuple(buses),
                         reader=reader, indicator=indicator, heartbeat_pin=heartbeat)
