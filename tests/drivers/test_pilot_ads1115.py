"""Ads1115 and Ads1115Scanner against a fake smbus2 bus."""
from __future__ import annotations

import asyncio

import pytest

from drivers.pilot.ads1115 import (
    REG_CONFIG,
    REG_CONVERSION,
    AdcError,
    Ads1115,
    Ads1115Scanner,
    config_word,
    conversion_time_s,
    decode_config,
)
from drivers.pilot.fakes import FakeAds1115Bus
from hal.clock import ManualClock

LSB_4V = 4.096 / 32768


def test_config_word_bits() -> None:
    # OS=1 | MUX=100 (AIN0/GND) | PGA=001 (±4.096) | MODE=1 | DR=111 (860) | COMP_QUE=11
    assert config_word(0, 4.096, 860) == 0b1_100_001_1_111_00011 == 0xC3E3
    # AIN3, ±2.048 V, 128 SPS
    assert config_word(3, 2.048, 128) == 0b1_111_010_1_100_00011 == 0xF583
    fields = decode_config(config_word(2, 6.144, 8))
    assert fields == {"os": True, "mux": 0b110, "channel": 2, "pga": 6.144, "single_shot": True, "data_rate": 8,
                      "comparator_disabled": True}
    assert config_word(1, start=False) & 0x8000 == 0


@pytest.mark.parametrize("kwargs", [{"channel": 4}, {"channel": 0, "pga": 3.3}, {"channel": 0, "data_rate": 1000}])
def test_config_word_refuses_bad_values(kwargs: dict) -> None:
    with pytest.raises(ValueError):
        config_word(**kwargs)


def test_conversion_time_covers_one_sample_with_margin() -> None:
    assert 1 / 860 < conversion_time_s(860) < 1.5e-3
    assert conversion_time_s(8) > 0.125


@pytest.mark.parametrize("channel", [0, 1, 2, 3])
def test_read_single_ended_writes_config_and_reads_the_right_channel(channel: int) -> None:
    bus = FakeAds1115Bus(volts={0: 0.5, 1: 1.5, 2: 2.5, 3: 3.3})
    sleeps: list[float] = []
    adc = Ads1115(bus, 0x48, sleep=sleeps.append)
    volts = adc.read_single_ended(channel, pga=4.096, data_rate=860)
    assert volts == pytest.approx(bus.volts[channel], abs=LSB_4V)
    assert len(bus.writes) == 1
    fields = decode_config(bus.writes[0])
    assert fields["os"] and fields["channel"] == channel and fields["pga"] == 4.096 and fields["data_rate"] == 860
    assert fields["single_shot"] and fields["comparator_disabled"]
    assert bus.reads == [REG_CONFIG, REG_CONVERSION]  # OS polled once, then the conversion
    assert sleeps == [conversion_time_s(860)]


@pytest.mark.parametrize("pga", [6.144, 4.096, 2.048, 1.024, 0.512, 0.256])
def test_volts_scale_with_the_pga(pga: float) -> None:
    bus = FakeAds1115Bus(volts={0: pga * 0.6})
    assert Ads1115(bus, sleep=lambda s: None).read_single_ended(0, pga=pga) == pytest.approx(pga * 0.6, abs=pga / 32768)


def test_negative_codes_are_signed_big_endian() -> None:
    bus = FakeAds1115Bus(volts={0: -0.25})
    adc = Ads1115(bus, sleep=lambda s: None)
    assert adc.read_single_ended(0) == pytest.approx(-0.25, abs=LSB_4V)
    assert bus.conversion == -2000
    assert adc.read_conversion_code() == -2000


def test_saturates_at_full_scale() -> None:
    bus = FakeAds1115Bus(volts={0: 5.0})
    assert Ads1115(bus, sleep=lambda s: None).read_single_ended(0, pga=4.096) == pytest.approx(4.096 * 32767 / 32768)


def test_polls_the_os_bit_until_the_conversion_is_done() -> None:
    bus = FakeAds1115Bus(volts={2: 1.0}, busy_polls=3)
    sleeps: list[float] = []
    adc = Ads1115(bus, sleep=sleeps.append)
    assert adc.read_single_ended(2, data_rate=128) == pytest.approx(1.0, abs=LSB_4V)
    assert bus.reads == [REG_CONFIG] * 4 + [REG_CONVERSION]  # three "busy" answers, then done
    assert sleeps[0] == conversion_time_s(128) and len(sleeps) == 4  # then a short wait per busy poll


def test_conversion_never_ready_is_an_error() -> None:
    bus = FakeAds1115Bus(busy_polls=1000)
    with pytest.raises(AdcError, match="not ready"):
        Ads1115(bus, sleep=lambda s: None, max_polls=5).read_single_ended(0)


def test_bus_errors_name_the_chip() -> None:
    bus = FakeAds1115Bus(fail=True)
    with pytest.raises(AdcError, match="0x48"):
        Ads1115(bus, sleep=lambda s: None).read_single_ended(0)
    with pytest.raises(AdcError, match="0x49"):
        Ads1115(FakeAds1115Bus(), address=0x49, sleep=lambda s: None).read_single_ended(0)


# ---- scanner -----------------------------------------------------------------------------------


