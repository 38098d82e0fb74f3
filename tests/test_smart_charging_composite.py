"""Composite schedules (GetCompositeSchedule): the combined limit of a connector, or of the whole
charge point, from a moment on, in the unit asked for."""
from __future__ import annotations

from chargepoint.smart_charging.composite import composite_schedule
from chargepoint.smart_charging.evaluation import Evaluator, EvseView
from chargepoint.smart_charging.model import ChargingProfile, EvseElectrics, RateUnit
from smart_charging_helpers import at, profile

EVSE = EvseElectrics(phases=3, voltage_v=230.0, max_current_a=32.0)
SMALL = EvseElectrics(phases=1, voltage_v=230.0, max_current_a=16.0)


def periods(profiles: list[ChargingProfile], connector: int, start: str, duration: int,
            unit: RateUnit = RateUnit.AMPERE, evses: dict[int, EvseView] | None = None) -> list[tuple[int, float]]:
    evaluator = Evaluator(profiles, evses or {1: EvseView(EVSE)})
    composite = composite_schedule(evaluator, connector, at(start), duration, unit)
    assert composite.start == at(start)
    assert composite.schedule.duration_s == duration and composite.schedule.unit is unit
    assert composite.schedule.start is None  # errata 3.57: omitted in a composite schedule
    return [(p.start_s, p.limit) for p in composite.schedule.periods]


def test_without_profiles_the_evse_maximum_holds() -> None:
    assert periods([], 1, "2026-03-02 12:00", 3600) == [(0, 32.0)]


def test_periods_are_relative_to_the_request_and_merged() -> None:
    p = profile(1, "TxDefaultProfile", [(0, 10), (1800, 10), (3600, 20)], start="2026-03-02T11:45:00Z")
    assert periods([p], 1, "2026-03-02 12:00", 7200) == [(0, 10.0), (2700, 20.0)]


def test_stack_levels_and_durations_in_the_composite() -> None:
    base = profile(1, "TxDefaultProfile", [(0, 16)])
    dip = profile(2, "TxDefaultProfile", [(0, 8)], stack=1, start="2026-03-02T12:30:00Z", duration=900)
    assert periods([base, dip], 1, "2026-03-02 12:00", 3600) == [(0, 16.0), (1800, 8.0), (2700, 16.0)]


def test_recurring_schedule_across_midnight_in_the_composite() -> None:
    night = profile(1, "TxDefaultProfile", [(0, 8), (8 * 3600, 40)], kind="Recurring", recurrency="Daily",
                    start="2026-03-01T22:00:00Z")
    # 40 A is above the EVSE's 32 A maximum, which the composite includes.
    assert periods([night], 1, "2026-03-02 20:00", 100000) == [(0, 32.0), (7200, 8.0), (36000, 32.0),
                                                               (93600, 8.0)]


def test_a_limit_below_six_amperes_is_reported_as_a_pause() -> None:
    p = profile(1, "TxDefaultProfile", [(0, 4), (600, 10)], start="2026-03-02T12:00:00Z")
    assert periods([p], 1, "2026-03-02 12:00", 1200) == [(0, 0.0), (600, 10.0)]


def test_composite_in_watts_from_an_ampere_profile() -> None:
    p = profile(1, "TxDefaultProfile", [(0, 10)])
    assert periods([p], 1, "2026-03-02 12:00", 600, RateUnit.WATT) == [(0, 6900.0)]


def test_composite_in_amperes_from_a_watt_profile_rounds_down_to_a_tenth() -> None:
    p = profile(1, "TxDefaultProfile", [(0, 11000)], unit="W")
    assert periods([p], 1, "2026-03-02 12:00", 600) == [(0, 15.9)]
    assert periods([p], 1, "2026-03-02 12:00", 600, RateUnit.WATT) == [(0, 11000.0)]


def test_relative_default_without_transaction_starts_at_the_request() -> None:
    p = profile(1, "TxDefaultProfile", [(0, 6), (900, 16)], kind="Relative", start=None)
    assert periods([p], 1, "2026-03-02 12:00", 3600) == [(0, 6.0), (900, 16.0)]


def test_relative_profile_follows_the_running_transaction() -> None:
    p = profile(1, "TxProfile", [(0, 6), (900, 16)], kind="Relative", start=None, connector=1, local_tx=4)
    in_tx = {1: EvseView(EVSE, 4, at("2026-03-02 11:50"))}
    assert periods([p], 1, "2026-03-02 12:00", 3600, evses=in_tx) == [(0, 6.0), (300, 16.0)]


def test_connector_zero_is_the_charge_point_total_within_its_maximum() -> None:
    evses = {1: EvseView(EVSE), 2: EvseView(SMALL)}
    assert periods([], 0, "2026-03-02 12:00", 600, evses=evses) == [(0, 48.0)]
    assert periods([], 0, "2026-03-02 12:00", 600, RateUnit.WATT, evses) == [(0, 32 * 690 + 16 * 230)]
    cap = profile(9, "ChargePointMaxProfile", [(0, 40), (300, 20)], start="2026-03-02T12:00:00Z")
    assert periods([cap], 0, "2026-03-02 12:00", 600, evses=evses) == [(0, 40.0), (300, 20.0)]
    # Per connector: the share it would get next to the transactions running now.
    assert periods([cap], 2, "2026-03-02 12:00", 600, evses=evses) == [(0, 16.0)]
    evses[1] = EvseView(EVSE, 3, at("2026-03-02 11:00"))
    assert periods([cap], 2, "2026-03-02 12:00", 600, evses=evses) == [(0, 16.0), (300, 10.0)]
    assert periods([cap], 1, "2026-03-02 12:00", 600, evses=evses) == [(0, 32.0), (300, 20.0)]


def test_composite_stops_at_the_requested_duration() -> None:
    p = profile(1, "TxDefaultProfile", [(0, 10), (3600, 20)], start="2026-03-02T12:00:00Z")
    assert periods([p], 1, "2026-03-02 12:00", 3600) == [(0, 10.0)]
