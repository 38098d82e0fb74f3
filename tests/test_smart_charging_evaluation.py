"""The limit charging profiles impose on an EVSE at a moment: stack levels, validity, recurring
and relative schedules, purposes combined, watts to amperes, and the charge point's maximum
shared among the EVSEs in a transaction."""
from __future__ import annotations

from datetime import timedelta

import pytest

from chargepoint.smart_charging.evaluation import Evaluator, EvseView
from chargepoint.smart_charging.model import ChargingProfile, EvseElectrics
from smart_charging_helpers import at, profile

THREE_PHASE = EvseElectrics(phases=3, voltage_v=230.0, max_current_a=32.0)
ONE_PHASE = EvseElectrics(phases=1, voltage_v=230.0, max_current_a=32.0)


def limit(profiles: list[ChargingProfile], moment: str, view: EvseView | None = None, evse: int = 1) -> float | None:
    evaluator = Evaluator(profiles, {evse: view or EvseView(THREE_PHASE)})
    t = at(moment)
    return evaluator.limits(t, t)[evse]


def test_no_profile_means_no_limit() -> None:
    assert limit([], "2026-03-02 12:00") is None


def test_highest_stack_level_prevails_then_lower_level_when_its_duration_ends() -> None:
    base = profile(1, "TxDefaultProfile", [(0, 16)], stack=0)
    exception = profile(2, "TxDefaultProfile", [(0, 8)], stack=3, start="2026-03-02T12:00:00Z", duration=3600)
    profiles = [base, exception]
    assert limit(profiles, "2026-03-02 11:59") == 16
    assert limit(profiles, "2026-03-02 12:00") == 8
    assert limit(profiles, "2026-03-02 12:59") == 8
    # Errata 3.43: after the duration, the lower stack level applies again.
    assert limit(profiles, "2026-03-02 13:00") == 16


def test_valid_from_and_valid_to_bound_a_profile() -> None:
    base = profile(1, "TxDefaultProfile", [(0, 20)], stack=0)
    later = profile(2, "TxDefaultProfile", [(0, 10)], stack=1, valid_from="2026-03-05T00:00:00Z",
                    valid_to="2026-03-06T00:00:00Z")
    assert limit([base, later], "2026-03-04 23:59") == 20
    assert limit([base, later], "2026-03-05 00:00") == 10
    assert limit([base, later], "2026-03-06 00:00") == 20


def test_absolute_schedule_says_nothing_before_its_start() -> None:
    future = profile(1, "TxDefaultProfile", [(0, 10)], start="2026-03-02T18:00:00Z")
    assert limit([future], "2026-03-02 17:59") is None
    assert limit([future], "2026-03-02 18:00") == 10


def test_last_period_holds_until_the_duration_ends() -> None:
    p = profile(1, "TxDefaultProfile", [(0, 10), (600, 12)], start="2026-03-02T10:00:00Z", duration=3600)
    assert limit([p], "2026-03-02 10:09") == 10
    assert limit([p], "2026-03-02 10:59") == 12
    assert limit([p], "2026-03-02 11:00") is None


def test_daily_recurrence_runs_across_midnight() -> None:
    # Every day from 22:00: 8 A for eight hours, then 16 A.
    night = profile(1, "TxDefaultProfile", [(0, 8), (8 * 3600, 16)], kind="Recurring", recurrency="Daily",
                    start="2026-03-01T22:00:00Z")
    assert limit([night], "2026-03-01 21:59") is None  # before the first run
    assert limit([night], "2026-03-02 23:59") == 8
    assert limit([night], "2026-03-03 00:00") == 8
    assert limit([night], "2026-03-03 05:59") == 8
    assert limit([night], "2026-03-03 06:00") == 16
    assert limit([night], "2026-03-03 21:59") == 16
    assert limit([night], "2026-03-03 22:00") == 8


def test_weekly_recurrence_runs_across_the_week_boundary() -> None:
    # Monday 2026-03-02 00:00: 16 A on weekdays, 32 A from Saturday.
    week = profile(1, "TxDefaultProfile", [(0, 16), (5 * 86400, 32)], kind="Recurring", recurrency="Weekly",
                   start="2026-03-02T00:00:00Z")
    assert limit([week], "2026-03-06 23:59") == 16  # Friday
    assert limit([week], "2026-03-08 23:59") == 32  # Sunday
    assert limit([week], "2026-03-09 00:00") == 16  # Monday again
    assert limit([week], "2026-03-14 12:00") == 32  # next Saturday


