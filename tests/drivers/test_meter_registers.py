"""Register maps as data: decoding of every type and word order, the six built-in maps, read
planning and `custom_map` validation (pure functions, no I/O)."""
from __future__ import annotations

import math
import tomllib

import pytest
from pymodbus.client import AsyncModbusTcpClient

from drivers.meter.maps import ABB_B23, EM340, ISKRA_WM3M4, MODELS, SDM72D_M_V2, SDM120, SDM630, get_map
from drivers.meter.registers import (
    TYPE_REGISTERS,
    ReadBlock,
    RegisterMap,
    RegisterMapError,
    RegisterSpec,
    custom_map,
    decode_registers,
    encode_registers,
    plan_reads,
    register_image,
)

# ---- decoding ------------------------------------------------------------------------------------

KNOWN = [
    # (registers as on the wire, type, word order, value)
    ([0xFFFF], "int16", "big", -1),
    ([0x8000], "int16", "little", -32768),
    ([0xFFFF], "uint16", "big", 65535),
    ([0xFFFF, 0xFFFE], "int32", "big", -2),
    ([0xFFFE, 0xFFFF], "int32", "little", -2),
    ([0x0001, 0x0002], "uint32", "big", 0x00010002),
    ([0x0002, 0x0001], "uint32", "little", 0x00010002),
    ([0x4366, 0x199A], "float32", "big", 230.10000610351562),
    ([0x199A, 0x4366], "float32", "little", 230.10000610351562),
    ([0x0102, 0x0304, 0x0506, 0x0708], "uint64", "big", 0x0102030405060708),
    ([0x0708, 0x0506, 0x0304, 0x0102], "uint64", "little", 0x0102030405060708),
    ([0xFFFF, 0xFFFF, 0xFFFF, 0xFFFE], "int64", "big", -2),
    ([0xFFFE, 0xFFFF, 0xFFFF, 0xFFFF], "int64", "little", -2),
    ([0xFE00, 0x59E4], "t5", "big", 230.12),  # 10^-2 × 23012
    ([0x0300, 0x0007], "t5", "big", 7000.0),  # 10^3 × 7
    ([0x00FF, 0xFFFB], "t6", "big", -5.0),  # 10^0 × -5
    ([0xFFFB, 0x00FF], "t6", "little", -5.0),
    ([0xFF7F, 0xFFFF], "t6", "big", 838860.7),  # largest positive mantissa, 10^-1
]


@pytest.mark.parametrize(("registers", "type_", "order", "value"), KNOWN)
def test_decode_known_vectors(registers: list[int], type_: str, order: str, value: float) -> None:
    assert decode_registers(registers, type_, order) == pytest.approx(value)


@pytest.mark.parametrize(("registers", "type_", "order", "value"), KNOWN)
def test_encode_is_the_inverse(registers: list[int], type_: str, order: str, value: float) -> None:
    encoded = encode_registers(value, type_, order)
    assert decode_registers(encoded, type_, order) == pytest.approx(value)
    if type_ not in ("t5", "t6"):  # decade formats may pick another exponent for the same value
        assert encoded == registers


@pytest.mark.parametrize("order", ["big", "little"])
@pytest.mark.parametrize(("type_", "value"), [("int16", -1234), ("uint16", 54321), ("int32", -123456789),
                                              ("uint32", 4000000000), ("float32", 7360.5),
                                              ("int64", -(2**40) - 7), ("uint64", 2**63 + 11)])
def test_agrees_with_pymodbus_converters(type_: str, value: float, order: str) -> None:
    dt = getattr(AsyncModbusTcpClient.DATATYPE, type_.upper())
    theirs = AsyncModbusTcpClient.convert_to_registers(value, dt, word_order=order)
    assert encode_registers(value, type_, order) == theirs
    assert decode_registers(theirs, type_, order) == AsyncModbusTcpClient.convert_from_registers(theirs, dt, word_order=order)


