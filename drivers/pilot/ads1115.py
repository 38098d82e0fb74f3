"""TI ADS1115 16-bit I2C ADC through an injected smbus2-style bus.

Registers (datasheet SBAS444, §9.6): 0x00 conversion (signed 16-bit, big-endian), 0x01 config:

    bit 15     OS         write 1: start a single conversion; read 0: converting, 1: idle
    bits 14:12 MUX        100..111: AIN0..AIN3 against GND (single-ended)
    bits 11:9  PGA        000 ±6.144 V, 001 ±4.096, 010 ±2.048, 011 ±1.024, 100 ±0.512, 101 ±0.256
    bit 8      MODE       1: single-shot (power-down between conversions)
    bits 7:5   DR         000 8 SPS ... 111 860 SPS
    bits 4:0   comparator COMP_QUE = 11: comparator disabled (ALERT/RDY high-Z)

Words go over the bus MSB first, so the block calls (`write_i2c_block_data`,
`read_i2c_block_data`) are used, never the SMBus word calls (little-endian).

Two ways to read:

- `read_single_ended()`: start, wait the conversion time, poll OS, read. Blocking
  (1.2 ms + bus time at 860 SPS): for set-up, diagnostics and bench tools.
- `Ads1115Scanner`: never waits. Each `poll()` collects the conversion started by the previous
  one (once due, checking OS and the MUX it belongs to) and starts the next channel of a
  round-robin schedule. The control loop calls it every step (through CpSensor and
  AdcProximity, which may share one chip), each call costing two or three short I2C transfers."""
from __future__ import annotations

import logging
import threading
import time
from collections import deque
from collections.abc import Callable, Iterable, Sequence
from typing import Protocol

from hal.clock import Clock, SystemClock

log = logging.getLogger(__name__)

REG_CONVERSION = 0x00
REG_CONFIG = 0x01

OS_BIT = 1 << 15
MODE_SINGLE_SHOT = 1 << 8
COMP_DISABLE = 0b11

PGA_BITS: dict[float, int] = {6.144: 0b000, 4.096: 0b001, 2.048: 0b010, 1.024: 0b011, 0.512: 0b100, 0.256: 0b101}
DATA_RATE_BITS: dict[int, int] = {8: 0b000, 16: 0b001, 32: 0b010, 64: 0b011, 128: 0b100, 250: 0b101,
                                  475: 0b110, 860: 0b111}
FULL_SCALE_FOR_BITS = {bits: fs for fs, bits in PGA_BITS.items()} | {0b110: 0.256, 0b111: 0.256}
DATA_RATE_FOR_BITS = {bits: dr for dr, bits in DATA_RATE_BITS.items()}


class I2cBus(Protocol):
    """The part of smbus2.SMBus this driver uses."""

    def write_i2c_block_data(self, i2c_addr: int, register: int, data: Sequence[int], force: bool | None = None) -> None: ...

    def read_i2c_block_data(self, i2c_addr: int, register: int, length: int, force: bool | None = None) -> list[int]: ...


class AdcError(Exception):
    """The ADC did not answer, or answered something unusable."""


def config_word(channel: int, pga: float = 4.096, data_rate: int = 860, start: bool = True) -> int:
    """Config register value for a single-shot, single-ended conversion with the comparator off."""
    if channel not in range(4):
        raise ValueError(f"ADS1115 channel must be 0-3, got {channel}")
    if pga not in PGA_BITS:
        raise ValueError(f"ADS1115 PGA full scale must be one of {sorted(PGA_BITS)} V, got {pga}")
    if data_rate not in DATA_RATE_BITS:
        raise ValueError(f"ADS1115 data rate must be one of {sorted(DATA_RATE_BITS)} SPS, got {data_rate}")
    return ((OS_BIT if start else 0) | ((0b100 | channel) << 12) | (PGA_BITS[pga] << 9) | MODE_SINGLE_SHOT
            | (DATA_RATE_BITS[data_rate] << 5) | COMP_DISABLE)