def test_recurrence_with_a_short_duration_falls_back_outside_it() -> None:
    base = profile(1, "TxDefaultProfile", [(0, 32)], stack=0)
    evening = profile(2, "TxDefaultProfile", [(0, 6)], stack=1, kind="Recurring", recurrency="Daily",
                      start="2026-03-01T17:00:00Z", duration=4 * 3600)
    assert limit([base, evening], "2026-03-05 16:59") == 32
    assert limit([base, evening], "2026-03-05 18:00") == 6
    assert limit([base, evening], "2026-03-05 21:00") == 32


def test_periods_beyond_the_recurrence_period_are_not_executed() -> None:
    p = profile(1, "TxDefaultProfile", [(0, 10), (90000, 20)], kind="Recurring", recurrency="Daily",
                start="2026-03-01T00:00:00Z")
    assert limit([p], "2026-03-02 01:30") == 10


def test_relative_schedule_counts_from_the_transaction_start() -> None:
    p = profile(1, "TxDefaultProfile", [(0, 6), (1800, 16)], kind="Relative", start=None)
    in_tx = EvseView(THREE_PHASE, tx_local_id=7, tx_start=at("2026-03-02 10:00"))
    assert limit([p], "2026-03-02 10:29", in_tx) == 6
    assert limit([p], "2026-03-02 10:30", in_tx) == 16
    # Without a transaction it is what a transaction starting now would get: the first period.
    assert limit([p], "2026-03-02 10:45") == 6


def test_tx_profile_without_start_schedule_starts_with_its_transaction() -> None:
    in_tx = EvseView(THREE_PHASE, tx_local_id=7, tx_start=at("2026-03-02 10:00"))
    p = profile(1, "TxProfile", [(0, 10), (600, 20)], start=None, connector=1, local_tx=7)
    assert limit([p], "2026-03-02 10:05", in_tx) == 10
    assert limit([p], "2026-03-02 10:10", in_tx) == 20


def test_tx_profile_overrules_the_default_where_it_has_a_period() -> None:
    in_tx = EvseView(THREE_PHASE, tx_local_id=7, tx_start=at("2026-03-02 10:00"))
    default = profile(1, "TxDefaultProfile", [(0, 10)], stack=5)
    tx = profile(2, "TxProfile", [(0, 20)], kind="Relative", start=None, duration=3600, connector=1, local_tx=7)
    assert limit([default, tx], "2026-03-02 10:30", in_tx) == 20
    assert limit([default, tx], "2026-03-02 11:00", in_tx) == 10


def test_tx_profile_of_another_transaction_does_not_apply() -> None:
    in_tx = EvseView(THREE_PHASE, tx_local_id=8, tx_start=at("2026-03-02 10:00"))
    stale = profile(2, "TxProfile", [(0, 6)], connector=1, local_tx=7)
    assert limit([stale], "2026-03-02 10:30", in_tx) is None


def test_connector_default_wins_a_tie_with_the_charge_point_default_but_not_a_higher_level() -> None:
    everywhere = profile(1, "TxDefaultProfile", [(0, 20)], stack=1, connector=0)
    here = profile(2, "TxDefaultProfile", [(0, 10)], stack=1, connector=1)
    assert limit([everywhere, here], "2026-03-02 12:00") == 10
    assert limit([everywhere, here], "2026-03-02 12:00", evse=2) == 20
    higher = profile(3, "TxDefaultProfile", [(0, 14)], stack=2, connector=0)
    assert limit([everywhere, here, higher], "2026-03-02 12:00") == 14


@pytest.mark.parametrize(("electrics", "phases", "expected"), [
    (THREE_PHASE, None, 11000 / 690),  # numberPhases absent: 3 assumed
    (THREE_PHASE, 3, 11000 / 690),
    (ONE_PHASE, 3, 11000 / 230),  # errata 3.34: the limit as given, on the phase there is
    (THREE_PHASE, 1, 11000 / 690),  # no phase switching: the total holds on all three
])
def test_watts_become_amperes_per_phase(electrics: EvseElectrics, phases: int | None, expected: float) -> None:
    period = {"startPeriod": 0, "limit": 11000}
    if phases is not None:
        period["numberPhases"] = phases
    p = profile(1, "TxDefaultProfile", [period], unit="W")
    assert limit([p], "2026-03-02 12:00", EvseView(electrics)) == pytest.approx(expected)


def test_watts_use_the_configured_voltage() -> None:
    p = profile(1, "TxDefaultProfile", [(0, 7200)], unit="W")
    us = EvseElectrics(phases=1, voltage_v=120.0, max_current_a=48.0)
    assert limit([p], "2026-03-02 12:00", EvseView(us)) == pytest.approx(60.0)


# ---- the charge point's maximum ------------------------------------------------------------------


