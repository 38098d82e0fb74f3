"""One profile's schedule in time: which period is in force at a moment, and when that can change.

Where a schedule starts (OCPP 1.6 §7.8, §7.13 with errata 3.57): an absolute or recurring schedule
at its startSchedule; a relative one, and a transaction profile without startSchedule, at the
start of the transaction. Without a transaction, such a schedule is evaluated as if a transaction
started at the reference moment (now, or the start of a composite schedule): it "floats". A
charge-point-wide profile without startSchedule starts when it was installed."""
from __future__ import annotations

import math
from dataclasses import dataclass
from datetime import datetime, timedelta

from chargepoint.smart_charging.model import ChargingProfile, Kind, Purpose, SchedulePeriod

# Bounds the work for a composite schedule over a long duration with a short recurrence.
MAX_CYCLES = 4000


@dataclass(frozen=True)
class Anchor:
    at: datetime
    floating: bool  # moves with the reference moment: no change points of its own in live use


def anchor_of(profile: ChargingProfile, tx_start: datetime | None, reference: datetime) -> Anchor:
    schedule_start = profile.schedule.start if profile.kind is not Kind.RELATIVE else None
    if schedule_start is not None:
        return Anchor(schedule_start, False)
    if profile.purpose is Purpose.CHARGE_POINT_MAX:
        return Anchor(profile.installed_at or reference, profile.installed_at is None)
    if tx_start is not None:
        return Anchor(tx_start, False)
    return Anchor(reference, True)


def _span_s(profile: ChargingProfile) -> float:
    """How long each run of the schedule lasts: its duration, cut at the recurrence period
    (OCPP 1.6 §5.16.4: periods beyond the recurrence are not executed)."""
    duration = profile.schedule.duration_s
    span = math.inf if duration is None else float(duration)
    if profile.kind is Kind.RECURRING and profile.recurrency is not None:
        span = min(span, float(profile.recurrency.period_s))
    return span


def period_at(profile: ChargingProfile, anchor: datetime, moment: datetime) -> SchedulePeriod | None:
    """The period in force at `moment`, or None when the profile says nothing then (not valid,
    not started, or past its duration): a lower stack level, or no limit, applies instead."""
    if not profile.valid_at(moment):
        return None
    offset = (moment - anchor).total_seconds()
    if offset < 0:
        return None
    if profile.kind is Kind.RECURRING and profile.recurrency is not None:
        offset = math.fmod(offset, profile.recurrency.period_s)
    if offset >= _span_s(profile):
        return None
    current: SchedulePeriod | None = None
    for period in profile.schedule.periods:
        if period.start_s > offset:
            break
        current = period
    return current


def change_points(profile: ChargingProfile, anchor: datetime, start: datetime, end: datetime) -> list[datetime]:
    """Every moment in [start, end) at which the profile's period can change."""
    points: list[datetime] = [t for t in (profile.valid_from, profile.valid_to) if t is not None]
    span = _span_s(profile)
    offsets = [float(p.start_s) for p in profile.schedule.periods if p.start_s < span]
    if math.isfinite(span):
        offsets.append(span)
    if profile.kind is Kind.RECURRING and profile.recurrency is not None:
        cycle = profile.recurrency.period_s
        first = max(0, math.floor((start - anchor).total_seconds() / cycle))
        k = first
        while k - first < MAX_CYCLES:
            base = anchor + timedelta(seconds=k * cycle)
            if base >= end:
                break
            points.extend(base + timedelta(seconds=o) for o in offsets)
            k += 1
    else:
        points.extend(anchor + timedelta(seconds=o) for o in offsets)
    low = max(start, profile.valid_from) if profile.valid_from is not None else start
    high = min(end, profile.valid_to + timedelta(microseconds=1)) if profile.valid_to is not None else end
    return sorted(t for t in set(points) if low <= t < high)
