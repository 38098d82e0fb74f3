"""The composite schedule (OCPP 1.6 §3.13.3, §5.7): what a connector, or the whole charge point
(connector 0), may draw from a moment on, for a duration.

It is the live evaluation sampled at every moment a limit can change, so it cannot disagree with
what the EVSEs are told. It includes the EVSEs' maximum current (a local limit, so a period
always has a value) and reports a limit below 6 A as 0, because the EVSE then pauses the EV.
Connector 0 is the sum over the EVSEs as if each were in a transaction, capped by the
ChargePointMaxProfile through the sharing rule."""
from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from chargepoint.evse.iec61851 import MIN_CURRENT_A
from chargepoint.smart_charging.evaluation import Evaluator, floor_tenth
from chargepoint.smart_charging.model import RateUnit, Schedule, SchedulePeriod

MAX_COMPOSITE_PERIODS = 1000


@dataclass(frozen=True)
class CompositeSchedule:
    connector_id: int
    start: datetime
    schedule: Schedule  # no startSchedule: periods are relative to `start` (errata 3.57)


def composite_schedule(evaluator: Evaluator, connector_id: int, start: datetime, duration_s: int,
                       unit: RateUnit) -> CompositeSchedule:
    start = start.replace(microsecond=0)
    end = start + timedelta(seconds=duration_s)
    moments = [start, *(t for t in evaluator.change_points(start, end, start) if t > start)]
    periods: list[SchedulePeriod] = []
    phases = evaluator.evses[connector_id].electrics.phases if connector_id else None
    for moment in moments:
        offset = int(-(-(moment - start).total_seconds() // 1))  # whole seconds, rounded up
        if offset >= duration_s and periods:
            break
        value = _value(evaluator, connector_id, moment, start, unit)
        if periods and periods[-1].start_s == offset:
            periods.pop()  # two changes within one second: the later one holds
        if periods and periods[-1].limit == value:
            continue
        if len(periods) == MAX_COMPOSITE_PERIODS:
            duration_s = offset
            break
        periods.append(SchedulePeriod(offset, value, phases))
    return CompositeSchedule(connector_id, start, Schedule(unit=unit, periods=tuple(periods), duration_s=duration_s))


def _value(evaluator: Evaluator, connector_id: int, moment: datetime, reference: datetime, unit: RateUnit) -> float:
    limits = evaluator.limits(moment, reference, everyone=connector_id == 0)
    targets = [connector_id] if connector_id else sorted(evaluator.evses)
    total = 0.0
    for evse_id in targets:
        electrics = evaluator.evses[evse_id].electrics
        limit = limits[evse_id]
        amps = electrics.max_current_a if limit is None else min(limit, electrics.max_current_a)
        if floor_tenth(amps) < MIN_CURRENT_A:
            amps = 0.0
        total += amps if unit is RateUnit.AMPERE else electrics.watts(amps)
    return floor_tenth(total)
