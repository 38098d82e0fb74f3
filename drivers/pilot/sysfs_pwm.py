"""A kernel hardware PWM channel through sysfs (/sys/class/pwm/pwmchipN/pwmM).

Kernel rules this follows (Documentation/driver-api/pwm.rst, drivers/pwm/sysfs.c):

- writing the channel number to `export` creates `pwmM/` (udev may need a moment to hand its
  files to the gpio/pwm group); writing an already exported channel fails with EBUSY, so an
  existing `pwmM/` is used as it is;
- every write (period, duty_cycle, enable, polarity) applies the channel's whole state, and a
  state with a zero period or duty_cycle > period is EINVAL. A fresh channel often has period
  0, so the period is written first (after lowering a leftover duty that would exceed the new
  period); the duty is clamped to the period;
- `polarity` ("normal"/"inversed") can only be changed while the channel is disabled.

Writes use os.open/os.write so a kernel error surfaces on the write that caused it, as a
PwmError naming the file. Values are cached: a call that changes nothing writes nothing.

Duty in nanoseconds: round(period_ns * percent / 100), Python's round (half to even): 1 kHz,
26.666...% (16 A) -> 266667 ns; 53.333...% (32 A) -> 533333 ns; the hardware's own resolution
(e.g. the RP1 PWM counts a 50 MHz clock: 20 ns steps) is coarser than 1 ns anyway."""
from __future__ import annotations

import errno
import os
import time
from collections.abc import Callable
from pathlib import Path

POLARITIES = ("normal", "inversed")


class PwmError(OSError):
    """A sysfs PWM file could not be written or read; the message names the file."""


