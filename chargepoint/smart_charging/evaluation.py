"""The current limit charging profiles impose on each EVSE at a moment.

Within a purpose the valid profile with the highest stack level that has a period at that moment
prevails (OCPP 1.6 §3.13.2); a connector's own TxDefaultProfile wins a tie with the charge point's.
A TxProfile of the running transaction overrules the TxDefaultProfile wherever it has a period
(§3.13.1). The ChargePointMaxProfile caps the whole charge point (§3.13.3): its limit is shared
among the EVSEs in a transaction (see `share`)."""
from __future__ import annotations

import math
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime

from chargepoint.evse.iec61851 import MIN_CURRENT_A
from chargepoint.smart_charging.model import ChargingProfile, EvseElectrics, Purpose, RateUnit, Schedule
from chargepoint.smart_charging.schedule import Anchor, anchor_of, change_points, period_at


@dataclass(frozen=True)
class EvseView:
    """An EVSE as the evaluation sees it: its electrics and its running transaction, if any."""

    electrics: EvseElectrics
    tx_local_id: int | None = None
    tx_start: datetime | None = None


@dataclass(frozen=True)
class _Own:
    amps: float
    min_amps: float  # below this the EV is better paused (minChargingRate, at least 6 A)


def floor_tenth(value: float) -> float:
    """Down to 0.1 (the resolution OCPP allows for limits), never above the value; a value a
    float error short of a tenth counts as that tenth."""
    return math.floor(value * 10 + 1e-6) / 10


class Evaluator:
    def __init__(self, profiles: Iterable[ChargingProfile], evses: dict[int, EvseView]) -> None:
        self.profiles = list(profiles)
        self.evses = evses

    # ---- limits --------------------------------------------------------------------------------

    def limits(self, moment: datetime, reference: datetime, everyone: bool = False) -> dict[int, float | None]:
        """The smart-charging limit (A per phase) of every EVSE at `moment`; None where no
        profile applies. An EVSE without a transaction gets the limit it would have if its
        transaction started now; `everyone` evaluates as if every EVSE were in a transaction."""
        own = {e: self._own(e, moment, reference) for e in self.evses}
        cp_max = self._prevailing(self._of(Purpose.CHARGE_POINT_MAX, {0}), None, moment, reference)
        if cp_max is None:
            return {e: (o.amps if o is not None else None) for e, o in own.items()}
        schedule, limit = cp_max
        in_tx = sorted((e for e, v in self.evses.items() if v.tx_local_id is not None),
                       key=lambda e: (self.evses[e].tx_start or moment, e))
        if everyone:
            members = in_tx + sorted(e for e in self.evses if e not in in_tx)
            shares = self.share(limit, schedule, members, own)
            return dict(shares)
        result: dict[int, float | None] = dict(self.share(limit, schedule, in_tx, own))
        for e in self.evses:
            if e not in result:
                result[e] = self.share(limit, schedule, [*in_tx, e], own)[e]
        return result

    def share(self, limit: float, schedule: Schedule, members: list[int],
              own: dict[int, _Own | None]) -> dict[int, float]:
        """Split the charge point's limit among `members` (in order of their transaction start).
        Each gets an equal part, capped by its own limit and maximum current, and what one cannot
        use goes to the others. When the parts would fall below 6 A (or an EV's minChargingRate),
        the latest transactions pause (get 0) so that the others can charge."""
        caps: dict[int, float] = {}
        minimum: dict[int, float] = {}
        for e in members:
            elec = self.evses[e].electrics
            o = own.get(e)
            cap = min(elec.max_current_a, o.amps) if o is not None else elec.max_current_a
            caps[e] = cap
            minimum[e] = max(MIN_CURRENT_A, min(o.min_amps if o is not None else MIN_CURRENT_A, cap))
        result = {e: 0.0 for e in members}
        able = [e for e in members if caps[e] >= MIN_CURRENT_A]
        watts = schedule.unit is RateUnit.WATT
        for count in range(len(able), 0, -1):
            chosen = able[:count]
            if watts:
                parts = _water_fill(limit, {e: self.evses[e].electrics.watts(caps[e]) for e in chosen})
                amps = {e: self.evses[e].electrics.amps(w) for e, w in parts.items()}
            else:
                amps = _water_fill(limit, {e: caps[e] for e in chosen})
            if all(amps[e] >= minimum[e] - 1e-9 for e in chosen):
                result.update(amps)
                break
        return result

    def _own(self, evse_id: int, moment: datetime, reference: datetime) -> _Own | None:
        view = self.evses[evse_id]
        tx_profiles = [p for p in self._of(Purpose.TX, {evse_id})
                       if view.tx_local_id is not None and p.local_tx == view.tx_local_id]
        found = self._prevailing(tx_profiles, view, moment, reference)
        if found is None:
            found = self._prevailing(self._of(Purpose.TX_DEFAULT, {0, evse_id}), view, moment, reference)
        if found is None:
            return None
        schedule, limit = found
        amps = limit if schedule.unit is RateUnit.AMPERE else view.electrics.amps(limit)
        min_rate = schedule.min_rate
        min_amps = MIN_CURRENT_A
        if min_rate is not None:
            min_amps = max(min_amps, min_rate if schedule.unit is RateUnit.AMPERE else view.electrics.amps(min_rate))
        return _Own(amps, min_amps)

    def _of(self, purpose: Purpose, connectors: set[int]) -> list[ChargingProfile]:
        return [p for p in self.profiles if p.purpose is purpose and p.connector_id in connectors]

    def _prevailing(self, candidates: list[ChargingProfile], view: EvseView | None, moment: datetime,
                    reference: datetime) -> tuple[Schedule, float] | None:
        # Highest stack level first; at equal level a connector's own profile before connector 0's.
        for profile in sorted(candidates, key=lambda p: (p.stack_level, p.connector_id), reverse=True):
            anchor = self.anchor(profile, view, reference)
            period = period_at(profile, anchor.at, moment)
            if period is not None:
                return profile.schedule, period.limit
        return None

    def anchor(self, profile: ChargingProfile, view: EvseView | None, reference: datetime) -> Anchor:
        return anchor_of(profile, view.tx_start if view is not None else None, reference)

    # ---- when limits can change -----------------------------------------------------------------

    def change_points(self, start: datetime, end: datetime, reference: datetime,
                      floating: bool = True) -> list[datetime]:
        """Every moment in [start, end) at which some EVSE's limit can change. Without
        `floating`, schedules anchored at the moving reference (no transaction yet) are left
        out: in live use they always sit at their first period."""
        points: set[datetime] = set()
        for profile in self.profiles:
            views: list[EvseView | None]
            if profile.purpose is Purpose.CHARGE_POINT_MAX:
                views = [None]
            elif profile.connector_id == 0:
                views = list(self.evses.values())
            else:
                views = [self.evses[profile.connector_id]] if profile.connector_id in self.evses else []
            for view in views:
                anchor = self.anchor(profile, view, reference)
                if anchor.floating and not floating:
                    continue
                points.update(change_points(profile, anchor.at, start, end))
        return sorted(points)


def _water_fill(total: float, caps: dict[int, float]) -> dict[int, float]:
    remaining = max(0.0, total)
    result: dict[int, float] = {}
    pending = sorted(caps, key=lambda e: caps[e])
    while pending:
        equal = remaining / len(pending)
        smallest = pending[0]
        if caps[smallest] <= equal:
            result[smallest] = caps[smallest]
            remaining -= caps[smallest]
            pending.pop(0)
            continue
        for e in pending:
            result[e] = equal
        break
    return result