def decode_config(word: int) -> dict[str, object]:
    """The fields of a config word (for diagnostics and tests)."""
    mux = (word >> 12) & 0b111
    return {
        "os": bool(word & OS_BIT),
        "mux": mux,
        "channel": mux - 0b100 if mux & 0b100 else None,
        "pga": FULL_SCALE_FOR_BITS[(word >> 9) & 0b111],
        "single_shot": bool(word & MODE_SINGLE_SHOT),
        "data_rate": DATA_RATE_FOR_BITS[(word >> 5) & 0b111],
        "comparator_disabled": (word & 0b11) == COMP_DISABLE,
    }


def conversion_time_s(data_rate: int) -> float:
    """Time until a single-shot conversion is certainly done: one sample period, +10 % for the
    internal oscillator's tolerance, +50 µs for wake-up from power-down."""
    return 1.1 / data_rate + 50e-6


def code_to_volts(code: int, pga: float) -> float:
    return code * pga / 32768.0


class Ads1115:
    def __init__(self, bus: I2cBus, address: int = 0x48, *, sleep: Callable[[float], None] = time.sleep,
                 max_polls: int = 20) -> None:
        self.bus = bus
        self.address = address
        self._sleep = sleep
        self.max_polls = max_polls

    # ---- register access -----------------------------------------------------------------------

    def _write_config(self, word: int) -> None:
        try:
            self.bus.write_i2c_block_data(self.address, REG_CONFIG, [(word >> 8) & 0xFF, word & 0xFF])
        except OSError as exc:
            raise AdcError(f"ADS1115 at 0x{self.address:02x}: config write failed: {exc.strerror or exc}") from exc

    def _read_register(self, register: int) -> int:
        try:
            data = self.bus.read_i2c_block_data(self.address, register, 2)
        except OSError as exc:
            raise AdcError(f"ADS1115 at 0x{self.address:02x}: read of register {register} failed: "
                                      f"{exc.strerror or exc}") from exc
        if len(data) != 2:
            raise AdcError(f"ADS1115 at 0x{self.address:02x}: register {register} gave {len(data)} bytes, not 2")
        return (data[0] << 8) | data[1]

    def read_config(self) -> int:
        return self._read_register(REG_CONFIG)

    def start_single_ended(self, channel: int, pga: float = 4.096, data_rate: int = 860) -> None:
        """Start one conversion of AINx against GND; returns at once."""
        self._write_config(config_word(channel, pga, data_rate, start=True))

    def busy(self) -> bool:
        return not (self.read_config() & OS_BIT)

    def read_conversion_code(self) -> int:
        raw = self._read_register(REG_CONVERSION)
        return raw - 0x10000 if raw & 0x8000 else raw

    def read_conversion(self, pga: float = 4.096) -> float:
        """The conversion register in volts for the full scale `pga`."""
        return code_to_volts(self.read_conversion_code(), pga)

    # ---- blocking read ---------------------------------------------------------------------------

    def read_single_ended(self, channel: int, pga: float = 4.096, data_rate: int = 860) -> float:
        """One single-shot conversion of AINx against GND, in volts at the ADC pin. Blocks for
        the conversion time (about 1.2 ms at 860 SPS) plus the bus transfers."""
        self.start_single_ended(channel, pga, data_rate)
        self._sleep(conversion_time_s(data_rate))
        for _ in range(self.max_polls):
            if not self.busy():
                return self.read_conversion(pga)
            self._sleep(0.1 / data_rate)
        raise AdcError(f"ADS1115 at 0x{self.address:02x}: conversion on AIN{channel} not ready "
                             f"after {self.max_polls} polls")


