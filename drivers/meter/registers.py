"""Register maps as data: where a meter keeps each quantity and how to turn registers into units.

A `RegisterSpec` says which registers hold one value (function code, address, type, word order)
and `scale`, the factor from the raw number to Wh / W / V / A. A `RegisterMap` gathers the specs
for the quantities the charge point needs. The decoding functions are pure and cover every type
in both word orders; the matching encoders build register images for test peers and benches.

Word order: "big" means the most significant 16-bit word comes first (ABCD), "little" that the
least significant word comes first (CDAB). Within a word, bytes are always big-endian, as the
Modbus specification requires.
"""
from __future__ import annotations

import math
import struct
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

# Register count of each type. t5/t6 are Iskra's decade-exponent formats: the high byte of the
# first word is a signed 8-bit power of ten, the remaining 24 bits the mantissa (t5 unsigned,
# t6 signed two's complement).
TYPE_REGISTERS: dict[str, int] = {
    "int16": 1,
    "uint16": 1,
    "int32": 2,
    "uint32": 2,
    "float32": 2,
    "int64": 4,
    "uint64": 4,
    "t5": 2,
    "t6": 2,
}
WORD_ORDERS = ("big", "little")
FUNCTIONS = (3, 4)  # read holding registers, read input registers
MAX_REGISTERS_PER_READ = 60  # Eastron allows 30 parameters (60 registers) per request

_STRUCT = {"int16": ">h", "uint16": ">H", "int32": ">i", "uint32": ">I", "float32": ">f",
           "int64": ">q", "uint64": ">Q"}


class RegisterMapError(ValueError):
    """A register spec or map is invalid; the message names the offending field."""


# ---- pure decoding / encoding --------------------------------------------------------------------


def _ordered(words: Sequence[int], word_order: str) -> list[int]:
    if word_order not in WORD_ORDERS:
        raise RegisterMapError(f"word_order {word_order!r} is not one of {', '.join(WORD_ORDERS)}")
    ws = list(words)
    return ws if word_order == "big" else ws[::-1]


def decode_registers(registers: Sequence[int], type_: str, word_order: str = "big") -> int | float:
    """Turn raw 16-bit registers (as read, lowest address first) into the number they hold."""
    if type_ not in TYPE_REGISTERS:
        raise RegisterMapError(f"type {type_!r} is not one of {', '.join(TYPE_REGISTERS)}")
    count = TYPE_REGISTERS[type_]
    if len(registers) != count:
        raise RegisterMapError(f"{type_} needs {count} register(s), got {len(registers)}")
    for r in registers:
        if not 0 <= r <= 0xFFFF:
            raise RegisterMapError(f"register value {r!r} is not a 16-bit word")
    words = _ordered(registers, word_order)
    raw = b"".join(w.to_bytes(2, "big") for w in words)
    if type_ in ("t5", "t6"):
        exponent = struct.unpack(">b", raw[:1])[0]
        mantissa = int.from_bytes(raw[1:], "big", signed=(type_ == "t6"))
        return mantissa * 10.0 ** exponent
    return struct.unpack(_STRUCT[type_], raw)[0]


def encode_registers(value: int | float, type_: str, word_order: str = "big") -> list[int]:
    """Inverse of `decode_registers` (floats are rounded to the nearest integer for integer types).

    For t5/t6 the exponent is chosen to keep as many digits as the 24-bit mantissa allows."""
    if type_ not in TYPE_REGISTERS:
        raise RegisterMapError(f"type {type_!r} is not one of {', '.join(TYPE_REGISTERS)}")
    if type_ == "float32":
        raw = struct.pack(">f", float(value))
    elif type_ in ("t5", "t6"):
        raw = _encode_decade(float(value), signed=(type_ == "t6"))
    else:
        raw = struct.pack(_STRUCT[type_], int(round(value)))
    words = [int.from_bytes(raw[i:i + 2], "big") for i in range(0, len(raw), 2)]
    return _ordered(words, word_order)


