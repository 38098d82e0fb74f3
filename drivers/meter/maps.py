"""Register maps of the supported meter models, as data.

Addresses are Modbus PDU addresses (0-based, what goes on the wire); the makers' tables number
input registers 30001.. and holding registers 40001.., i.e. one more. Each map cites where its
addresses come from; addresses that could not be confirmed against the maker's document are
listed in the map's `unverified` field (and in docs/meters.md) instead of being passed off as
certain.
"""
from __future__ import annotations

from drivers.meter.registers import RegisterMap, RegisterMapError, RegisterSpec


def _phases(function: int, addresses: tuple[int, ...], type_: str, scale: float = 1.0,
            word_order: str = "big") -> tuple[RegisterSpec, ...]:
    return tuple(RegisterSpec(function, a, type_, word_order, scale) for a in addresses)


# Eastron SDM630 (Modbus V2 / MID): "SDM630 Modbus Smart Meter Modbus Protocol Implementation
# V1.5" (Eastron), input registers (FC 04), IEEE-754 float32, high word first:
#   30001/3/5  0x0000/0x0002/0x0004  phase 1/2/3 line-to-neutral volts   [V]
#   30007/9/11 0x0006/0x0008/0x000A  phase 1/2/3 current                 [A]
#   30053      0x0034                total system power                  [W]
#   30073      0x0048                total import kWh                    [kWh]  (0x0156 is total
#                                                                        kWh = import + export)
# Factory defaults: address 1, 9600 baud, 8N1 ("one stop bit and no parity, default").
SDM630 = RegisterMap(
    model="sdm630",
    source_citation="Eastron SDM630 Modbus Protocol Implementation V1.5, input registers 30001-30011, 30053, 30073",
    energy_import_wh=RegisterSpec(4, 0x0048, "float32", scale=1000.0),
    power_w=RegisterSpec(4, 0x0034, "float32"),
    voltage_v=_phases(4, (0x0000, 0x0002, 0x0004), "float32"),
    current_a=_phases(4, (0x0006, 0x0008, 0x000A), "float32"),
    default_baudrate=9600, default_parity="N",
)

# Eastron SDM120-Modbus (single phase): "SDM120 Modbus Protocol" (Eastron; same layout as the
# SDM630 phase-1 registers), input registers (FC 04), float32, high word first:
#   30001 0x0000 voltage [V]; 30007 0x0006 current [A]; 30013 0x000C active power [W];
#   30073 0x0048 import active energy [kWh].
# Factory default speed of the SDM120 is 2400 baud (not 9600): check the meter's set-up menu.
SDM120 = RegisterMap(
    model="sdm120",
    source_citation="Eastron SDM120 Modbus Protocol, input registers 30001, 30007, 30013, 30073",
    energy_import_wh=RegisterSpec(4, 0x0048, "float32", scale=1000.0),
    power_w=RegisterSpec(4, 0x000C, "float32"),
    voltage_v=_phases(4, (0x0000,), "float32"),
    current_a=_phases(4, (0x0006,), "float32"),
    default_baudrate=2400, default_parity="N",
    unverified=("default_baudrate: 2400 is the usual SDM120 factory setting; not re-read from the protocol sheet",),
)

# Eastron SDM72D-M-2 (v2, meter code 0x0089): "Eastron SDM72D-M-v2 Modbus Protocol", input
# registers (FC 04), float32, high word first. Unlike the v1 SDM72D-M (which only had total
# power 0x0034 and energies), v2 has per-phase values at the SDM630 addresses:
#   0x0000/2/4 L1/L2/L3 voltage [V]; 0x0006/8/A L1/L2/L3 current [A];
#   0x0034 total system power [W]; 0x0048 import active energy [kWh].
# Cross-checked with the acpiccolo/SDM72-Powermeter register table (based on that document).
# Factory defaults: address 1, 9600 baud, 8N1.
SDM72D_M_V2 = RegisterMap(
    model="sdm72d-m-v2",
    source_citation="Eastron SDM72D-M-v2 Modbus Protocol, input registers 0x0000-0x000A, 0x0034, 0x0048",
    energy_import_wh=RegisterSpec(4, 0x0048, "float32", scale=1000.0),
    power_w=RegisterSpec(4, 0x0034, "float32"),
    voltage_v=_phases(4, (0x0000, 0x0002, 0x0004), "float32"),
    current_a=_phases(4, (0x0006, 0x0008, 0x000A), "float32"),
    default_baudrate=9600, default_parity="N",
)

# ABB B23 (and B24): "B23/B24 User Manual", ABB document 2CMC485003M0201, revision C
# (2021-05-13), chapter "Communication with Modbus", holding registers (FC 03), big-endian:
#   0x5000 active import energy total, uint64, 0.01 kWh      → scale 10 Wh
#   0x5B00/02/04 voltage L1-N/L2-N/L3-N, uint32, 0.1 V
#   0x5B0C/0E/10 current L1/L2/L3, uint32, 0.01 A
#   0x5B14 active power total, int32, 0.01 W
# Cross-checked with openWB's B23 module (same addresses and resolutions).
ABB_B23 = RegisterMap(
    model="abb-b23",
    source_citation="ABB B23/B24 User Manual 2CMC485003M0201 rev. C (2021-05-13), Modbus register tables 0x5000, 0x5B00-0x5B14",
    energy_import_wh=RegisterSpec(3, 0x5000, "uint64", scale=10.0),
    power_w=RegisterSpec(3, 0x5B14, "int32", scale=0.01),
    voltage_v=_phases(3, (0x5B00, 0x5B02, 0x5B04), "uint32", scale=0.1),
    current_a=_phases(3, (0x5B0C, 0x5B0E, 0x5B10), "uint32", scale=0.01),
    default_baudrate=19200, default_parity="E",
    read_gap=6,  # 0x5B06-0x5B0B (L-L voltages) and 0x5B12 (neutral current) are documented
    unverified=("default_baudrate/default_parity: 19200 8E1 not confirmed; set them to what the meter's menu shows",),
)