def test_decode_rejects_bad_input() -> None:
    with pytest.raises(RegisterMapError, match="needs 2 register"):
        decode_registers([1], "float32")
    with pytest.raises(RegisterMapError, match="type 'float64'"):
        decode_registers([1, 2, 3, 4], "float64")
    with pytest.raises(RegisterMapError, match="word_order 'middle'"):
        decode_registers([1, 2], "int32", "middle")
    with pytest.raises(RegisterMapError, match="16-bit"):
        decode_registers([0x10000], "uint16")
    with pytest.raises(RegisterMapError, match="negative"):
        encode_registers(-1.0, "t5")


def test_spec_scale_and_exponent() -> None:
    energy = RegisterSpec(4, 0x0048, "float32", scale=1000.0)
    assert energy.count == 2
    assert energy.decode([0x42F6, 0xE979]) == pytest.approx(123456.0, abs=0.01)  # 123.456 kWh
    counter = RegisterSpec(4, 418, "int32", exponent_address=414)
    assert counter.decode([0, 1234], exponent=1) == 12340.0
    assert counter.decode(counter.encode(5670.0, exponent=1), exponent=1) == 5670.0


@pytest.mark.parametrize(("kwargs", "message"), [
    ({"function": 6}, "function 6"),
    ({"type": "double"}, "type 'double'"),
    ({"word_order": "mixed"}, "word_order 'mixed'"),
    ({"address": -1}, "address -1"),
    ({"address": 0xFFFF}, "address 65535"),  # float32 needs 2 registers
    ({"scale": 0}, "scale 0"),
    ({"scale": math.nan}, "scale nan"),
    ({"exponent_address": 70000}, "exponent_address 70000"),
])
def test_spec_validation(kwargs: dict, message: str) -> None:
    fields = {"function": 4, "address": 0, "type": "float32"} | kwargs
    with pytest.raises(RegisterMapError, match=message):
        RegisterSpec(**fields)


# ---- built-in maps -------------------------------------------------------------------------------

def _addresses(specs: tuple[RegisterSpec, ...]) -> list[int]:
    return [s.address for s in specs]


def test_eastron_maps_follow_the_protocol_sheets() -> None:
    for m in (SDM630, SDM72D_M_V2):
        assert {s.function for _, s in m.specs()} == {4}
        assert {s.type for _, s in m.specs()} == {"float32"}
        assert _addresses(m.voltage_v) == [0x0000, 0x0002, 0x0004]
        assert _addresses(m.current_a) == [0x0006, 0x0008, 0x000A]
        assert m.power_w.address == 0x0034
        assert (m.energy_import_wh.address, m.energy_import_wh.scale) == (0x0048, 1000.0)
    assert (_addresses(SDM120.voltage_v), _addresses(SDM120.current_a), SDM120.power_w.address,
            SDM120.energy_import_wh.address) == ([0x0000], [0x0006], 0x000C, 0x0048)


def test_abb_em340_iskra_maps() -> None:
    assert (ABB_B23.energy_import_wh.function, ABB_B23.energy_import_wh.address, ABB_B23.energy_import_wh.type,
            ABB_B23.energy_import_wh.scale) == (3, 0x5000, "uint64", 10.0)
    assert _addresses(ABB_B23.voltage_v) == [0x5B00, 0x5B02, 0x5B04]
    assert _addresses(ABB_B23.current_a) == [0x5B0C, 0x5B0E, 0x5B10]
    assert (ABB_B23.power_w.address, ABB_B23.power_w.type, ABB_B23.power_w.scale) == (0x5B14, "int32", 0.01)
    assert {s.word_order for _, s in EM340.specs()} == {"little"}
    assert _addresses(EM340.current_a) == [0x000C, 0x000E, 0x0010]
    assert (EM340.power_w.address, EM340.power_w.scale) == (0x0028, 0.1)
    assert (EM340.energy_import_wh.address, EM340.energy_import_wh.scale) == (0x0034, 100.0)
    assert ISKRA_WM3M4.energy_import_wh.exponent_address == 414
    assert ISKRA_WM3M4.default_device_id == 33
    assert ISKRA_WM3M4.unverified  # addresses not confirmed against the manual are marked