def _encode_decade(value: float, *, signed: bool) -> bytes:
    if not signed and value < 0:
        raise RegisterMapError("t5 cannot hold a negative value")
    lo, hi = (-(1 << 23), (1 << 23) - 1) if signed else (0, (1 << 24) - 1)
    for exponent in range(-6, 128):
        mantissa = round(value / 10.0 ** exponent)
        if lo <= mantissa <= hi:
            return struct.pack(">b", exponent) + (mantissa & 0xFFFFFF).to_bytes(3, "big")
    raise RegisterMapError(f"{value!r} does not fit a decade-exponent register")


# ---- specs and maps --------------------------------------------------------------------------------


@dataclass(frozen=True)
class RegisterSpec:
    """Where one value lives and how to convert it: value = raw × scale [× 10^exponent].

    `exponent_address`, when set, is a separate int16 register (same function code) holding a
    power of ten that applies to the value (Iskra energy counters work that way)."""

    function: int
    address: int
    type: str
    word_order: str = "big"
    scale: float = 1.0
    exponent_address: int | None = None

    def __post_init__(self) -> None:
        if not isinstance(self.function, int) or isinstance(self.function, bool) or self.function not in FUNCTIONS:
            raise RegisterMapError(f"function {self.function!r} must be 3 (holding) or 4 (input)")
        if not isinstance(self.type, str) or self.type not in TYPE_REGISTERS:
            raise RegisterMapError(f"type {self.type!r} is not one of {', '.join(TYPE_REGISTERS)}")
        if not isinstance(self.word_order, str) or self.word_order not in WORD_ORDERS:
            raise RegisterMapError(f"word_order {self.word_order!r} is not one of {', '.join(WORD_ORDERS)}")
        _check_address("address", self.address, self.count)
        if self.exponent_address is not None:
            _check_address("exponent_address", self.exponent_address, 1)
        if not isinstance(self.scale, (int, float)) or isinstance(self.scale, bool) \
                or not math.isfinite(self.scale) or self.scale == 0:
            raise RegisterMapError(f"scale {self.scale!r} must be a finite, non-zero number")

    @property
    def count(self) -> int:
        return TYPE_REGISTERS[self.type]

    def decode(self, registers: Sequence[int], exponent: int = 0) -> float:
        """Registers → value in the map's unit (Wh, W, V or A)."""
        return float(decode_registers(registers, self.type, self.word_order)) * self.scale * 10.0 ** exponent

    def encode(self, value: float, exponent: int = 0) -> list[int]:
        """Value in the map's unit → registers (for peers and benches)."""
        return encode_registers(value / self.scale / 10.0 ** exponent, self.type, self.word_order)


def _check_address(name: str, address: Any, count: int) -> None:
    if not isinstance(address, int) or isinstance(address, bool) or not 0 <= address <= 0xFFFF - count + 1:
        raise RegisterMapError(f"{name} {address!r} must be an integer register address 0..{0xFFFF - count + 1}")


QUANTITIES = ("energy_import_wh", "power_w", "voltage_v", "current_a")
PHASE_QUANTITIES = ("voltage_v", "current_a")


@dataclass(frozen=True)
class RegisterMap:
    """Where one meter model keeps the quantities of a `hal.types.MeterReading`."""

    model: str
    source_citation: str
    energy_import_wh: RegisterSpec
    power_w: RegisterSpec
    voltage_v: tuple[RegisterSpec, ...] = ()
    current_a: tuple[RegisterSpec, ...] = ()
    default_baudrate: int = 9600
    default_parity: str = "N"
    default_stopbits: int = 1
    default_device_id: int = 1
    # Reads may span up to this many unmapped registers between mapped ones: only set where the
    # maker documents every register in the gap (meters answer undefined ones with exception 2).
    read_gap: int = 0
    # Register addresses that could not be confirmed against a datasheet: "field: why".
    unverified: tuple[str, ...] = field(default=())

    def __post_init__(self) -> None:
        if len(self.voltage_v) > 3 or len(self.current_a) > 3:
            raise RegisterMapError(f"{self.model}: at most 3 phases")
        if self.default_parity not in ("N", "E", "O"):
            raise RegisterMapError(f"{self.model}: default_parity must be N, E or O")

    def specs(self) -> list[tuple[str, RegisterSpec]]:
        """Every (quantity name, spec) pair, phases named voltage_v[0], current_a[2]..."""
        out: list[tuple[str, RegisterSpec]] = [("energy_import_wh", self.energy_import_wh), ("power_w", self.power_w)]
        out += [(f"voltage_v[{i}]", s) for i, s in enumerate(self.voltage_v)]
        out += [(f"current_a[{i}]", s) for i, s in enumerate(self.current_a)]
        return out


