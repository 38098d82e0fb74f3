"""Smart charging in the station: profile commands from the CSMS, and the "smart" current limit
of every EVSE, re-evaluated when a profile is set or cleared, when a transaction starts or ends,
and at every schedule boundary (a timer on the injected clock). Mixed into Station."""
from __future__ import annotations

import asyncio
import logging
from dataclasses import replace
from datetime import timedelta
from typing import TYPE_CHECKING

from chargepoint.smart_charging import ChargingProfile, CompositeSchedule, Purpose, RateUnit, TransactionRef
from chargepoint.smart_charging.evaluation import floor_tenth

if TYPE_CHECKING:
    from chargepoint.station import Station

log = logging.getLogger("chargepoint.station")

# The timer also wakes this often without a boundary due, so that a wall clock set late (NTP
# after boot on a board without RTC) moves the schedule within this time.
SMART_RECHECK_S = 60.0
# Wake a little after a boundary, never just before it.
BOUNDARY_MARGIN_S = 0.001
SMART_LIMIT = "smart"


class SmartChargingDuties:
    # ---- from the CSMS -------------------------------------------------------------------------

    def knows_connector(self: Station, connector_id: int) -> bool:
        return connector_id == 0 or connector_id in self.evses

    def set_charging_profile(self: Station, profile: ChargingProfile) -> bool:
        """SetChargingProfile: True when Accepted. The connector must exist (the adapter checks)."""
        tx = self._transaction_ref(profile.connector_id) if profile.connector_id in self.evses else None
        accepted = self.smart.set_profile(profile, tx, self.clock.now()) is None
        if accepted:
            self._smart_changed()
        return accepted

    def clear_charging_profiles(self: Station, profile_id: int | None, connector_id: int | None,
                                purpose: Purpose | None, stack_level: int | None) -> bool:
        """ClearChargingProfile: True (Accepted) when a profile matched, False (Unknown) if none."""
        cleared = self.smart.clear(profile_id, connector_id, purpose, stack_level)
        if cleared:
            self._smart_changed()
        return cleared

    def composite_schedule(self: Station, connector_id: int, duration_s: int,
                           unit: RateUnit | None) -> CompositeSchedule | None:
        """GetCompositeSchedule from now; None (Rejected) for an unknown connector or a duration
        that is not positive. Without a unit the schedule is in amperes."""
        if not self.knows_connector(connector_id) or duration_s <= 0:
            return None
        return self.smart.composite(self._transaction_refs(), connector_id, self.clock.now(), duration_s,
                                    unit or RateUnit.AMPERE)

    def remote_start_profile_reason(self: Station, profile: ChargingProfile, evse_id: int) -> str | None:
        return self.smart.remote_start_reason(replace(profile, connector_id=evse_id))

    # ---- transactions ----------------------------------------------------------------------------

    def smart_transaction_started(self: Station, evse_id: int, profile: ChargingProfile | None) -> None:
        """Before the EVSE is authorised: install the remote start's TxProfile and set the limit,
        so the first PWM offer already respects the profiles."""
        tx = self._transaction_ref(evse_id)
        if tx is not None:
            self.smart.transaction_started(evse_id, tx, profile, self.clock.now())
        self._smart_changed()

    def smart_transaction_ended(self: Station, evse_id: int, local_id: int) -> None:
        self.smart.transaction_ended(local_id)
        self._smart_changed()

    # ---- the limit -------------------------------------------------------------------------------

    def apply_smart_limits(self: Station) -> None:
        now = self.clock.now()
        limits = self.smart.evaluator(self._transaction_refs()).limits(now, now)
        for evse_id, limit in limits.items():
            value = floor_tenth(limit) if limit is not None else None
            if self._limits[evse_id].get(SMART_LIMIT) != value:
                log.info("EVSE %s: smart charging limit %s", evse_id, f"{value} A" if value is not None else "lifted")
                self.set_limit(evse_id, SMART_LIMIT, value)

    async def run_smart_charging(self: Station) -> None:
        """Apply the limits, then sleep until the next schedule boundary (or a change)."""
        while True:
            self._smart_wakeup.clear()
            self.apply_smart_limits()
            now = self.clock.now()
            horizon = now + timedelta(seconds=SMART_RECHECK_S)
            evaluator = self.smart.evaluator(self._transaction_refs())
            upcoming = evaluator.change_points(now + timedelta(microseconds=1), horizon, now, floating=False)
            wait = (upcoming[0] - now).total_seconds() + BOUNDARY_MARGIN_S if upcoming else SMART_RECHECK_S
            sleeper = asyncio.ensure_future(self.clock.sleep(wait))
            woken = asyncio.ensure_future(self._smart_wakeup.wait())
            try:
                await asyncio.wait({sleeper, woken}, return_when=asyncio.FIRST_COMPLETED)
            finally:
                sleeper.cancel()
                woken.cancel()
            self.publish_status()

    def _smart_changed(self: Station) -> None:
        self.apply_smart_limits()
        self._smart_wakeup.set()

    def _transaction_ref(self: Station, evse_id: int) -> TransactionRef | None:
        tx = self.sessions[evse_id].tx
        if tx is None:
            return None
        record = self.store.transaction(tx.local_id)
        started = self.clock.now() - timedelta(seconds=self.clock.monotonic() - tx.started_mono)
        return TransactionRef(tx.local_id, record.csms_id if record else None, started)

    def _transaction_refs(self: Station) -> dict[int, TransactionRef | None]:
        return {evse_id: self._transaction_ref(evse_id) for evse_id in self.evses}
