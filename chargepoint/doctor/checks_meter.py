"""Energy meter checks: every register of the meter's map read one by one (so a single refused
address shows), then one full reading as the controller takes it.

Register-level access needs a Modbus meter (a driver exposing `bus`, `device_id` and
`register_map`); other meters get the full reading only."""
from __future__ import annotations

import collections
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from chargepoint.doctor.context import DoctorContext, Step
from chargepoint.doctor.results import Verdict, failed, passed
from hal.board import EvseDevices
from hal.contracts import EnergyMeter
from hal.types import MeterError

if TYPE_CHECKING:
    from chargepoint.config.model import MeterConfig, ModbusBusConfig

UNITS = {"energy_import_wh": "Wh", "power_w": "W", "voltage_v": "V", "current_a": "A"}
SILENT_AFTER = 2  # timeouts in a row, with no answer at all, after which the meter counts as silent


def unit_of(quantity: str) -> str:
    return UNITS.get(quantity.split("[", 1)[0], "")


@dataclass(frozen=True)
class MeterSetup:
    """What the configuration says about one meter, for the hints."""

    meter: MeterConfig | None
    bus: ModbusBusConfig | None

    @classmethod
    def of(cls, ctx: DoctorContext, evse_id: int) -> MeterSetup:
        hw = ctx.config.hardware
        if hw is None or evse_id not in hw.evses:
            return cls(None, None)
        meter = hw.evses[evse_id].meter
        bus = next((b for b in hw.modbus_buses if b.name == meter.bus), None)
        return cls(meter, bus)


def meter_hint(kind: str, setup: MeterSetup, register_map: Any = None) -> str:
    """What to check for a failure of this kind (timeout, crc, exception, connection)."""
    meter, bus = setup.meter, setup.bus
    if meter is None or bus is None:
        return "the meter did not give a reading: check the meter and its connection"
    tcp = bus.port is None
    where = f"{bus.host}:{bus.tcp_port}" if tcp else bus.port
    if kind in ("timeout", "gateway"):
        if tcp:
            return (f"no answer from unit id {meter.device_id} at {where}: check the meter's Modbus address "
                    f"(device_id = {meter.device_id} in [evse.meter]), the gateway's serial settings and its "
                    "wiring to the meter")
        factory = ""
        if register_map is not None:
            factory = (f"; this model's factory setting is {register_map.default_baudrate} baud, parity "
                       f"{register_map.default_parity}")
        return (f"no answer from Modbus address {meter.device_id} on {where}: check the meter's address "
                f"(device_id = {meter.device_id} in [evse.meter]), the baud rate and parity ([[modbus_bus]] "
                f"{bus.name}: {bus.baudrate} baud, parity {bus.parity}{factory}), the A/B wiring (try swapping A "
                "and B), the 120 Ohm termination and the meter's supply")
    if kind == "crc":
        return (f"garbled replies on {where}: the baud rate or parity ({bus.baudrate} {bus.parity}) differ from the "
                "meter's setting, termination or bias resistors are missing, or a second master talks on the bus")
    if kind == "exception":
        return (f"the meter answers but refuses a register: the installed meter is probably not a {meter.model} "
                "(model in [evse.meter]), or the custom register map is wrong")
    if kind == "connection":
        if tcp:
            return f"cannot connect to {where}: check host and tcp_port in [[modbus_bus]] {bus.name} and the network"
        return (f"the serial port {where} cannot be opened: check the path (ls -l /dev/serial/by-id/), that this "
                "user may use it (group dialout) and that no other program holds it")
    return "the meter's reply could not be used: check the model in [evse.meter] against the meter installed"


GATEWAY_NO_DEVICE = (10, 11)  # Modbus TCP gateway: path unavailable / target device failed to respond


def _error_kind(exc: BaseException | None) -> str:
    """timeout, crc, exception, connection (the bus's error kinds), or gateway: a Modbus TCP
    gateway saying no device answers at that address, which calls for the same checks as a
    timeout on a serial line."""
    while exc is not None:
        kind = getattr(exc, "kind", None)
        if isinstance(kind, str):
            return "gateway" if getattr(exc, "code", None) in GATEWAY_NO_DEVICE else kind
        exc = exc.__cause__
    return "io"