def _two(tx1: str | None, tx2: str | None, electrics: EvseElectrics = THREE_PHASE) -> dict[int, EvseView]:
    return {
        1: EvseView(electrics, 1 if tx1 else None, at(tx1) if tx1 else None),
        2: EvseView(electrics, 2 if tx2 else None, at(tx2) if tx2 else None),
    }


def cp_max(limit_value: float, unit: str = "A") -> ChargingProfile:
    return profile(10, "ChargePointMaxProfile", [(0, limit_value)], unit=unit)


def test_charge_point_maximum_is_shared_equally_among_transactions() -> None:
    t = at("2026-03-02 12:00")
    evaluator = Evaluator([cp_max(20)], _two("2026-03-02 10:00", "2026-03-02 11:00"))
    assert evaluator.limits(t, t) == {1: 10, 2: 10}


def test_charge_point_maximum_goes_to_the_only_transaction() -> None:
    t = at("2026-03-02 12:00")
    evaluator = Evaluator([cp_max(20)], _two("2026-03-02 10:00", None))
    limits = evaluator.limits(t, t)
    assert limits[1] == 20
    assert limits[2] == 10  # what it would get if its transaction started now


def test_what_one_evse_cannot_use_goes_to_the_other() -> None:
    t = at("2026-03-02 12:00")
    capped = profile(3, "TxDefaultProfile", [(0, 6)], connector=1)
    evaluator = Evaluator([cp_max(24), capped], _two("2026-03-02 10:00", "2026-03-02 11:00"))
    assert evaluator.limits(t, t) == {1: 6, 2: 18}


def test_shares_are_capped_by_each_evse_maximum() -> None:
    t = at("2026-03-02 12:00")
    evaluator = Evaluator([cp_max(100)], _two("2026-03-02 10:00", "2026-03-02 11:00"))
    assert evaluator.limits(t, t) == {1: 32, 2: 32}


def test_too_little_for_two_pauses_the_later_transaction() -> None:
    t = at("2026-03-02 12:00")
    evaluator = Evaluator([cp_max(10)], _two("2026-03-02 11:00", "2026-03-02 10:00"))
    assert evaluator.limits(t, t) == {1: 0.0, 2: 10}


def test_an_evs_minimum_charging_rate_is_respected_when_sharing() -> None:
    t = at("2026-03-02 12:00")
    picky = profile(4, "TxDefaultProfile", [(0, 32)], connector=2, min_rate=10)
    evaluator = Evaluator([cp_max(18), picky], _two("2026-03-02 10:00", "2026-03-02 11:00"))
    # 9 A each would be below EVSE 2's EV minimum: it pauses and EVSE 1 gets it all.
    assert evaluator.limits(t, t) == {1: 18, 2: 0.0}


def test_charge_point_maximum_in_watts_is_shared_in_watts() -> None:
    t = at("2026-03-02 12:00")
    evaluator = Evaluator([cp_max(13800, unit="W")], _two("2026-03-02 10:00", "2026-03-02 11:00"))
    assert evaluator.limits(t, t) == {1: pytest.approx(10), 2: pytest.approx(10)}


def test_charge_point_maximum_and_transaction_limit_take_the_lower() -> None:
    t = at("2026-03-02 12:00")
    evaluator = Evaluator([cp_max(12), profile(3, "TxDefaultProfile", [(0, 16)])],
                          {1: EvseView(THREE_PHASE, 1, at("2026-03-02 10:00"))})
    assert evaluator.limits(t, t) == {1: 12}


# ---- when limits change ----------------------------------------------------------------------------


def test_change_points_list_period_starts_validity_and_recurrences() -> None:
    night = profile(1, "TxDefaultProfile", [(0, 8), (8 * 3600, 16)], kind="Recurring", recurrency="Daily",
                    start="2026-03-01T22:00:00Z", valid_to="2026-03-03T12:00:00Z")
    evaluator = Evaluator([night], {1: EvseView(THREE_PHASE)})
    start = at("2026-03-02 12:00")
    points = evaluator.change_points(start, start + timedelta(days=2), start)
    # Nothing after validTo: the profile has ended.
    assert points == [at("2026-03-02 22:00"), at("2026-03-03 06:00"), at("2026-03-03 12:00")]


def test_schedules_waiting_for_a_transaction_have_no_live_change_points() -> None:
    relative = profile(1, "TxDefaultProfile", [(0, 6), (600, 16)], kind="Relative", start=None)
    evaluator = Evaluator([relative], {1: EvseView(THREE_PHASE)})
    start = at("2026-03-02 12:00")
    assert evaluator.change_points(start, start + timedelta(hours=1), start, floating=False) == []
    assert evaluator.change_points(start, start + timedelta(hours=1), start) == [start, at("2026-03-02 12:10")]
