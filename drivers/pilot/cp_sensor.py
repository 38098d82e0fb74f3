"""Control-pilot sensing through an ADS1115: plateau levels -> IEC 61851 state A-F + diode check.

Why plateaus need hardware help. The pilot is a 1 kHz square wave (±12 V, 1 ms period, high
time 50 µs at 5 % up to ~970 µs). The ADS1115 is a delta-sigma converter: at its fastest,
860 SPS, one conversion integrates the input over ~1.16 ms, i.e. more than a whole PWM period,
so on the raw pilot it returns the *average* (duty x high + (1 - duty) x low), never a plateau,
and taking the max/min of several such samples does not help. The board must therefore present
held plateau levels, and this sensor supports the two usual front ends:

- two channels (`channel` = high plateau, `low_channel` = low plateau): a positive peak
  detector (fast attack, bleed-down of a few ms so a falling level is seen within the budget)
  on one ADC input and a negative peak detector on another. One conversion of each is enough
  (`samples=1`); the max of the high samples and the min of the low samples are used when
  `samples` > 1;
- one channel (`low_channel=None`) behind a sample-and-hold clocked from the PWM that
  alternately holds the end of the high part (~3 % of the period, after the first 10 µs) and
  the middle of the low part (~75 %), as Tinkerforge samples. Consecutive conversions then see
  both plateaus: the max of the last `samples` (>= 2) is the high plateau, the min the low.

Constant levels (state A without PWM, state F, x1 states) need none of this. Samples are ADC
volts mapped to pilot volts by the board's divider: `cp_v = adc_v * gain + offset`.

Classification of the high plateau (charging-facts §1.2, detection windows ±1 V):

| State | window (V)     |
|-------|----------------|
| A     | 11 ... 13      |
| B     | 8 ... 10       |
| C     | 5 ... 7        |
| D     | 2 ... 4        |
| E     | -1 ... +1      |
| F     | -13 ... -11    |

Hysteresis: the 1 V gaps between neighbouring windows (10-11, 7-8, 4-5, 1-2 V) are the
hysteresis band: a level there keeps the previous state (with no previous state: the nearer
window). A level in no window and no such gap (between -11 and -1 V, above 13 V, below -13 V)
is not a state an EV can produce: it is reported as E, which the core handles as a fault
(contactor open) until the level is valid again. A bus error or stale data also reads as E, and
does not disturb the remembered state.

Diode check (charging-facts §1.4): while PWM runs, the low plateau must be near -12 V; above
`diode_threshold_v` (-10 V, Tinkerforge's threshold) the EV diode is missing or shorted.

The sensor returns the classified instantaneous state; the core debounces it
(chargepoint/evse/debounce.py, 20 ms within the 50 ms detection budget)."""
from __future__ import annotations

import logging
from collections.abc import Sequence
from itertools import pairwise

from drivers.pilot.ads1115 import Ads1115, Ads1115Scanner, AdcError
from hal.clock import Clock, SystemClock
from hal.types import CpReading, CpState

log = logging.getLogger(__name__)

Window = tuple[CpState, float, float]

CP_WINDOWS: tuple[Window, ...] = (
    (CpState.F, -13.0, -11.0),
    (CpState.E, -1.0, 1.0),
    (CpState.D, 2.0, 4.0),
    (CpState.C, 5.0, 7.0),
    (CpState.B, 8.0, 10.0),
    (CpState.A, 11.0, 13.0),
)
HOLD_GAP_MAX_V = 1.0  # gaps up to this wide are hysteresis bands
DIODE_THRESHOLD_V = -10.0


def classify_cp(volts: float, previous: CpState | None = None, windows: Sequence[Window] = CP_WINDOWS,
                hold_gap_max_v: float = HOLD_GAP_MAX_V) -> CpState:
    """State for a high-plateau level in pilot volts; see the module docstring."""
    for state, low, high in windows:
        if low <= volts <= high:
            return state
    ordered = sorted(windows, key=lambda w: w[1])
    for (below, _, below_high), (above, above_low, _) in pairwise(ordered):
        if below_high < volts < above_low:
            if above_low - below_high > hold_gap_max_v + 1e-9:
                return CpState.E
            if previous is not None:
                return previous
            return above if (above_low - volts) < (volts - below_high) else below
    return CpState.E


Divider = tuple[float, float]  # (gain, offset): cp_v = adc_v * gain + offset


