"""SysfsPwm against a temporary directory laid out like /sys/class/pwm."""
from __future__ import annotations

import errno
from pathlib import Path

import pytest

from chargepoint.evse.iec61851 import duty_for_current
from drivers.pilot.fakes import FakePwmSysfs
from drivers.pilot.sysfs_pwm import PwmError, SysfsPwm


class KernelModel:
    """Checks each write against the kernel's rules, as the real sysfs would refuse it."""

    def __init__(self, channel_dir: Path) -> None:
        self.dir = channel_dir
        self.log: list[tuple[str, str]] = []

    def check(self, path: Path, value: object) -> None:
        name, text = path.name, str(value)
        self.log.append((name, text))
        if path.parent != self.dir:
            return
        state = {attr: (self.dir / attr).read_text().strip() for attr in ("period", "duty_cycle", "enable")}
        state[name] = text
        period, duty = int(state["period"]), int(state["duty_cycle"])
        if name in ("period", "duty_cycle", "enable", "polarity") and (period == 0 or duty > period):
            raise AssertionError(f"kernel would refuse {name}={text}: period={period}, duty={duty}")
        if name == "polarity" and state["enable"] == "1":
            raise AssertionError("kernel would refuse a polarity change while enabled")


class CheckedPwm(SysfsPwm):
    model: KernelModel

    def _write(self, name: str | Path, value: object) -> None:
        path = name if isinstance(name, Path) else self.channel_dir / name
        self.model.check(path, value)
        super()._write(name, value)


@pytest.fixture
def sysfs(tmp_path: Path) -> FakePwmSysfs:
    return FakePwmSysfs(tmp_path / "pwm")


def make(sysfs: FakePwmSysfs, cls: type[SysfsPwm] = SysfsPwm, **kwargs: object) -> SysfsPwm:
    pwm = cls(chip=0, channel=0, root=sysfs.root, sleep=sysfs.kernel_sleep, **kwargs)  # type: ignore[arg-type]
    if isinstance(pwm, CheckedPwm):
        pwm.model = KernelModel(pwm.channel_dir)
    return pwm


def test_open_exports_and_configures_period_before_duty(sysfs: FakePwmSysfs) -> None:
    pwm = make(sysfs, CheckedPwm)
    pwm.open()
    assert sysfs.exports == [0] and pwm.exported_by_us
    assert sysfs.values() == {"period": "1000000", "duty_cycle": "0", "enable": "0", "polarity": "normal"}
    # The kernel model checked every write: on a fresh channel (period 0) only the period may go first.
    assert pwm.model.log == [("export", "0"), ("period", "1000000")]  # type: ignore[attr-defined]


def test_duty_in_nanoseconds_and_enable(sysfs: FakePwmSysfs) -> None:
    pwm = make(sysfs, CheckedPwm).open()
    pwm.set_duty_percent(duty_for_current(16))  # 26.666...%
    assert sysfs.read("duty_cycle") == "266667"
    pwm.enable()
    assert sysfs.read("enable") == "1"
    pwm.set_duty_percent(duty_for_current(32))  # 53.333...%
    assert sysfs.read("duty_cycle") == "533333"
    pwm.set_duty_percent(100.0)
    assert sysfs.read("duty_cycle") == "1000000"
    pwm.set_duty_percent(0.0)
    assert sysfs.read("duty_cycle") == "0"
    pwm.disable()
    assert sysfs.read("enable") == "0"
    assert sysfs.read("period") == "1000000"


def test_unchanged_values_are_not_written_again(sysfs: FakePwmSysfs) -> None:
    pwm = make(sysfs, CheckedPwm).open()
    pwm.set_duty_percent(50.0)
    pwm.enable()
    before = len(pwm.model.log)  # type: ignore[attr-defined]
    pwm.set_duty_percent(50.0)
    pwm.enable()
    assert len(pwm.model.log) == before  # type: ignore[attr-defined]


def test_duty_is_clamped_to_the_period_and_range_checked(sysfs: FakePwmSysfs) -> None:
    pwm = make(sysfs).open()
    pwm.set_duty_ns(5_000_000)
    assert sysfs.read("duty_cycle") == "1000000"
    with pytest.raises(ValueError):
        pwm.set_duty_percent(100.5)