def test_every_map_cites_its_source_and_round_trips() -> None:
    for name, m in MODELS.items():
        assert m.source_citation and m.model == name
        phases = len(m.voltage_v)
        volts, amps = (231.5, 229.9, 230.4)[:phases], (15.25, 14.5, 16.0)[:phases]
        image = register_image(m, energy_import_wh=98765.0, power_w=10350.0, voltage_v=volts, current_a=amps)
        for _, spec in m.specs():
            assert spec.address in image[spec.function]
        energy = m.energy_import_wh
        regs = [image[energy.function][energy.address + i] for i in range(energy.count)]
        exponent = 0
        if energy.exponent_address is not None:
            exponent = int(decode_registers([image[energy.function][energy.exponent_address]], "int16"))
        assert energy.decode(regs, exponent) == pytest.approx(98765.0, rel=1e-6, abs=50)


def test_get_map_aliases_and_unknown_model() -> None:
    assert get_map("SDM630") is SDM630
    assert get_map("wm3m4c") is ISKRA_WM3M4
    assert get_map("b23") is ABB_B23
    with pytest.raises(RegisterMapError, match="model: 'sdm999' is not a known meter"):
        get_map("sdm999")


# ---- read planning -------------------------------------------------------------------------------

def test_plan_merges_only_adjacent_registers_by_default() -> None:
    assert plan_reads(SDM630) == [ReadBlock(4, 0x0000, 12), ReadBlock(4, 0x0034, 2), ReadBlock(4, 0x0048, 2)]
    assert plan_reads(ISKRA_WM3M4)[-2:] == [ReadBlock(4, 414, 1), ReadBlock(4, 418, 2)]


def test_plan_uses_documented_gaps_and_limits() -> None:
    assert plan_reads(ABB_B23) == [ReadBlock(3, 0x5000, 4), ReadBlock(3, 0x5B00, 22)]
    assert plan_reads(ABB_B23, max_gap=0)[1:] == [ReadBlock(3, 0x5B00, 6), ReadBlock(3, 0x5B0C, 6),
                                                  ReadBlock(3, 0x5B14, 2)]
    assert len(plan_reads(SDM630, max_gap=100, max_count=60)) == 2  # 0..53 and 72..73
    mixed = RegisterMap("x", "test", RegisterSpec(3, 0, "uint32"), RegisterSpec(4, 2, "int16"))
    assert plan_reads(mixed) == [ReadBlock(3, 0, 2), ReadBlock(4, 2, 1)]  # never across function codes


# ---- custom maps ---------------------------------------------------------------------------------

FIRMWARE_TOML = """
[[evse]]
id = 1

[evse.meter]
driver = "modbus-rtu"
model = "custom"
device_id = 7
bus = "rs485-1"

[evse.meter.registers.energy_import_wh]
function = 3
address = 0x0100
type = "uint64"
word_order = "little"
scale = 10.0

[evse.meter.registers.power_w]
function = 4
address = 0x0010
type = "int32"
scale = 0.1

[evse.meter.registers.voltage_v]
function = 4
address = [0x0000, 0x0002, 0x0004]
type = "float32"

[[evse.meter.registers.current_a]]
function = 4
address = 0x0020
type = "uint16"
scale = 0.01

[[evse.meter.registers.current_a]]
function = 4
address = 0x0021
type = "uint16"
scale = 0.01
"""


def test_custom_map_from_firmware_toml() -> None:
    meter = tomllib.loads(FIRMWARE_TOML)["evse"][0]["meter"]
    m = custom_map(meter["registers"])
    assert m.model == "custom"
    assert m.energy_import_wh == RegisterSpec(3, 0x0100, "uint64", "little", 10.0)
    assert m.power_w == RegisterSpec(4, 0x0010, "int32", "big", 0.1)
    assert _addresses(m.voltage_v) == [0, 2, 4]
    assert _addresses(m.current_a) == [0x20, 0x21]
    assert plan_reads(m) == [ReadBlock(3, 0x0100, 4), ReadBlock(4, 0, 6), ReadBlock(4, 0x10, 2), ReadBlock(4, 0x20, 2)]


