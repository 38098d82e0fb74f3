"""Proximity pilot (Type 2 socket): the cable's coding resistor Rc (PP to PE) read through an ADC.

Circuit assumed: a pull-up `pull_up_ohm` from `supply_v` to PP, optionally a fixed resistor
`parallel_ohm` from PP to PE on the board, and the PP node (through a divider of gain
`divider_gain`, PP volts = ADC volts x gain) on an ADS1115 input. Then

    R_measured = pull_up * V / (supply - V);   Rc = 1 / (1/R_measured - 1/parallel)

Classification (charging-facts §2, EVerest's accept ranges):

| Cable       | Rc nominal | accepted       |
|-------------|------------|----------------|
| 13 A        | 1.5 kΩ     | 1100 ... 2460 Ω |
| 20 A        | 680 Ω      | 400 ... 936 Ω   |
| 32 A        | 220 Ω      | 164 ... 308 Ω   |
| 63 A (70 A) | 100 Ω      | 80 ... 140 Ω    |

Between two ranges the lower ampacity of the two neighbours applies (e.g. 1000 Ω -> 13 A,
150 Ω -> 32 A); 60 ... 80 Ω -> 63 A and 2460 ... 4500 Ω -> 13 A, their only neighbours.
Above 4500 Ω (or open): no cable, `ampacity_a=None`. Below 60 Ω: error (PP shorted). An
unreadable ADC is an error too. The 63 A code means 70 A on single-phase EVSEs: the core's call."""
from __future__ import annotations

import logging
import math
from collections.abc import Sequence

from drivers.pilot.ads1115 import Ads1115, Ads1115Scanner, AdcError
from hal.clock import Clock, SystemClock
from hal.types import ProximityReading

log = logging.getLogger(__name__)

PpRange = tuple[int, float, float]  # ampacity, min ohm, max ohm

PP_RANGES: tuple[PpRange, ...] = (
    (13, 1100.0, 2460.0),
    (20, 400.0, 936.0),
    (32, 164.0, 308.0),
    (63, 80.0, 140.0),
)
NO_CABLE_ABOVE_OHM = 4500.0
ERROR_BELOW_OHM = 60.0


def classify_pp(ohm: float, ranges: Sequence[PpRange] = PP_RANGES, no_cable_above_ohm: float = NO_CABLE_ABOVE_OHM,
                error_below_ohm: float = ERROR_BELOW_OHM) -> ProximityReading:
    if math.isnan(ohm):
        return ProximityReading(ampacity_a=None, error=True)
    if ohm > no_cable_above_ohm:
        return ProximityReading(ampacity_a=None)
    if ohm < error_below_ohm:
        return ProximityReading(ampacity_a=None, error=True)
    for amps, low, high in ranges:
        if low <= ohm <= high:
            return ProximityReading(ampacity_a=amps)
    neighbours = [min((r for r in ranges if r[1] > ohm), key=lambda r: r[1], default=None),
                  max((r for r in ranges if r[2] < ohm), key=lambda r: r[2], default=None)]
    amps = min(r[0] for r in neighbours if r is not None)
    return ProximityReading(ampacity_a=amps)


def pp_resistance(pp_v: float, pull_up_ohm: float, supply_v: float, parallel_ohm: float | None = None) -> float:
    """Rc for a PP level; math.inf when open."""
    if pp_v >= supply_v * 0.999:
        return math.inf
    measured = pull_up_ohm * max(pp_v, 0.0) / (supply_v - pp_v)
    if parallel_ohm is None:
        return measured
    if measured >= parallel_ohm * 0.999:
        return math.inf
    if measured == 0.0:
        return 0.0
    return 1.0 / (1.0 / measured - 1.0 / parallel_ohm)


class AdcProximity:
    """Implements hal.contracts.ProximityPilot.

    `adc` is an `Ads1115` (blocking: one single-shot conversion, at most every
    `min_interval_s`, the cached reading in between) or an `Ads1115Scanner` scanning `channel`
    (non-blocking; results older than `max_age_s` count as an error)."""

    def __init__(self, adc: Ads1115 | Ads1115Scanner, channel: int, pull_up_ohm: float, supply_v: float = 3.3, *,
                 divider_gain: float = 1.0, parallel_ohm: float | None = None, pga: float = 4.096,
                 data_rate: int = 860, ranges: Sequence[PpRange] = PP_RANGES,
                 no_cable_above_ohm: float = NO_CABLE_ABOVE_OHM, error_below_ohm: float = ERROR_BELOW_OHM,
                 min_interval_s: float = 0.05, max_age_s: float = 0.5, clock: Clock | None = None) -> None:
        if pull_up_ohm <= 0 or supply_v <= 0:
            raise ValueError("PP pull_up_ohm and supply_v must be positive")
        if isinstance(adc, Ads1115Scanner) and channel not in adc.channels:
            raise ValueError(f"PP channel {channel} is not scanned (scanner channels: {adc.channels})")
        self.adc = adc
        self.channel = channel
        self.pull_up_ohm = pull_up_ohm
        self.supply_v = supply_v
        self.divider_gain = divider_gain
        self.parallel_ohm = parallel_ohm
        self.pga = pga
        self.data_rate = data_rate
        self.ranges = tuple(ranges)
        self.no_cable_above_ohm = no_cable_above_ohm
        self.error_below_ohm = error_below_ohm
        self.min_interval_s = min_interval_s
        self.max_age_s = max_age_s
        self._clock = clock or SystemClock()
        self._last: tuple[float, ProximityReading] | None = None
        self.last_resistance_ohm: float | None = None
        self.errors = 0
        self.last_error: str | None = None

    def resistance_ohm(self) -> float:
        """Rc now (math.inf when open). Raises AdcError."""
        return pp_resistance(self._adc_volts() * self.divider_gain, self.pull_up_ohm, self.supply_v, self.parallel_ohm)

    def read(self) -> ProximityReading:
        now = self._clock.monotonic()
        if isinstance(self.adc, Ads1115Scanner):
            self.adc.poll()
        elif self._last is not None and now - self._last[0] < self.min_interval_s:
            return self._last[1]
        try:
            ohm = self.resistance_ohm()
        except AdcError as exc:
            if self.errors == 0 or str(exc) != self.last_error:
                log.warning("proximity pilot unreadable, reported as an error: %s", exc)
            self.errors += 1
            self.last_error = str(exc)
            reading = ProximityReading(ampacity_a=None, error=True)
        else:
            self.last_resistance_ohm = ohm
            reading = classify_pp(ohm, self.ranges, self.no_cable_above_ohm, self.error_below_ohm)
        self._last = (now, reading)
        return reading

    def _adc_volts(self) -> float:
        adc = self.adc
        if isinstance(adc, Ads1115Scanner):
            latest = adc.latest(self.channel)
            if latest is None:
                raise AdcError(f"no conversion of AIN{self.channel} yet ({adc.last_error or 'scanner not polled'})")
            age = self._clock.monotonic() - latest[0]
            if age > self.max_age_s:
                raise AdcError(f"newest conversion of AIN{self.channel} is {age * 1000:.0f} ms old"
                               f" ({adc.last_error or 'scanner not polled'})")
            return latest[1]
        return adc.read_single_ended(self.channel, self.pga, self.data_rate)
