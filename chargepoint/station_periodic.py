"""The station's periodic duties, run once a second on the injected clock: reading the meters,
sampling transactions (periodic and clock-aligned), watching the EV's current, testing the RCM,
and the offline current fallback. Mixed into Station, which owns the state they use."""
from __future__ import annotations

import bisect
import logging
from datetime import timedelta
from typing import TYPE_CHECKING

from chargepoint.evse.iec61851 import current_for_duty
from chargepoint.metering import samples_for
from chargepoint.timeutil import iso_utc
from chargepoint.transactions import ActiveTransaction
from hal.types import FaultKind, MeterError, MeterReading

if TYPE_CHECKING:
    from chargepoint.station import Session, Station

log = logging.getLogger("chargepoint.station")

METER_FAILURES_FOR_LOSS = 3
METER_PERSIST_INTERVAL_S = 60.0


class PeriodicDuties:
    async def run_ticks(self: Station, period_s: float = 1.0) -> None:
        while True:
            await self._tick()
            await self.clock.sleep(period_s)

    async def _tick(self: Station) -> None:
        now = self.clock.monotonic()
        self._offline_fallback(now)
        for evse_id, s in self.sessions.items():
            await self._poll_meter(evse_id)
            self._check_overcurrent(evse_id, s, now)
            self._maybe_test_rcm(evse_id, s, now)
            async with self._lock:
                if s.pending is not None and s.tx is None and now >= s.pending.deadline:
                    log.info("EVSE %s: no cable within ConnectionTimeOut; authorisation dropped", evse_id)
                    s.pending = None
                if s.tx is not None and s.meter is not None:
                    self._sample(s.tx, s, now)
                    cap = s.tx.invalid_energy_cap_wh
                    if cap is not None and s.meter.energy_import_wh >= cap:
                        s.tx.invalid_energy_cap_wh = None
                        self._apply_invalid(evse_id)
        async with self._lock:
            self._clock_aligned()
            self.publish_status()

    def _clock_aligned(self: Station) -> None:
        """ClockAlignedDataInterval: readings at evenly spaced times of day from midnight UTC."""
        interval = self.settings.get_int("ClockAlignedDataInterval")
        if interval <= 0:
            self._aligned_slot = None
            return
        wall = self.clock.now()
        midnight = wall.replace(hour=0, minute=0, second=0, microsecond=0)
        slot = int((wall - midnight).total_seconds() // interval)
        previous, self._aligned_slot = self._aligned_slot, slot
        if previous is None or previous == slot:
            return
        boundary = iso_utc(midnight + timedelta(seconds=slot * interval))
        for s in self.sessions.values():
            if s.tx is None or s.meter is None:
                continue
            offered = self.evses[s.tx.evse_id].snapshot().offered_current_a
            samples = samples_for(s.meter, self.settings.get_list("MeterValuesAlignedData"), "Sample.Clock", offered)
            self.transactions.sample(s.tx, s.meter.energy_import_wh, boundary, samples or None)
            stop_samples = samples_for(s.meter, self.settings.get_list("StopTxnAlignedData"), "Sample.Clock", offered)
            if stop_samples:
                self._keep_for_stop(s.tx, {"timestamp": boundary, "samples": stop_samples})

    def _keep_for_stop(self: Station, tx: ActiveTransaction, entry: dict[str, object]) -> None:
        """A reading for the StopTransaction's transactionData, in time order. With Transaction.Begin
        and End they stay within StopTransactionMaxMeterValues: when full, every other reading
        is dropped, oldest and newest kept, so the whole transaction stays covered (errata 3.91)."""
        bisect.insort(tx.aligned, entry, key=lambda e: str(e["timestamp"]))
        limit = max(1, self.settings.get_int("StopTransactionMaxMeterValues") - 2)
        if len(tx.aligned) > limit:
            tx.aligned[:] = tx.aligned[(len(tx.aligned) - 1) % 2::2]

    def _maybe_test_rcm(self: Station, evse_id: int, s: Session, now: float) -> None:
        """The RCM self-test runs after every session (once the EV is gone) and at least every
        rcm_self_test_interval_h, always on an idle EVSE."""
        ctl = self.evses[evse_id]
        if ctl.devices.rcm is None or s.rcm_testing:
            return
        periodic = now - s.rcm_tested_at >= self.safety.rcm_self_test_interval_h * 3600
        idle = s.tx is None and s.pending is None and not ctl.plugged
        if idle and (s.rcm_test_due or periodic):
            s.rcm_testing = True
            self._spawn(self._test_rcm(evse_id, s))

    async def _test_rcm(self: Station, evse_id: int, s: Session) -> None:
        ctl = self.evses[evse_id]
        rcm = ctl.devices.rcm
        assert rcm is not None
        ctl.suspend_rcm_monitoring(True)
        try:
            passed = await rcm.self_test()
        finally:
            rcm.reset()
            ctl.suspend_rcm_monitoring(False)
            s.rcm_testing = False
            s.rcm_test_due = False
            s.rcm_tested_at = self.clock.monotonic()
        if passed:
            log.info("EVSE %s: RCM self-test passed", evse_id)
        else:
            log.error("EVSE %s: RCM self-test FAILED: out of service until a technician clears it", evse_id)
            ctl.latch_fault(FaultKind.RCM_SELF_TEST)

    def set_limit(self: Station, evse_id: int, source: str, limit_a: float | None) -> None:
        """A current limit from one source; the EVSE offers the least of all sources' limits."""
        self._limits[evse_id][source] = limit_a
        values = [v for v in self._limits[evse_id].values() if v is not None]
        self.evses[evse_id].set_limit_a(min(values) if values else None)

    def _offline_fallback(self: Station, now: float) -> None:
        """Once the CSMS has been gone for offline_after_s, no EVSE offers more than the offline
        limit, so a site limit the CSMS manages is not exceeded unnoticed."""
        if self._link.get().online:
            self._offline_since = None
        elif self._offline_since is None:
            self._offline_since = now
        limit = self.safety.offline_current_limit_a
        active = (limit is not None and self._offline_since is not None
                  and now - self._offline_since >= self.safety.offline_after_s)
        for evse_id in self.evses:
            if self._limits[evse_id].get("offline") != (limit if active else None):
                log.info("EVSE %s: offline current limit %s", evse_id, f"{limit} A" if active else "lifted")
                self.set_limit(evse_id, "offline", limit if active else None)

    def _check_overcurrent(self: Station, evse_id: int, s: Session, now: float) -> None:
        """The EV may not draw more than (signalled + 0.5 A) x 1.1 for longer than the allowed
        time; the reference is the current the PWM signals now, not a new target."""
        snap = self.evses[evse_id].snapshot()
        if not (snap.contactor_closed and snap.pilot.pwm_on and s.meter and s.meter.current_a):
            s.over_since = None
            return
        allowed = (current_for_duty(snap.pilot.duty_percent) + 0.5) * 1.1
        if max(s.meter.current_a) <= allowed:
            s.over_since = None
        elif s.over_since is None:
            s.over_since = now
        elif now - s.over_since > self.safety.overcurrent_time_s:
            log.error("EVSE %s: EV draws %.1f A where %.1f A is allowed", evse_id, max(s.meter.current_a), allowed)
            self.evses[evse_id].set_external_fault(FaultKind.OVERCURRENT, True)
            s.over_since = None

    async def _poll_meter(self: Station, evse_id: int) -> None:
        s, ctl = self.sessions[evse_id], self.evses[evse_id]
        try:
            s.meter = await self._meters[evse_id].read()
        except MeterError as exc:
            s.meter_failures += 1
            if s.meter_failures == METER_FAILURES_FOR_LOSS:
                log.error("EVSE %s: meter lost (%s)", evse_id, exc)
                if self.safety.open_on_meter_loss:
                    ctl.set_external_fault(FaultKind.METER_LOSS, True)
            return
        if s.meter_failures >= METER_FAILURES_FOR_LOSS:
            log.info("EVSE %s: meter answers again", evse_id)
        s.meter_failures = 0
        ctl.set_external_fault(FaultKind.METER_LOSS, False)

    def _sample(self: Station, tx: ActiveTransaction, s: Session, now: float) -> None:
        assert s.meter is not None
        interval = self.settings.get_int("MeterValueSampleInterval")
        due = interval > 0 and now - tx.last_sample_mono >= interval
        persist_due = now - s.last_persist_mono >= METER_PERSIST_INTERVAL_S
        if not (due or persist_due):
            return
        samples = None
        if due:
            offered = self.evses[tx.evse_id].snapshot().offered_current_a
            samples = samples_for(s.meter, self.settings.get_list("MeterValuesSampledData"), "Sample.Periodic", offered)
            # StopTxnSampledData: the same cadence, kept for the StopTransaction (§9.1.27).
            stop_samples = samples_for(s.meter, self.settings.get_list("StopTxnSampledData"), "Sample.Periodic", offered)
            if stop_samples:
                self._keep_for_stop(tx, {"timestamp": iso_utc(self.clock.now()), "samples": stop_samples})
            # Keep the cadence anchored to the transaction start, not to when the tick ran.
            tx.last_sample_mono = max(tx.last_sample_mono + interval, now - interval)
        s.last_persist_mono = now
        self.transactions.sample(tx, s.meter.energy_import_wh, iso_utc(self.clock.now()), samples)

    async def _try_read(self: Station, evse_id: int) -> MeterReading | None:
        try:
            return await self._meters[evse_id].read()
        except MeterError:
            return None