def _int16(word: int) -> int:
    return word - 0x10000 if word & 0x8000 else word


async def _read_spec(bus: Any, device_id: int, spec: Any) -> float:
    registers = await bus.read_registers(device_id, spec.function, spec.address, spec.count)
    exponent = 0
    if spec.exponent_address is not None:
        exponent = _int16((await bus.read_registers(device_id, spec.function, spec.exponent_address, 1))[0])
    return float(spec.decode(registers, exponent))


async def check_registers(ctx: DoctorContext, evse_id: int, meter: EnergyMeter) -> Verdict:
    bus, device_id, register_map = meter.bus, meter.device_id, meter.register_map  # type: ignore[attr-defined]
    setup = MeterSetup.of(ctx, evse_id)
    lines: list[str] = []
    values: dict[str, Any] = {}
    errors: collections.Counter[str] = collections.Counter()
    answered = False
    silent = False
    specs = register_map.specs()
    for quantity, spec in specs:
        where = f"{quantity:<17} FC{spec.function:02d} {spec.address:#06x} {spec.type}"
        if silent:
            lines.append(f"{where}: not tried (the meter is silent)")
            continue
        try:
            value = await _read_spec(bus, device_id, spec)
        except Exception as exc:
            kind = _error_kind(exc)
            errors[kind] += 1
            lines.append(f"{where}: FAILED ({kind}: {exc})")
            values[quantity] = {"error": kind, "message": str(exc)}
            if not answered and (kind == "connection" or errors["timeout"] + errors["gateway"] >= SILENT_AFTER):
                silent = True
            continue
        answered = True
        unit = unit_of(quantity)
        lines.append(f"{where}: {value:.3f} {unit}")
        values[quantity] = {"value": value, "unit": unit}
    read = sum(1 for v in values.values() if "value" in v)
    counts = {"timeouts": errors["timeout"], "crc_errors": errors["crc"],
              "exceptions": errors["exception"] + errors["gateway"], "connection_errors": errors["connection"]}
    summary = (f"{read}/{len(specs)} registers of map {register_map.model} (device id {device_id}); "
               f"{counts['timeouts']} timeouts, {counts['crc_errors']} CRC errors")
    if read < len(specs):
        main = max(errors, key=lambda k: errors[k]) if errors else "io"
        return failed(summary, meter_hint(main, setup, register_map), lines=tuple(lines), registers=values, **counts)
    return passed(summary, lines=tuple(lines), registers=values, **counts)


async def check_reading(ctx: DoctorContext, evse_id: int, meter: EnergyMeter) -> Verdict:
    try:
        reading = await meter.read()
    except MeterError as exc:
        return failed(f"no reading: {exc}", meter_hint(_error_kind(exc), MeterSetup.of(ctx, evse_id),
                                                      getattr(meter, "register_map", None)))
    volts = "/".join(f"{v:.0f}" for v in reading.voltage_v) or "-"
    amps = "/".join(f"{a:.1f}" for a in reading.current_a) or "-"
    return passed(f"{reading.energy_import_wh:.0f} Wh, {reading.power_w:.0f} W, {volts} V, {amps} A",
                  energy_import_wh=reading.energy_import_wh, power_w=reading.power_w,
                  voltage_v=list(reading.voltage_v), current_a=list(reading.current_a))


def _has_registers(meter: EnergyMeter) -> bool:
    return all(hasattr(meter, name) for name in ("bus", "device_id", "register_map"))


def meter_steps(ctx: DoctorContext, evse_id: int, devices: EvseDevices) -> list[Step]:
    scope = f"EVSE {evse_id}"
    meter = devices.meter
    steps: list[Step] = []
    if _has_registers(meter):
        steps.append(Step(scope, "energy meter", "every register", lambda: check_registers(ctx, evse_id, meter), 30.0))
    steps.append(Step(scope, "energy meter", "full reading", lambda: check_reading(ctx, evse_id, meter), 10.0))
    return steps