class Ads1115Scanner:
    """Non-blocking round-robin conversions over some channels of one ADS1115.

    `schedule` is the order channels are converted in (default: `channels` once each); repeat a
    channel to sample it more often, e.g. (0, 1, 0, 1, 2) for CP high, CP low and PP. Every
    result is kept with its time in a short history per channel (`history` values).

    The first `latest`/`recent` on a channel with no result yet primes the scanner: one
    blocking read of every channel (start-up only)."""

    def __init__(self, adc: Ads1115, channels: Iterable[int], *, pga: float = 4.096, data_rate: int = 860,
                 schedule: Sequence[int] | None = None, clock: Clock | None = None, history: int = 8) -> None:
        self.adc = adc
        self.channels = tuple(dict.fromkeys(channels))
        self.schedule = tuple(schedule) if schedule is not None else self.channels
        if not self.schedule or any(ch not in self.channels for ch in self.schedule):
            raise ValueError("the scanner schedule must be a non-empty list of its channels")
        for ch in self.channels:
            config_word(ch, pga, data_rate)  # validates channel, PGA and data rate
        self.pga = pga
        self.data_rate = data_rate
        self._clock = clock or SystemClock()
        self.history = history
        self._values: dict[int, deque[tuple[float, float]]] = {ch: deque(maxlen=history) for ch in self.channels}
        self._next = 0
        self._inflight: tuple[int, float] | None = None  # (channel, started at)
        self._conversion_s = conversion_time_s(data_rate)
        self._primed = False
        self.errors = 0
        self.last_error: str | None = None
        # The control loop's thread reads through the scanner; the optional `run` service polls
        # from the event loop. One conversation with the chip at a time.
        self._mutex = threading.RLock()

    def poll(self) -> None:
        """Collect the finished conversion (if due) and start the next one. Never waits; bus
        errors are counted, not raised (stale data shows as age in `latest`)."""
        with self._mutex:
            self._poll()

    def _poll(self) -> None:
        now = self._clock.monotonic()
        if self._inflight is not None:
            channel, started = self._inflight
            if now - started < self._conversion_s:
                return
            try:
                config = self.adc.read_config()
                if not config & OS_BIT:
                    if now - started < 10 * self._conversion_s:
                        return  # still converting: look again next call
                    raise AdcError(f"ADS1115 at 0x{self.adc.address:02x}: conversion on AIN{channel} still busy after "
                                   f"{(now - started) * 1000:.1f} ms; restarting")
                self._inflight = None
                mux = (config >> 12) & 0b111
                if mux != (0b100 | channel):
                    raise AdcError(f"ADS1115 at 0x{self.adc.address:02x}: MUX is {mux:03b}, expected AIN{channel}"
                                   " (another user of the chip?)")
                volts = self.adc.read_conversion(self.pga)
            except AdcError as exc:
                self._inflight = None
                self._error(exc)
            else:
                self._values[channel].append((started, volts))  # the signal as it was at the start
        channel = self.schedule[self._next]
        self._next = (self._next + 1) % len(self.schedule)
        try:
            self.adc.start_single_ended(channel, self.pga, self.data_rate)
        except AdcError as exc:
            self._error(exc)
        else:
            self._inflight = (channel, now)

    async def run(self, period_s: float = 0.0025) -> None:
        """Optional service: poll every `period_s` on the clock, besides the polls the readers
        make each control step, so every channel is fresh at every step (at the cost of about
        0.3 ms of I2C per conversion on the event loop). Without it a channel converted every
        other step is up to 30 ms old when read."""
        while True:
            self.poll()
            await self._clock.sleep(period_s)

    def prime(self) -> None:
        """One blocking conversion of every channel (start-up)."""
        with self._mutex:
            self._prime()

    def _prime(self) -> None:
        self._primed = True
        self._inflight = None
        for ch in self.channels:
            try:
                volts = self.adc.read_single_ended(ch, self.pga, self.data_rate)
            except AdcError as exc:
                self._error(exc)
            else:
                self._values[ch].append((self._clock.monotonic(), volts))

    def latest(self, channel: int) -> tuple[float, float] | None:
        """(time, volts) of the newest result of `channel`, or None."""
        with self._mutex:
            values = self._history(channel)
            return values[-1] if values else None

    def recent(self, channel: int, n: int) -> list[tuple[float, float]]:
        """Up to `n` newest (time, volts) results of `channel`, oldest first."""
        with self._mutex:
            return list(self._history(channel))[-n:]

    def _history(self, channel: int) -> deque[tuple[float, float]]:
        if channel not in self._values:
            raise ValueError(f"channel {channel} is not scanned (scanner channels: {self.channels})")
        with self._mutex:
            if not self._values[channel] and not self._primed:
                self._prime()
            return self._values[channel]

    def _error(self, exc: AdcError) -> None:
        if self.errors == 0 or str(exc) != self.last_error:
            log.warning("%s", exc)
        self.errors += 1
        self.last_error = str(exc)