def register_image(register_map: RegisterMap, *, energy_import_wh: float, power_w: float,
                   voltage_v: Sequence[float] = (), current_a: Sequence[float] = (),
                   exponent: int = 0) -> dict[int, dict[int, int]]:
    """The registers a meter of this model shows for the given values: {function: {address: word}}.

    Built from the same map data the driver reads with, so a peer serving it must decode back to
    the same values. `exponent` is written to every exponent register the map uses. Registers
    that the map's read plan spans between mapped ones (see `read_gap`) are present as 0."""
    image: dict[int, dict[int, int]] = {3: {}, 4: {}}
    for block in plan_reads(register_map):
        for address in range(block.address, block.address + block.count):
            image[block.function][address] = 0
    values: list[tuple[RegisterSpec, float]] = [(register_map.energy_import_wh, energy_import_wh),
                                                (register_map.power_w, power_w)]
    if len(voltage_v) != len(register_map.voltage_v) or len(current_a) != len(register_map.current_a):
        raise RegisterMapError(f"{register_map.model}: give one voltage and current per mapped phase")
    values += list(zip(register_map.voltage_v, voltage_v)) + list(zip(register_map.current_a, current_a))
    for spec, value in values:
        exp = exponent if spec.exponent_address is not None else 0
        for i, word in enumerate(spec.encode(value, exp)):
            image[spec.function][spec.address + i] = word
        if spec.exponent_address is not None:
            image[spec.function][spec.exponent_address] = encode_registers(exp, "int16")[0]
    return image


# ---- read planning ------------------------------------------------------------------------------


@dataclass(frozen=True)
class ReadBlock:
    """One Modbus request covering registers [address, address + count)."""

    function: int
    address: int
    count: int


def plan_reads(register_map: RegisterMap, *, max_gap: int | None = None,
               max_count: int = MAX_REGISTERS_PER_READ) -> list[ReadBlock]:
    """Group the map's registers into as few requests as possible without reading registers the
    map does not name, except for up to `max_gap` (default: the map's `read_gap`) documented ones
    in between: meters answer an undefined address with an exception."""
    if max_gap is None:
        max_gap = register_map.read_gap
    spans: set[tuple[int, int, int]] = set()
    for _, spec in register_map.specs():
        spans.add((spec.function, spec.address, spec.count))
        if spec.exponent_address is not None:
            spans.add((spec.function, spec.exponent_address, 1))
    blocks: list[ReadBlock] = []
    for function, address, count in sorted(spans):
        last = blocks[-1] if blocks else None
        if last is not None and last.function == function \
                and address <= last.address + last.count + max_gap \
                and max(last.address + last.count, address + count) - last.address <= max_count:
            end = max(last.address + last.count, address + count)
            blocks[-1] = ReadBlock(function, last.address, end - last.address)
        else:
            blocks.append(ReadBlock(function, address, count))
    return blocks


# ---- custom maps from configuration -------------------------------------------------------------

_SPEC_KEYS = {"function", "address", "type", "word_order", "scale", "exponent_address"}