def test_scanner_never_waits_and_round_robins() -> None:
    clock = ManualClock()
    bus = FakeAds1115Bus(volts={0: 3.0, 1: 0.1, 2: 2.0})
    scanner = Ads1115Scanner(Ads1115(bus, sleep=_no_sleep), [0, 1, 2], clock=clock)
    scanner.poll()  # starts AIN0, reads nothing
    assert [decode_config(w)["channel"] for w in bus.writes] == [0]
    assert REG_CONVERSION not in bus.reads
    scanner.poll()  # not due yet (same instant): no bus traffic at all
    assert len(bus.writes) == 1 and bus.reads == []
    for _ in range(6):
        clock.advance(0.01)
        scanner.poll()
    assert [decode_config(w)["channel"] for w in bus.writes] == [0, 1, 2, 0, 1, 2, 0]
    assert scanner.latest(0)[1] == pytest.approx(3.0, abs=LSB_4V)  # type: ignore[index]
    assert scanner.latest(1)[1] == pytest.approx(0.1, abs=LSB_4V)  # type: ignore[index]
    assert scanner.latest(2)[1] == pytest.approx(2.0, abs=LSB_4V)  # type: ignore[index]
    assert len(scanner.recent(0, 8)) == 2


def test_scanner_schedule_weights_channels() -> None:
    clock = ManualClock()
    bus = FakeAds1115Bus()
    scanner = Ads1115Scanner(Ads1115(bus, sleep=_no_sleep), [0, 1, 2], schedule=[0, 1, 0, 1, 2], clock=clock)
    for _ in range(10):
        scanner.poll()
        clock.advance(0.01)
    assert [decode_config(w)["channel"] for w in bus.writes] == [0, 1, 0, 1, 2] * 2


def test_scanner_waits_for_the_os_bit_without_blocking() -> None:
    clock = ManualClock()
    bus = FakeAds1115Bus(volts={0: 1.0}, busy_polls=1)
    scanner = Ads1115Scanner(Ads1115(bus, sleep=_no_sleep), [0], clock=clock)
    scanner.poll()
    clock.advance(0.01)
    scanner.poll()  # still busy: nothing collected, nothing started
    assert len(bus.writes) == 1 and not scanner._values[0]  # noqa: SLF001
    clock.advance(0.01)
    scanner.poll()
    assert len(bus.writes) == 2 and scanner.recent(0, 1)[0][1] == pytest.approx(1.0, abs=LSB_4V)


def test_scanner_detects_another_user_of_the_chip() -> None:
    clock = ManualClock()
    bus = FakeAds1115Bus(volts={0: 1.0, 3: 2.0})
    adc = Ads1115(bus, sleep=_no_sleep)
    scanner = Ads1115Scanner(adc, [0], clock=clock)
    scanner.poll()
    adc.start_single_ended(3)  # someone else converts AIN3 meanwhile
    clock.advance(0.01)
    scanner.poll()
    assert scanner.errors == 1 and "MUX" in (scanner.last_error or "")
    assert not scanner._values[0]  # noqa: SLF001 - the foreign result was not taken as AIN0


def test_scanner_counts_bus_errors_and_recovers() -> None:
    clock = ManualClock()
    bus = FakeAds1115Bus(volts={0: 1.0})
    scanner = Ads1115Scanner(Ads1115(bus, sleep=_no_sleep), [0], clock=clock)
    bus.fail = True
    for _ in range(3):
        scanner.poll()
        clock.advance(0.01)
    assert scanner.errors == 3 and "0x48" in (scanner.last_error or "")
    bus.fail = False
    for _ in range(2):
        scanner.poll()
        clock.advance(0.01)
    assert scanner.latest(0) is not None


def test_scanner_primes_with_a_blocking_read_when_asked_before_any_result() -> None:
    clock = ManualClock()
    bus = FakeAds1115Bus(volts={0: 1.0, 1: 2.0})
    scanner = Ads1115Scanner(Ads1115(bus, sleep=_no_sleep), [0, 1], clock=clock)
    latest = scanner.latest(1)
    assert latest is not None and latest[1] == pytest.approx(2.0, abs=LSB_4V)
    assert scanner.latest(0) is not None
    with pytest.raises(ValueError):
        scanner.latest(3)


def test_scanner_refuses_a_schedule_outside_its_channels() -> None:
    with pytest.raises(ValueError):
        Ads1115Scanner(Ads1115(FakeAds1115Bus()), [0, 1], schedule=[0, 2])


def _no_sleep(seconds: float) -> None:
    pass


async def test_scanner_service_keeps_every_channel_fresh_between_control_steps() -> None:
    clock = ManualClock()
    bus = FakeAds1115Bus(volts={0: 1.0, 1: 2.0, 2: 3.0})
    scanner = Ads1115Scanner(Ads1115(bus, sleep=_no_sleep), [0, 1, 2], clock=clock)
    task = asyncio.create_task(scanner.run(0.0025))
    try:
        for _ in range(8):  # 20 ms
            await asyncio.sleep(0)
            clock.advance(0.0025)
        await asyncio.sleep(0)
        now = clock.monotonic()
        for ch in (0, 1, 2):
            latest = scanner.latest(ch)
            assert latest is not None and now - latest[0] <= 0.0075 + 1e-9
        assert not scanner._primed  # noqa: SLF001 - fed by the service, no blocking prime
    finally:
        task.cancel()


def test_scanner_restarts_a_conversion_that_never_finishes() -> None:
    clock = ManualClock()
    bus = FakeAds1115Bus(volts={0: 1.0}, busy_polls=10**6)
    scanner = Ads1115Scanner(Ads1115(bus, sleep=_no_sleep), [0], clock=clock)
    scanner.poll()
    clock.advance(0.005)
    scanner.poll()
    assert scanner.errors == 0 and len(bus.writes) == 1  # busy, but not for long yet
    clock.advance(0.02)
    scanner.poll()
    assert scanner.errors == 1 and "still busy" in (scanner.last_error or "") and len(bus.writes) == 2
