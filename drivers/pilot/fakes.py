"""Stand-ins for the pilot hardware, for tests and bench scripts without a board.

- `FakeAds1115Bus`: an smbus2-like bus with one ADS1115 behind it. Config writes start a
  conversion of the selected input (after `busy_polls` config reads it reports done); the
  conversion register returns the voltage set for that input, coded for the configured PGA.
- `FakePwmSysfs`: a directory laid out like /sys/class/pwm with pwmchipN (`export`,
  `unexport`, `npwm`); `kernel()` plays the kernel's part after a write to `export`/`unexport`
  (creating or removing pwmM/ with `period`, `duty_cycle`, `enable`, `polarity`). Pass
  `fake.kernel_sleep` as SysfsPwm's `sleep` to have it run while the driver waits."""
from __future__ import annotations

import shutil
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

from drivers.pilot.ads1115 import FULL_SCALE_FOR_BITS, OS_BIT, REG_CONFIG, REG_CONVERSION


@dataclass
class FakeAds1115Bus:
    address: int = 0x48
    volts: dict[int, float] = field(default_factory=lambda: {0: 0.0, 1: 0.0, 2: 0.0, 3: 0.0})
    # per input, values taken in turn by successive conversions (a sample-and-hold alternating
    # between the pilot's plateaus); overrides `volts` for that input
    sequences: dict[int, list[float]] = field(default_factory=dict)
    busy_polls: int = 0  # config reads that still report "converting" after a start
    fail: bool = False  # every transfer raises OSError(121) while set
    config: int = 0x8583  # power-on default
    conversion: int = 0
    writes: list[int] = field(default_factory=list)  # config words written
    reads: list[int] = field(default_factory=list)  # registers read
    _pending: int = 0
    _turns: dict[int, int] = field(default_factory=dict)

    def write_i2c_block_data(self, i2c_addr: int, register: int, data: Sequence[int], force: bool | None = None) -> None:
        self._check(i2c_addr)
        if register != REG_CONFIG or len(data) != 2:
            raise OSError(22, f"fake ADS1115: unexpected write to register {register}: {list(data)}")
        word = (data[0] << 8) | data[1]
        self.writes.append(word)
        self.config = word & ~OS_BIT
        if word & OS_BIT:
            self._pending = self.busy_polls
            self.conversion = self._code(word)
            if self._pending == 0:
                self.config |= OS_BIT

    def read_i2c_block_data(self, i2c_addr: int, register: int, length: int, force: bool | None = None) -> list[int]:
        self._check(i2c_addr)
        self.reads.append(register)
        if register == REG_CONFIG:
            value = self.config
            if not value & OS_BIT:
                if self._pending > 0:
                    self._pending -= 1
                if self._pending == 0:
                    self.config |= OS_BIT
        elif register == REG_CONVERSION:
            value = self.conversion & 0xFFFF
        else:
            raise OSError(22, f"fake ADS1115: no register {register}")
        return [(value >> 8) & 0xFF, value & 0xFF][:length]

    def _code(self, word: int) -> int:
        mux = (word >> 12) & 0b111
        if not mux & 0b100:
            raise OSError(22, "fake ADS1115: only single-ended inputs are simulated")
        full_scale = FULL_SCALE_FOR_BITS[(word >> 9) & 0b111]
        channel = mux & 0b11
        if self.sequences.get(channel):
            turn = self._turns.get(channel, 0)
            self._turns[channel] = turn + 1
            volts = self.sequences[channel][turn % len(self.sequences[channel])]
        else:
            volts = self.volts[channel]
        code = round(volts / full_scale * 32768)
        return max(-32768, min(32767, code))

    def _check(self, i2c_addr: int) -> None:
        if i2c_addr != self.address or self.fail:
            raise OSError(121, "Remote I/O error")


class FakePwmSysfs:
    def __init__(self, root: Path, chips: int = 1, npwm: int = 2) -> None:
        self.root = Path(root)
        self.exports: list[int] = []
        for n in range(chips):
            chip = self.root / f"pwmchip{n}"
            chip.mkdir(parents=True, exist_ok=True)
            (chip / "npwm").write_text(f"{npwm}\n")
            (chip / "export").write_text("")
            (chip / "unexport").write_text("")

    def kernel(self) -> None:
        """Act on what was written to export/unexport since the last call."""
        for chip in sorted(self.root.glob("pwmchip*")):
            for name in ("export", "unexport"):
                text = (chip / name).read_text().strip()
                if not text:
                    continue
                (chip / name).write_text("")
                channel = int(text)
                pwm = chip / f"pwm{channel}"
                if name == "export":
                    self.exports.append(channel)
                    pwm.mkdir(exist_ok=True)
                    for attr, value in (("period", "0"), ("duty_cycle", "0"), ("enable", "0"), ("polarity", "normal")):
                        (pwm / attr).write_text(value + "\n")
                else:
                    shutil.rmtree(pwm, ignore_errors=True)

    def kernel_sleep(self, seconds: float) -> None:
        self.kernel()

    def channel(self, chip: int = 0, channel: int = 0) -> Path:
        return self.root / f"pwmchip{chip}" / f"pwm{channel}"

    def read(self, attr: str, chip: int = 0, channel: int = 0) -> str:
        return (self.channel(chip, channel) / attr).read_text().strip()

    def values(self, chip: int = 0, channel: int = 0) -> dict[str, str]:
        return {attr: self.read(attr, chip, channel) for attr in ("period", "duty_cycle", "enable", "polarity")}