def test_custom_map_minimal() -> None:
    m = custom_map({"energy_import_wh": {"function": 4, "address": 0, "type": "float32"},
                    "power_w": {"function": 4, "address": 2, "type": "float32"}})
    assert (m.voltage_v, m.current_a) == ((), ())
    assert m.energy_import_wh.word_order == "big" and m.energy_import_wh.scale == 1.0


GOOD = {"function": 4, "address": 0, "type": "float32"}


@pytest.mark.parametrize(("registers", "message"), [
    ({"power_w": GOOD}, r"registers\.energy_import_wh: missing"),
    ({"energy_import_wh": GOOD}, r"registers\.power_w: missing"),
    ({"energy_import_wh": GOOD, "power_w": GOOD, "frequency_hz": GOOD}, r"registers\.frequency_hz: unknown quantity"),
    ({"energy_import_wh": GOOD, "power_w": GOOD | {"type": "foat32"}}, r"registers\.power_w\.type: 'foat32'"),
    ({"energy_import_wh": GOOD | {"function": 2}, "power_w": GOOD}, r"registers\.energy_import_wh\.function: 2"),
    ({"energy_import_wh": GOOD | {"function": 4.0}, "power_w": GOOD}, r"registers\.energy_import_wh\.function: 4\.0"),
    ({"energy_import_wh": GOOD, "power_w": GOOD | {"word_order": "CDAB"}}, r"registers\.power_w\.word_order: 'CDAB'"),
    ({"energy_import_wh": GOOD | {"scale": 0}, "power_w": GOOD}, r"registers\.energy_import_wh\.scale: 0"),
    ({"energy_import_wh": GOOD | {"scale": "1000"}, "power_w": GOOD}, r"registers\.energy_import_wh\.scale: '1000'"),
    ({"energy_import_wh": {"function": 4, "type": "float32"}, "power_w": GOOD}, r"registers\.energy_import_wh\.address: missing"),
    ({"energy_import_wh": GOOD | {"address": -4}, "power_w": GOOD}, r"registers\.energy_import_wh\.address: -4"),
    ({"energy_import_wh": GOOD | {"address": [0, 2]}, "power_w": GOOD}, r"registers\.energy_import_wh\.address: a list"),
    ({"energy_import_wh": GOOD | {"adress": 1}, "power_w": GOOD}, r"registers\.energy_import_wh\.adress: unknown key"),
    ({"energy_import_wh": GOOD, "power_w": GOOD, "voltage_v": GOOD | {"address": [0, 2, 4, 6]}},
     r"registers\.voltage_v\.address: give 1 to 3"),
    ({"energy_import_wh": GOOD, "power_w": GOOD, "current_a": [GOOD, GOOD | {"address": "x"}]},
     r"registers\.current_a\[1\]\.address: 'x'"),
    ({"energy_import_wh": GOOD, "power_w": GOOD, "voltage_v": GOOD | {"address": [0, 65535]}},
     r"registers\.voltage_v\.address\[1\]: 65535"),
    ({"energy_import_wh": 5, "power_w": GOOD}, r"registers\.energy_import_wh: must be a table"),
    ({"energy_import_wh": GOOD, "power_w": GOOD | {"type": ["float32"]}}, r"registers\.power_w\.type: \['float32'\]"),
    ({"energy_import_wh": GOOD, "power_w": GOOD, "voltage_v": GOOD | {"address": "x"}}, r"registers\.voltage_v\.address: 'x'"),
])
def test_custom_map_errors_name_the_field(registers: dict, message: str) -> None:
    with pytest.raises(RegisterMapError, match=message):
        custom_map(registers)


def test_every_type_is_accepted_in_custom_maps() -> None:
    for type_ in TYPE_REGISTERS:
        m = custom_map({"energy_import_wh": {"function": 3, "address": 10, "type": type_},
                        "power_w": {"function": 3, "address": 0, "type": type_, "word_order": "little"}})
        assert m.power_w.count == TYPE_REGISTERS[type_]
