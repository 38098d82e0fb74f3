"""Meter readings -> sampled values, in a protocol-neutral shape the adapters render."""
from __future__ import annotations

from typing import Any

from hal.types import MeterReading

Sample = dict[str, Any]


def samples_for(reading: MeterReading, measurands: list[str], context: str,
                offered_current_a: float | None = None) -> list[Sample]:
    """One sampled value per requested measurand (per phase where the measurand is phased).

    Phased measurands ("Voltage", "Current.Import") give one value per phase; a phase suffix
    ("Voltage.L1") asks for that phase alone."""
    out: list[Sample] = []
    for item in measurands:
        base, _, phase_no = item.partition(".L")
        if base == "Energy.Active.Import.Register":
            out.append(_sample(base, reading.energy_import_wh, "Wh", context))
        elif base == "Power.Active.Import":
            out.append(_sample(base, reading.power_w, "W", context))
        elif base == "Current.Offered" and offered_current_a is not None:
            out.append(_sample(base, offered_current_a, "A", context))
        elif base in ("Voltage", "Current.Import"):
            values = reading.voltage_v if base == "Voltage" else reading.current_a
            unit = "V" if base == "Voltage" else "A"
            for index, value in enumerate(values, start=1):
                if phase_no and str(index) != phase_no:
                    continue
                phase = f"L{index}-N" if base == "Voltage" else f"L{index}"
                out.append(_sample(base, value, unit, context, phase))
    return out


def _sample(measurand: str, value: float, unit: str, context: str, phase: str | None = None) -> Sample:
    sample: Sample = {"measurand": measurand, "value": round(float(value), 3), "unit": unit, "context": context}
    if phase is not None:
        sample["phase"] = phase
    return sample