def custom_map(spec: Mapping[str, Any], *, model: str = "custom", field_prefix: str = "registers") -> RegisterMap:
    """Build a RegisterMap from a config-like dict (the `[evse.meter.registers.*]` tables):

        {"energy_import_wh": {"function": 4, "address": 0x48, "type": "float32",
                              "word_order": "big", "scale": 1000},
         "power_w": {...},
         "voltage_v": {"function": 4, "address": [0, 2, 4], "type": "float32"},  # one per phase
         "current_a": [{...}, {...}, {...}]}                                   # or a list of tables

    energy_import_wh and power_w are required; voltage_v and current_a are optional. Errors are
    RegisterMapError naming the field, e.g. "registers.power_w.type: ..."."""
    if not isinstance(spec, Mapping):
        raise RegisterMapError(f"{field_prefix}: must be a table of quantities")
    unknown = sorted(set(spec) - set(QUANTITIES))
    if unknown:
        raise RegisterMapError(f"{field_prefix}.{unknown[0]}: unknown quantity (expected one of {', '.join(QUANTITIES)})")
    for required in ("energy_import_wh", "power_w"):
        if required not in spec:
            raise RegisterMapError(f"{field_prefix}.{required}: missing (required)")
    energy = _spec_from_table(spec["energy_import_wh"], f"{field_prefix}.energy_import_wh", per_phase=False)[0]
    power = _spec_from_table(spec["power_w"], f"{field_prefix}.power_w", per_phase=False)[0]
    phases: dict[str, tuple[RegisterSpec, ...]] = {}
    for q in PHASE_QUANTITIES:
        if q not in spec:
            phases[q] = ()
            continue
        value = spec[q]
        if isinstance(value, Sequence) and not isinstance(value, (str, bytes)):
            if not 1 <= len(value) <= 3:
                raise RegisterMapError(f"{field_prefix}.{q}: give 1 to 3 phase tables")
            specs: list[RegisterSpec] = []
            for i, table in enumerate(value):
                specs += _spec_from_table(table, f"{field_prefix}.{q}[{i}]", per_phase=False)
            phases[q] = tuple(specs)
        else:
            phases[q] = tuple(_spec_from_table(value, f"{field_prefix}.{q}", per_phase=True))
    return RegisterMap(model=model, source_citation="defined in firmware.toml", energy_import_wh=energy,
                       power_w=power, voltage_v=phases["voltage_v"], current_a=phases["current_a"])


def _spec_from_table(table: Any, where: str, *, per_phase: bool) -> list[RegisterSpec]:
    if not isinstance(table, Mapping):
        raise RegisterMapError(f"{where}: must be a table with function, address, type")
    unknown = sorted(set(table) - _SPEC_KEYS)
    if unknown:
        raise RegisterMapError(f"{where}.{unknown[0]}: unknown key (expected {', '.join(sorted(_SPEC_KEYS))})")
    for key in ("function", "address", "type"):
        if key not in table:
            raise RegisterMapError(f"{where}.{key}: missing (required)")
    function = table["function"]
    if not isinstance(function, int) or isinstance(function, bool) or function not in FUNCTIONS:
        raise RegisterMapError(f"{where}.function: {function!r} must be 3 (holding registers) or 4 (input registers)")
    type_ = table["type"]
    if not isinstance(type_, str) or type_ not in TYPE_REGISTERS:
        raise RegisterMapError(f"{where}.type: {type_!r} is not one of {', '.join(TYPE_REGISTERS)}")
    word_order = table.get("word_order", "big")
    if not isinstance(word_order, str) or word_order not in WORD_ORDERS:
        raise RegisterMapError(f"{where}.word_order: {word_order!r} is not one of {', '.join(WORD_ORDERS)}")
    scale = table.get("scale", 1.0)
    if not isinstance(scale, (int, float)) or isinstance(scale, bool) or not math.isfinite(scale) or scale == 0:
        raise RegisterMapError(f"{where}.scale: {scale!r} must be a finite, non-zero number")
    exponent_address = table.get("exponent_address")
    if exponent_address is not None:
        _check_field_address(f"{where}.exponent_address", exponent_address, 1)
    address = table["address"]
    addresses: list[Any]
    is_list = isinstance(address, Sequence) and not isinstance(address, (str, bytes))
    if is_list:
        if not per_phase:
            raise RegisterMapError(f"{where}.address: a list of addresses is only allowed in a single voltage_v or current_a table")
        if not 1 <= len(address) <= 3:
            raise RegisterMapError(f"{where}.address: give 1 to 3 addresses (L1, L2, L3)")
        addresses = list(address)
    else:
        addresses = [address]
    specs = []
    for i, a in enumerate(addresses):
        name = f"{where}.address" + (f"[{i}]" if is_list else "")
        _check_field_address(name, a, TYPE_REGISTERS[type_])
        specs.append(RegisterSpec(function=function, address=a, type=type_, word_order=word_order,
                                  scale=float(scale), exponent_address=exponent_address))
    return specs


def _check_field_address(where: str, address: Any, count: int) -> None:
    try:
        _check_address("address", address, count)
    except RegisterMapError:
        raise RegisterMapError(f"{where}: {address!r} must be an integer register address 0..{0xFFFF - count + 1}") from None
