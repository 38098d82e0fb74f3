"""Watching a device for a while on the injected clock: pilot readings over a settling time, and
an input that has to follow an output within a deadline.

Some drivers measure more than the hal contract returns (a real pilot knows its plateau
voltages). The doctor shows those where a driver exposes them, and works without them."""
from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from hal.clock import Clock
from hal.contracts import ControlPilot
from hal.types import CpState

PILOT_SAMPLE_S = 0.12  # a few peak-detector time constants after an output change
PILOT_PERIOD_S = 0.005
FOLLOW_PERIOD_S = 0.002


@dataclass(frozen=True)
class PilotSample:
    state: CpState
    diode_fault: bool
    high_v: float | None  # plateau voltages, where the driver measures them
    low_v: float | None
    states_seen: tuple[CpState, ...]  # over the second half of the sampling time
    adc_error: str | None  # the sensing path failed during the sampling

    @property
    def stable(self) -> bool:
        return len(set(self.states_seen)) <= 1


def _sensor(pilot: ControlPilot) -> Any:
    return getattr(pilot, "sensor", None)


def plateau_windows(pilot: ControlPilot) -> dict[CpState, tuple[float, float]]:
    """The voltage window of each state as the pilot's own sensor classifies (empty when the
    driver does not measure voltages)."""
    windows = getattr(_sensor(pilot), "windows", ()) or ()
    return {state: (low, high) for state, low, high in windows}


def diode_threshold_v(pilot: ControlPilot) -> float | None:
    return getattr(_sensor(pilot), "diode_threshold_v", None)


async def sample_pilot(pilot: ControlPilot, clock: Clock, duration_s: float = PILOT_SAMPLE_S,
                       period_s: float = PILOT_PERIOD_S) -> PilotSample:
    """Read the pilot every `period_s` for `duration_s`; the last reading is the result, the
    second half tells whether the level is steady."""
    sensor = _sensor(pilot)
    errors_before = getattr(sensor, "errors", 0)
    readings = []
    end = clock.monotonic() + duration_s
    while True:
        readings.append(pilot.read())
        if clock.monotonic() >= end:
            break
        await clock.sleep(period_s)
    last = readings[-1]
    tail = readings[len(readings) // 2:]
    high_v, low_v = getattr(sensor, "last_high_v", None), getattr(sensor, "last_low_v", None)
    reported = getattr(pilot, "plateaus", None)  # a co-processor reports its own measurement
    if high_v is None and callable(reported) and (plateaus := reported()) is not None:
        high_v, low_v = plateaus
    adc_error = None
    if getattr(sensor, "errors", 0) > errors_before:
        adc_error = getattr(sensor, "last_error", None) or "the pilot's sensing failed"
    return PilotSample(
        state=last.state,
        diode_fault=last.diode_fault,
        high_v=high_v,
        low_v=low_v,
        states_seen=tuple(r.state for r in tail),
        adc_error=adc_error,
    )


async def follows(read: Callable[[], bool | None], expected: bool, within_s: float, clock: Clock,
                  *, meanwhile: Callable[[], None] | None = None) -> float | None:
    """Seconds until `read()` returned `expected`, or None when it did not within `within_s`.
    `meanwhile` runs at every look (the heartbeat keeps an external watchdog relay fed)."""
    start = clock.monotonic()
    while True:
        if meanwhile is not None:
            meanwhile()
        now = clock.monotonic()
        if read() == expected:
            return now - start
        if now - start >= within_s:
            return None
        await clock.sleep(min(FOLLOW_PERIOD_S, start + within_s - now))


def fmt_v(volts: float | None) -> str:
    return "n/a" if volts is None else f"{volts:+.1f} V"