def test_other_frequency_gives_its_period(sysfs: FakePwmSysfs) -> None:
    pwm = make(sysfs, frequency_hz=2000).open()
    assert pwm.period_ns == 500_000 and sysfs.read("period") == "500000"


def test_an_already_exported_channel_is_used_as_it_is(sysfs: FakePwmSysfs) -> None:
    (sysfs.root / "pwmchip0" / "export").write_text("0")
    sysfs.kernel()
    sysfs.exports.clear()
    pwm = make(sysfs, CheckedPwm).open()
    assert sysfs.exports == [] and not pwm.exported_by_us
    assert "export" not in [n for n, _ in pwm.model.log]  # type: ignore[attr-defined]


def test_leftover_duty_above_the_new_period_is_lowered_first(sysfs: FakePwmSysfs) -> None:
    (sysfs.root / "pwmchip0" / "export").write_text("0")
    sysfs.kernel()
    ch = sysfs.channel()
    (ch / "period").write_text("20000000\n")  # left by a previous user: 50 Hz servo
    (ch / "duty_cycle").write_text("1500000\n")
    (ch / "enable").write_text("1\n")
    pwm = make(sysfs, CheckedPwm).open()  # the kernel model raises on any out-of-order write
    assert pwm.model.log[:3] == [("enable", "0"), ("duty_cycle", "0"), ("period", "1000000")]  # type: ignore[attr-defined]
    assert sysfs.values()["period"] == "1000000"


def test_inversed_polarity_is_written_while_disabled(sysfs: FakePwmSysfs) -> None:
    pwm = make(sysfs, CheckedPwm, polarity="inversed").open()
    assert sysfs.read("polarity") == "inversed"
    assert ("polarity", "inversed") in pwm.model.log  # type: ignore[attr-defined]


def test_export_that_never_appears_times_out_naming_the_files(sysfs: FakePwmSysfs) -> None:
    pwm = SysfsPwm(root=sysfs.root, sleep=lambda s: None, export_timeout_s=0.05)
    with pytest.raises(PwmError) as err:
        pwm.open()
    text = str(err.value)
    assert "export" in text and "pwm0" in text and "not ready" in text
    assert err.value.errno == errno.ETIMEDOUT


def test_missing_chip_names_the_path_and_the_overlay(tmp_path: Path) -> None:
    with pytest.raises(PwmError) as err:
        SysfsPwm(chip=2, root=tmp_path).open()
    assert "pwmchip2" in str(err.value) and "dtoverlay" in str(err.value)


def test_channel_beyond_npwm_is_refused(sysfs: FakePwmSysfs) -> None:
    with pytest.raises(PwmError) as err:
        SysfsPwm(channel=5, root=sysfs.root, sleep=sysfs.kernel_sleep).open()
    assert "npwm" in str(err.value) and "no channel 5" in str(err.value)


def test_write_error_names_the_file(sysfs: FakePwmSysfs) -> None:
    pwm = make(sysfs).open()
    duty = sysfs.channel() / "duty_cycle"
    duty.unlink()
    duty.mkdir()  # writing it now fails (EISDIR), as a refused write would
    with pytest.raises(PwmError) as err:
        pwm.set_duty_percent(10.0)
    assert str(duty) in str(err.value) and "100000" in str(err.value)


def test_close_disables_and_unexports(sysfs: FakePwmSysfs) -> None:
    pwm = make(sysfs).open()
    pwm.set_duty_percent(10.0)
    pwm.enable()
    pwm.close()
    assert sysfs.read("enable") == "0"
    assert (sysfs.root / "pwmchip0" / "unexport").read_text() == "0"
    sysfs.kernel()
    assert not sysfs.channel().exists()


def test_bad_arguments(sysfs: FakePwmSysfs) -> None:
    with pytest.raises(ValueError):
        SysfsPwm(root=sysfs.root, polarity="upside-down")
    with pytest.raises(ValueError):
        SysfsPwm(root=sysfs.root, frequency_hz=0)