class SysfsPwm:
    """One channel of a pwmchip. Construct, then `open()` (setup, may wait for the export):
    afterwards `set_duty_ns`/`set_duty_percent`/`enable`/`disable` are single short writes."""

    def __init__(self, chip: int = 0, channel: int = 0, root: Path = Path("/sys/class/pwm"),
                 frequency_hz: float = 1000, *, polarity: str = "normal", export_timeout_s: float = 2.0,
                 sleep: Callable[[float], None] = time.sleep, poll_s: float = 0.01) -> None:
        if frequency_hz <= 0:
            raise ValueError("PWM frequency must be positive")
        if polarity not in POLARITIES:
            raise ValueError(f"PWM polarity must be one of {POLARITIES}, got {polarity!r}")
        self.chip = chip
        self.channel = channel
        self.chip_dir = Path(root) / f"pwmchip{chip}"
        self.channel_dir = self.chip_dir / f"pwm{channel}"
        self.period_ns = round(1e9 / frequency_hz)
        self.polarity = polarity
        self.export_timeout_s = export_timeout_s
        self._sleep = sleep
        self._poll_s = poll_s
        self._duty_ns: int | None = None
        self._enabled: bool | None = None
        self.exported_by_us = False
        self.opened = False

    # ---- setup (blocking, not on the control path) ------------------------------------------

    def open(self) -> SysfsPwm:
        """Export the channel if needed, then: disabled, period, polarity, duty 0."""
        if not self.chip_dir.is_dir():
            raise PwmError(errno.ENOENT, f"{self.chip_dir}: no such PWM chip (is the PWM overlay enabled"
                                         " in config.txt, e.g. dtoverlay=pwm-2chan?)")
        npwm = self._read_int(self.chip_dir / "npwm", missing_ok=True)
        if npwm is not None and self.channel >= npwm:
            raise PwmError(errno.EINVAL, f"{self.chip_dir / 'npwm'}: chip has {npwm} channel(s), no channel {self.channel}")
        if not self.channel_dir.is_dir():
            self._write(self.chip_dir / "export", self.channel)
            self.exported_by_us = True
            self._wait_for_channel()
        # Every write below is applied by the kernel as a whole state, which must have a non-zero
        # period and duty <= period: a fresh channel often has period 0, so nothing but the
        # period may be written first, and only what differs is written.
        if self._read(self.channel_dir / "enable", missing_ok=True) == "1":
            self._write("enable", 0)
        self._enabled = False
        current_duty = self._read_int(self.channel_dir / "duty_cycle", missing_ok=True) or 0
        if current_duty > self.period_ns:
            self._write("duty_cycle", 0)
            current_duty = 0
        if self._read_int(self.channel_dir / "period", missing_ok=True) != self.period_ns:
            self._write("period", self.period_ns)
        current_polarity = self._read(self.channel_dir / "polarity", missing_ok=True)
        if current_polarity is not None and current_polarity != self.polarity:
            self._write("polarity", self.polarity)
        if current_duty != 0:
            self._write("duty_cycle", 0)
        self._duty_ns = 0
        self.opened = True
        return self

    def _wait_for_channel(self) -> None:
        files = [self.channel_dir / name for name in ("period", "duty_cycle", "enable")]
        waited = 0.0
        while True:
            if all(f.exists() and os.access(f, os.W_OK) for f in files):
                return
            if waited >= self.export_timeout_s:
                missing = [str(f) for f in files if not f.exists()]
                what = f"missing {', '.join(missing)}" if missing else "files not writable (udev rules for the pwm group?)"
                raise PwmError(errno.ETIMEDOUT, f"{self.chip_dir / 'export'}: channel {self.channel} exported but "
                                                f"{self.channel_dir} not ready after {self.export_timeout_s:.1f} s: {what}")
            self._sleep(self._poll_s)
            waited += self._poll_s

    def close(self, unexport: bool = True) -> None:
        """Disable, and unexport the channel (when `unexport`)."""
        if self.channel_dir.is_dir():
            self._write("enable", 0)
            self._enabled = False
            if unexport:
                self._write(self.chip_dir / "unexport", self.channel)
        self.opened = False

    # ---- the control path: each call at most one short write -------------------------------

    def set_duty_ns(self, duty_ns: int) -> None:
        duty_ns = max(0, min(int(duty_ns), self.period_ns))
        if duty_ns != self._duty_ns:
            self._write("duty_cycle", duty_ns)
            self._duty_ns = duty_ns

    def set_duty_percent(self, percent: float) -> None:
        if not 0.0 <= percent <= 100.0:
            raise ValueError(f"PWM duty must be within 0-100 %, got {percent}")
        self.set_duty_ns(self.duty_ns_for(percent))

    def duty_ns_for(self, percent: float) -> int:
        return round(self.period_ns * percent / 100.0)

    def enable(self) -> None:
        if self._enabled is not True:
            self._write("enable", 1)
            self._enabled = True

    def disable(self) -> None:
        if self._enabled is not False:
            self._write("enable", 0)
            self._enabled = False

    @property
    def duty_ns(self) -> int | None:
        return self._duty_ns

    @property
    def enabled(self) -> bool:
        return bool(self._enabled)

    # ---- file access -------------------------------------------------------------------------

    def _write(self, name: str | Path, value: object) -> None:
        path = name if isinstance(name, Path) else self.channel_dir / name
        data = str(value).encode("ascii")
        try:
            fd = os.open(path, os.O_WRONLY | os.O_TRUNC)
            try:
                os.write(fd, data)
            finally:
                os.close(fd)
        except OSError as exc:
            hint = ""
            if exc.errno == errno.EINVAL:
                hint = " (the kernel refused the value: duty above period, zero period, or polarity while enabled?)"
            elif exc.errno == errno.EBUSY:
                hint = " (already exported or in use by another driver)"
            elif exc.errno in (errno.EACCES, errno.EPERM):
                hint = " (permission: run as root or add a udev rule for the pwm/gpio group)"
            raise PwmError(exc.errno or errno.EIO, f"cannot write {value!r} to {path}: {exc.strerror or exc}{hint}") from exc

    def _read(self, path: Path, missing_ok: bool = False) -> str | None:
        try:
            return path.read_text(encoding="ascii").strip()
        except FileNotFoundError:
            if missing_ok:
                return None
            raise PwmError(errno.ENOENT, f"cannot read {path}: no such file") from None
        except OSError as exc:
            raise PwmError(exc.errno or errno.EIO, f"cannot read {path}: {exc.strerror or exc}") from exc

    def _read_int(self, path: Path, missing_ok: bool = False) -> int | None:
        text = self._read(path, missing_ok)
        if text is None or text == "":
            return None
        try:
            return int(text)
        except ValueError:
            raise PwmError(errno.EINVAL, f"{path}: expected an integer, read {text!r}") from None

    def __repr__(self) -> str:
        return f"SysfsPwm({self.channel_dir}, period={self.period_ns} ns)"