# Carlo Gavazzi EM340 (EM300 series): "EM330, EM340, ET330, ET340 Communication Protocol",
# version 2 revision 17 (2021-07-05). INT32 values are sent least significant word first
# (word order "little"); the protocol answers both FC 03 and FC 04 for these registers, FC 03 is
# what field drivers use (Victron dbus-modbus-client, em340d):
#   0x0000/2/4 V L1-N/L2-N/L3-N, INT32, V×10      → scale 0.1
#   0x000C/E/10 A L1/L2/L3, INT32, A×1000         → scale 0.001
#   0x0028 W sys, INT32, W×10                     → scale 0.1   (0x0012 is W L1 only)
#   0x0034 kWh (+) TOT, INT32, kWh×10             → scale 100 Wh
# Factory defaults: address 1, 9600 baud, 8N1.
EM340 = RegisterMap(
    model="em340",
    source_citation="Carlo Gavazzi EM330/EM340/ET330/ET340 Communication Protocol v2 rev. 17 (2021-07-05), registers 0000h-0010h, 0028h, 0034h",
    energy_import_wh=RegisterSpec(3, 0x0034, "int32", "little", scale=100.0),
    power_w=RegisterSpec(3, 0x0028, "int32", "little", scale=0.1),
    voltage_v=_phases(3, (0x0000, 0x0002, 0x0004), "int32", scale=0.1, word_order="little"),
    current_a=_phases(3, (0x000C, 0x000E, 0x0010), "int32", scale=0.001, word_order="little"),
    default_baudrate=9600, default_parity="N",
    read_gap=6,  # 0x0006-0x000B are the documented L-L voltages
)

# Iskra WM3M4 / WM3M4C: "WM3M4 User's manual" v1.14, Iskra document 22433922, Modbus input
# registers (FC 04), as implemented by EVerest's RsIskraMeter module and Tinkerforge's
# evse-v2-bricklet (the manual itself could not be re-read here). Values use Iskra's
# decade-exponent formats T5 (unsigned) / T6 (signed): 8-bit power of ten + 24-bit mantissa.
#   30108/110/112  107/109/111  U L1/L2/L3 [V], T5
#   30127/129/131  126/128/130  I L1/L2/L3 [A], T6 (EVerest: T6; Tinkerforge: T5 - equal for I ≥ 0)
#   30141          140          P total [W], T6
#   30419          418          active energy import counter, int32, × 10^exponent Wh
#   30415          414          exponent of that counter (int16)
# Default address 33 at 115200 baud (both drivers above).
ISKRA_WM3M4 = RegisterMap(
    model="wm3m4",
    source_citation="Iskra WM3M4/WM3M4C User's manual v1.14 (doc. 22433922), input registers 30108-30112, 30127-30131, 30141, 30415, 30419",
    energy_import_wh=RegisterSpec(4, 418, "int32", scale=1.0, exponent_address=414),
    power_w=RegisterSpec(4, 140, "t6"),
    voltage_v=_phases(4, (107, 109, 111), "t5"),
    current_a=_phases(4, (126, 128, 130), "t6"),
    default_baudrate=115200, default_parity="N", default_device_id=33,
    unverified=(
        "all addresses: taken from EVerest RsIskraMeter / Tinkerforge evse-v2-bricklet, not from the manual itself",
        "energy_import_wh: unit of the counter (Wh × 10^exponent) inferred from those drivers; Tinkerforge marks it unclear",
        "default_parity: not confirmed",
    ),
)

MODELS: dict[str, RegisterMap] = {m.model: m for m in (SDM630, SDM120, SDM72D_M_V2, ABB_B23, EM340, ISKRA_WM3M4)}

_ALIASES = {
    "sdm630-v2": "sdm630", "sdm630v2": "sdm630",
    "sdm72": "sdm72d-m-v2", "sdm72dm-v2": "sdm72d-m-v2", "sdm72d-m-2": "sdm72d-m-v2", "sdm72v2": "sdm72d-m-v2",
    "b23": "abb-b23", "abb_b23": "abb-b23",
    "em340-din": "em340", "carlo-gavazzi-em340": "em340",
    "wm3m4c": "wm3m4", "iskra-wm3m4": "wm3m4",
}


def get_map(model: str) -> RegisterMap:
    """The built-in map for a model name (case-insensitive; a few common spellings accepted)."""
    key = model.strip().lower()
    key = _ALIASES.get(key, key)
    try:
        return MODELS[key]
    except KeyError:
        raise RegisterMapError(
            f"model: {model!r} is not a known meter (known: {', '.join(MODELS)}, or \"custom\")") from None
