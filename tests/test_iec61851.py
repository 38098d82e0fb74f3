"""IEC 61851-1 Annex A duty-cycle arithmetic: what the EVSE emits and what an EV decodes."""
from __future__ import annotations

import pytest

from chargepoint.evse.iec61851 import current_for_duty, duty_for_current, offered_current


# --- EVSE side: current -> duty ---------------------------------------------------------------


@pytest.mark.parametrize(
    ("current_a", "duty"),
    [
        (6, 10.0),  # first range: duty = I / 0.6
        (10, 16.6667),
        (16, 26.6667),
        (32, 53.3333),
        (51, 85.0),  # last value of the first range
        (63, 89.2),  # second range: duty = I / 2.5 + 64
        (70, 92.0),
        (80, 96.0),
    ],
)
def test_duty_for_current_both_ranges(current_a: float, duty: float) -> None:
    assert duty_for_current(current_a) == pytest.approx(duty, abs=1e-3)


def test_range_switch_happens_just_above_51_a() -> None:
    assert duty_for_current(51.0) == pytest.approx(51.0 / 0.6)
    assert duty_for_current(51.5) == pytest.approx(51.5 / 2.5 + 64.0)


@pytest.mark.parametrize("current_a", [80.01, 81, 100, 1000])
def test_duty_above_80_a_clamps_to_96_percent(current_a: float) -> None:
    assert duty_for_current(current_a) == pytest.approx(96.0)


@pytest.mark.parametrize("current_a", [5.99, 5, 0, -6])
def test_duty_below_6_a_is_a_programming_error(current_a: float) -> None:
    with pytest.raises(ValueError, match="6 A"):
        duty_for_current(current_a)


# --- EV side: duty -> current -----------------------------------------------------------------


@pytest.mark.parametrize(
    ("duty", "current_a"),
    [
        (0.0, 0.0),
        (5.0, 0.0),  # digital communication only
        (7.9, 0.0),
        (8.0, 6.0),  # 8 % <= d < 10 %: 6 A
        (9.99, 6.0),
        (10.0, 6.0),  # 10 % <= d <= 85 %: d * 0.6
        (26.6667, 16.0),
        (50.0, 30.0),
        (85.0, 51.0),
        (85.01, 52.525),  # 85 % < d <= 96 %: (d - 64) * 2.5
        (89.2, 63.0),
        (96.0, 80.0),
        (96.5, 80.0),  # 96 % < d <= 97 %: 80 A
        (97.0, 80.0),
        (97.01, 0.0),
        (100.0, 0.0),
    ],
)
def test_current_for_duty_decoding_table(duty: float, current_a: float) -> None:
    assert current_for_duty(duty) == pytest.approx(current_a, abs=1e-3)


# --- round trip -------------------------------------------------------------------------------


@pytest.mark.parametrize("current_a", range(6, 81))
def test_round_trip_never_offers_more_than_intended(current_a: int) -> None:
    """An EV decoding the emitted duty gets exactly the offered current, except in the gap the
    standard's own formulas leave between 51 A and 52.5 A, where it gets a little less."""
    decoded = current_for_duty(duty_for_current(current_a))
    assert decoded <= current_a + 1e-9
    if 51 < current_a <= 52.5:
        # I/2.5 + 64 lands below 85 %, which the EV decodes with the first formula.
        assert decoded == pytest.approx(duty_for_current(current_a) * 0.6)
        assert decoded < current_a
    else:
        assert decoded == pytest.approx(current_a)


def test_52_a_decodes_to_less_per_the_standard() -> None:
    assert duty_for_current(52) == pytest.approx(84.8)
    assert current_for_duty(84.8) == pytest.approx(50.88)


@pytest.mark.parametrize("duty", [10.0, 26.6667, 53.3333, 85.0, 89.2, 96.0])
def test_round_trip_from_duty(duty: float) -> None:
    assert duty_for_current(current_for_duty(duty)) == pytest.approx(duty)


# --- offered current ----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("limits", "expected"),
    [
        ((32.0, 20.0, 16.0), 16.0),
        ((32.0, None, None), 32.0),
        ((32.0, 13.0, None), 13.0),
        ((None, None, 10.0), 10.0),
        ((32.0, None, 0.0), 0.0),
        ((None, None), 0.0),
        ((), 0.0),
    ],
)
def test_offered_current_is_the_least_limit(limits: tuple[float | None, ...], expected: float) -> None:
    assert offered_current(*limits) == expected