class CpSensor:
    """Reads and classifies the pilot (see the module docstring).

    `adc` is either an `Ads1115` (blocking: `samples` single-shot conversions per channel on
    every read, ~1.3 ms each at 860 SPS) or an `Ads1115Scanner` scanning `channel` (and
    `low_channel`): non-blocking, the read polls the scanner and uses the newest `samples`
    results per channel, which must be younger than `max_age_s`. `pga`/`data_rate` apply to the
    blocking mode (the scanner has its own)."""

    def __init__(self, adc: Ads1115 | Ads1115Scanner, channel: int, divider: Divider, *,
                 low_channel: int | None = None, low_divider: Divider | None = None, samples: int | None = None,
                 pga: float = 4.096, data_rate: int = 860, windows: Sequence[Window] = CP_WINDOWS,
                 hold_gap_max_v: float = HOLD_GAP_MAX_V, diode_threshold_v: float = DIODE_THRESHOLD_V,
                 max_age_s: float = 0.1, clock: Clock | None = None) -> None:
        if samples is None:
            samples = 1 if low_channel is not None else 2
        if samples < 1:
            raise ValueError("CP samples must be at least 1")
        if low_channel is None and samples < 2:
            raise ValueError("a single CP channel needs samples >= 2 (a sample-and-hold alternating between plateaus)")
        if isinstance(adc, Ads1115Scanner):
            for ch in (channel, low_channel):
                if ch is not None and ch not in adc.channels:
                    raise ValueError(f"CP channel {ch} is not scanned (scanner channels: {adc.channels})")
            if samples > adc.history:
                raise ValueError("CP samples exceed the scanner's history")
        self.adc = adc
        self.channel = channel
        self.low_channel = low_channel
        self.divider = divider
        self.low_divider = low_divider or divider
        self.samples = samples
        self.pga = pga
        self.data_rate = data_rate
        self.windows = tuple(windows)
        self.hold_gap_max_v = hold_gap_max_v
        self.diode_threshold_v = diode_threshold_v
        self.max_age_s = max_age_s
        self._clock = clock or SystemClock()
        self.state: CpState | None = None  # last classification from a good sample
        self.last_high_v: float | None = None
        self.last_low_v: float | None = None
        self.errors = 0
        self.last_error: str | None = None

    @property
    def high_channel(self) -> int:
        return self.channel

    def sample(self) -> tuple[float, float]:
        """(high plateau, low plateau) in pilot volts. Raises AdcError."""
        if self.low_channel is None:
            values = self._adc_volts(self.channel)
            cp = [v * self.divider[0] + self.divider[1] for v in values]
            return max(cp), min(cp)
        highs = [v * self.divider[0] + self.divider[1] for v in self._adc_volts(self.channel)]
        lows = [v * self.low_divider[0] + self.low_divider[1] for v in self._adc_volts(self.low_channel)]
        return max(highs), min(lows)

    def read(self, pwm_on: bool = False) -> CpReading:
        """The classified state now; `pwm_on` enables the diode check."""
        if isinstance(self.adc, Ads1115Scanner):
            self.adc.poll()
        try:
            high, low = self.sample()
        except AdcError as exc:
            if self.errors == 0 or str(exc) != self.last_error:
                log.warning("control pilot unreadable, reported as state E: %s", exc)
            self.errors += 1
            self.last_error = str(exc)
            return CpReading(CpState.E)
        self.last_high_v, self.last_low_v = high, low
        self.state = classify_cp(high, self.state, self.windows, self.hold_gap_max_v)
        diode_fault = pwm_on and self.state is not CpState.F and low > self.diode_threshold_v
        return CpReading(self.state, diode_fault=diode_fault)

    def _adc_volts(self, channel: int) -> list[float]:
        adc = self.adc
        if isinstance(adc, Ads1115Scanner):
            recent = adc.recent(channel, self.samples)
            if not recent:
                raise AdcError(f"no conversion of AIN{channel} yet ({adc.last_error or 'scanner not polled'})")
            age = self._clock.monotonic() - recent[-1][0]
            if age > self.max_age_s:
                raise AdcError(f"newest conversion of AIN{channel} is {age * 1000:.0f} ms old"
                               f" ({adc.last_error or 'scanner not polled'})")
            return [v for _, v in recent]
        return [adc.read_single_ended(channel, self.pga, self.data_rate) for _ in range(self.samples)]
