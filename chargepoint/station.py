"""The charge point's policy: who may charge where, when transactions start and stop, and what
the CSMS is told. It acts on the EVSE controllers only through their intentions (authorise,
availability, limits); the controllers decide what is safe."""
from __future__ import annotations

import asyncio
import logging
from datetime import timedelta
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from chargepoint.auth import Authorizer, same_tag
from chargepoint.config import SafetyConfig
from chargepoint.evse.controller import LATCHING_FAULTS, EvseController
from chargepoint.evse.events import EvseEvent, FaultRaised
from chargepoint.evse.iec61851 import current_for_duty
from chargepoint.link import AuthDecision
from chargepoint.metering import samples_for
from chargepoint.settings import Settings
from chargepoint.status import ConnectorStatus, SessionView, StatusError, connector_status, error_for
from chargepoint.store import Store
from chargepoint.timeutil import iso_utc
from chargepoint.transactions import ActiveTransaction, LinkRef, Transactions
from hal.clock import Clock
from hal.contracts import EnergyMeter
from hal.types import FaultKind, IdToken, MeterError, MeterReading

log = logging.getLogger(__name__)

METER_FAILURES_FOR_LOSS = 3
METER_PERSIST_INTERVAL_S = 60.0
RESET_DRAIN_S = 30.0  # how long a reset waits for the CSMS to acknowledge queued messages
MAX_ALIGNED_IN_STOP = 96


@dataclass
class PendingAuth:
    id_tag: str
    parent_id_tag: str | None
    deadline: float  # monotonic; ConnectionTimeOut from the moment of acceptance


@dataclass
class Session:
    """What the policy knows about one EVSE beyond its hardware state."""

    connector_id: int
    pending: PendingAuth | None = None
    tx: ActiveTransaction | None = None
    finishing: bool = False
    plugged_seen: bool = False
    unavailable_scheduled: bool = False
    meter: MeterReading | None = None
    meter_failures: int = 0
    over_since: float | None = None  # since when the EV draws more than the pilot allows
    rcm_test_due: bool = False  # a session ended: test the RCM once the EV is gone
    rcm_tested_at: float = 0.0
    rcm_testing: bool = False
    last_persist_mono: float = float("-inf")
    reported: tuple[ConnectorStatus, StatusError | None] | None = None

    def view(self) -> SessionView:
        return SessionView(self.pending is not None, self.tx is not None, self.finishing)


class Station:
    def __init__(self, evses: dict[int, EvseController], meters: dict[int, EnergyMeter], clock: Clock,
                 store: Store, settings: Settings, authorizer: Authorizer, link: LinkRef,
                 request_restart: Callable[[str], None], safety: SafetyConfig | None = None) -> None:
        self.safety = safety or SafetyConfig()
        self.evses = evses
        self._meters = meters
        self.clock = clock
        self.store = store
        self.settings = settings
        self.authorizer = authorizer
        self._link = link
        self.transactions = Transactions(store, link)
        self.sessions = {evse_id: Session(connector_id=evse_id, rcm_tested_at=clock.monotonic())
                         for evse_id in evses}
        self._events: asyncio.Queue[EvseEvent] = asyncio.Queue()
        self._lock = asyncio.Lock()
        self._request_restart = request_restart
        self._tasks: set[asyncio.Task[Any]] = set()
        self._reported_cp0: ConnectorStatus | None = None
        self._aligned_slot: int | None = None
        self._offline_since: float | None = None
        # Current limits by source ("smart", "offline", ...); the EVSE gets the least of them.
        self._limits: dict[int, dict[str, float | None]] = {e: {} for e in evses}
        # Read-only listeners of controller events (timelines, displays); must not block.
        self.observers: list[Callable[[list[EvseEvent]], None]] = []
        authorizer.on_conflict = self._local_list_conflict
        for evse_id, available in store.load_availability().items():
            if evse_id in evses:
                evses[evse_id].set_available(available)

    # ---- feeding the policy ------------------------------------------------------------------

    def post_events(self, events: list[EvseEvent]) -> None:
        """Called from the control loop: hand over what happened, never wait."""
        for observer in self.observers:
            observer(events)
        for event in events:
            self._events.put_nowait(event)

    async def run_events(self) -> None:
        while True:
            event = await self._events.get()
            async with self._lock:
                await self._on_event(event)
                self.publish_status()

    async def run_reader(self, read_token: Callable[[], Any]) -> None:
        while True:
            token: IdToken = await read_token()
            self._spawn(self.present_token(token))

    async def run_ticks(self, period_s: float = 1.0) -> None:
        while True:
            await self._tick()
            await self.clock.sleep(period_s)

    def _spawn(self, coro: Any) -> None:
        task = asyncio.ensure_future(coro)
        self._tasks.add(task)
        task.add_done_callback(self._task_done)

    def _task_done(self, task: asyncio.Task[Any]) -> None:
        self._tasks.discard(task)
        if not task.cancelled() and task.exception() is not None:
            log.error("policy task failed", exc_info=task.exception())

    # ---- start-up ----------------------------------------------------------------------------

    async def recover(self) -> None:
        """Close every transaction a power cut left open, honestly: reason PowerLoss and the
        last reading that was persisted (or a fresh one, when it is plausible)."""
        for record in self.transactions.unfinished():
            meter_wh, at = record.last_meter_wh, record.last_meter_at
            fresh = await self._try_read(record.evse_id)
            if fresh is not None and fresh.energy_import_wh >= meter_wh:
                meter_wh, at = fresh.energy_import_wh, iso_utc(self.clock.now())
            log.warning("transaction %s was open at start: closing it (PowerLoss)", record.local_id)
            self.transactions.end(record.local_id, meter_wh, at, "PowerLoss", None, [])

    # ---- events from the controllers -----------------------------------------------------------

    async def _on_event(self, event: EvseEvent) -> None:
        evse_id = event.evse_id
        ctl, s = self.evses[evse_id], self.sessions[evse_id]
        if isinstance(event, FaultRaised) and event.kind in LATCHING_FAULTS and s.tx is not None:
            await self._stop(evse_id, "Other")
        plugged = ctl.plugged
        if plugged and not s.plugged_seen:
            s.plugged_seen = True
            if s.tx is None and s.pending is not None:
                await self._start(evse_id)
        elif not plugged and s.plugged_seen:
            s.plugged_seen = False
            s.finishing = False
            ctl.set_external_fault(FaultKind.OVERCURRENT, False)  # a new EV, a new chance
            if s.tx is not None and self.settings.get_bool("StopTransactionOnEVSideDisconnect"):
                await self._stop(evse_id, "EVDisconnected")

    # ---- tokens ------------------------------------------------------------------------------

    async def present_token(self, token: IdToken) -> None:
        """A badge at the reader: stop the holder's own transaction, or authorise a new one."""
        async with self._lock:
            for evse_id, s in self.sessions.items():
                if s.tx is not None and same_tag(s.tx.id_tag, token.id_tag):
                    await self._stop(evse_id, "Local", token.id_tag)
                    self.publish_status()
                    return
        target = self._choose_evse(token.evse_id)
        if target is None:
            log.info("a badge was presented but no connector can take a new session")
            return
        decision = await self.authorizer.authorize(token.id_tag, self._link.get())
        await self._accept(target, token.id_tag, decision)

    def _free(self, evse_id: int) -> bool:
        s, ctl = self.sessions[evse_id], self.evses[evse_id]
        snap = ctl.snapshot()
        return s.tx is None and s.pending is None and snap.available and not snap.faults

    def _choose_evse(self, hint: int | None) -> int | None:
        if hint is not None:
            return hint if hint in self.evses and self._free(hint) else None
        free = [e for e in self.evses if self._free(e)]
        plugged = [e for e in free if self.evses[e].plugged and not self.sessions[e].finishing]
        return (plugged or free or [None])[0]

    async def _accept(self, evse_id: int, id_tag: str, decision: AuthDecision) -> None:
        async with self._lock:
            if not decision.accepted:
                log.info("tag not accepted (%s, %s)", decision.status, decision.source)
                return
            if not self._free(evse_id):
                return
            timeout_s = self.settings.get_int("ConnectionTimeOut")
            s = self.sessions[evse_id]
            s.pending = PendingAuth(id_tag, decision.parent_id_tag, self.clock.monotonic() + timeout_s)
            s.finishing = False
            if self.evses[evse_id].plugged:
                await self._start(evse_id)
            self.publish_status()

    # ---- transactions ------------------------------------------------------------------------

    async def _start(self, evse_id: int) -> None:
        s, ctl = self.sessions[evse_id], self.evses[evse_id]
        pending = s.pending
        if pending is None:
            return
        reading = await self._try_read(evse_id) or s.meter
        meter_wh = reading.energy_import_wh if reading else 0.0
        s.tx = self.transactions.begin(evse_id, s.connector_id, pending.id_tag, pending.parent_id_tag,
                                       meter_wh, iso_utc(self.clock.now()), self.clock.monotonic())
        s.pending = None
        ctl.authorise()
        log.info("transaction %s started on EVSE %s", s.tx.local_id, evse_id)

    async def _stop(self, evse_id: int, reason: str, id_tag: str | None = None) -> None:
        s, ctl = self.sessions[evse_id], self.evses[evse_id]
        tx = s.tx
        if tx is None:
            return
        ctl.deauthorise()
        # Let the EV stop drawing and the contactor open before the final reading.
        for _ in range(100):
            if not ctl.snapshot().contactor_closed:
                break
            await self.clock.sleep(0.01)
        reading = await self._try_read(evse_id) or s.meter
        meter_wh = reading.energy_import_wh if reading else tx.meter_start_wh
        now = iso_utc(self.clock.now())
        data = self._transaction_data(tx, reading, now)
        self.transactions.end(tx.local_id, meter_wh, now, reason, id_tag, data)
        s.tx = None
        s.finishing = ctl.plugged
        s.rcm_test_due = True
        log.info("transaction %s stopped on EVSE %s (%s)", tx.local_id, evse_id, reason)
        if s.unavailable_scheduled:
            s.unavailable_scheduled = False
            self._set_available(evse_id, False)

    def _transaction_data(self, tx: ActiveTransaction, reading: MeterReading | None, now: str) -> list[dict[str, object]]:
        measurands = self.settings.get_list("StopTxnSampledData")
        if not measurands or reading is None:
            return list(tx.aligned)
        record = self.store.transaction(tx.local_id)
        begin = MeterReading(energy_import_wh=tx.meter_start_wh, power_w=0.0)
        begin_samples = samples_for(begin, [m for m in measurands if m.startswith("Energy")], "Transaction.Begin")
        end_samples = samples_for(reading, measurands, "Transaction.End")
        data: list[dict[str, object]] = []
        if begin_samples and record is not None:
            data.append({"timestamp": record.started_at, "samples": begin_samples})
        data.extend(tx.aligned)
        if end_samples:
            data.append({"timestamp": now, "samples": end_samples})
        return data

    def transaction_confirmed(self, local_id: int, id_tag: str, decision: AuthDecision) -> None:
        """The CSMS answered a StartTransaction (perhaps long after, on replay): cache the answer
        and act on a refusal if the transaction still runs."""
        self.authorizer.remember(id_tag, decision)
        for evse_id, s in self.sessions.items():
            if s.tx is None or s.tx.local_id != local_id:
                continue
            if decision.accepted:
                return
            allowance = self.settings.get_int("MaxEnergyOnInvalidId")
            if allowance > 0:
                # MaxEnergyOnInvalidId: the driver may still get this much from the start.
                s.tx.invalid_energy_cap_wh = s.tx.meter_start_wh + allowance
            else:
                self._apply_invalid(evse_id)
            return

    def _apply_invalid(self, evse_id: int) -> None:
        """StopTransactionOnInvalidId: stop (DeAuthorized), or only stop the energy."""
        if self.settings.get_bool("StopTransactionOnInvalidId"):
            self._spawn(self._locked_stop(evse_id, "DeAuthorized"))
        else:
            self.evses[evse_id].deauthorise()

    async def _locked_stop(self, evse_id: int, reason: str, id_tag: str | None = None) -> None:
        async with self._lock:
            await self._stop(evse_id, reason, id_tag)
            self.publish_status()

    # ---- periodic work -----------------------------------------------------------------------

    async def _tick(self) -> None:
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

    def _clock_aligned(self) -> None:
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
            samples = samples_for(s.meter, self.settings.get_list("MeterValuesAlignedData"), "Sample.Clock")
            self.transactions.sample(s.tx, s.meter.energy_import_wh, boundary, samples or None)
            stop_samples = samples_for(s.meter, self.settings.get_list("StopTxnAlignedData"), "Sample.Clock")
            if stop_samples and len(s.tx.aligned) < MAX_ALIGNED_IN_STOP:
                s.tx.aligned.append({"timestamp": boundary, "samples": stop_samples})

    def _maybe_test_rcm(self, evse_id: int, s: Session, now: float) -> None:
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

    async def _test_rcm(self, evse_id: int, s: Session) -> None:
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

    def set_limit(self, evse_id: int, source: str, limit_a: float | None) -> None:
        """A current limit from one source; the EVSE offers the least of all sources' limits."""
        self._limits[evse_id][source] = limit_a
        values = [v for v in self._limits[evse_id].values() if v is not None]
        self.evses[evse_id].set_limit_a(min(values) if values else None)

    def _offline_fallback(self, now: float) -> None:
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

    def _check_overcurrent(self, evse_id: int, s: Session, now: float) -> None:
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

    async def _poll_meter(self, evse_id: int) -> None:
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

    def _sample(self, tx: ActiveTransaction, s: Session, now: float) -> None:
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
            # Keep the cadence anchored to the transaction start, not to when the tick ran.
            tx.last_sample_mono = max(tx.last_sample_mono + interval, now - interval)
        s.last_persist_mono = now
        self.transactions.sample(tx, s.meter.energy_import_wh, iso_utc(self.clock.now()), samples)

    async def _try_read(self, evse_id: int) -> MeterReading | None:
        try:
            return await self._meters[evse_id].read()
        except MeterError:
            return None

    # ---- status ------------------------------------------------------------------------------

    def status_of(self, evse_id: int) -> tuple[ConnectorStatus, StatusError | None]:
        snap = self.evses[evse_id].snapshot()
        return connector_status(snap, self.sessions[evse_id].view()), error_for(snap.faults)

    def publish_status(self) -> None:
        link = self._link.get()
        all_unavailable = True
        for evse_id, s in self.sessions.items():
            current = self.status_of(evse_id)
            if current[0] is not ConnectorStatus.UNAVAILABLE:
                all_unavailable = False
            if current != s.reported:
                s.reported = current
                link.status_changed(s.connector_id, current[0], current[1])
        cp0 = ConnectorStatus.UNAVAILABLE if all_unavailable else ConnectorStatus.AVAILABLE
        if cp0 is not self._reported_cp0:
            self._reported_cp0 = cp0
            link.status_changed(0, cp0, None)

    def _local_list_conflict(self, id_tag: str) -> None:
        """OCPP 1.6 §3.5.2: a CSMS answer that contradicts the local list is reported on connector 0."""
        cp0 = self._reported_cp0 or ConnectorStatus.AVAILABLE
        self._link.get().status_changed(
            0, cp0, StatusError(code="LocalListConflict", info="CSMS and local list disagree", vendor_code="")
        )

    def resend_status(self) -> None:
        """After (re)connection only the current status of each connector is sent, not history."""
        self._reported_cp0 = None
        for s in self.sessions.values():
            s.reported = None
        self.publish_status()

    def status_report(self) -> dict[str, Any]:
        evses: dict[int, dict[str, Any]] = {}
        for evse_id, s in self.sessions.items():
            snap = self.evses[evse_id].snapshot()
            status, error = self.status_of(evse_id)
            record = self.store.transaction(s.tx.local_id) if s.tx else None
            evses[evse_id] = {
                "offered_current_a": round(snap.offered_current_a, 2),
                "transaction_id": record.csms_id if record else None,
                "local_transaction_id": s.tx.local_id if s.tx else None,
                "id_tag": s.tx.id_tag if s.tx else (s.pending.id_tag if s.pending else None),
                "connector_status": status.value,
                "error_code": error.code if error else "NoError",
                "faults": sorted(f.value for f in snap.faults),
                "available": snap.available,
            }
        length, oldest = self.store.outbox_stats()
        return {"evses": evses, "ocpp": self._link.get().connection_state(),
                "outbox": {"length": length, "oldest": oldest}}

    # ---- commands (from the CSMS or a technician) ----------------------------------------------

    def remote_start(self, id_tag: str, connector_id: int | None) -> bool:
        if connector_id and connector_id not in self.evses:
            return False
        evse_id = self._choose_evse(connector_id or None)
        if evse_id is None:
            return False
        self._spawn(self._remote_start(evse_id, id_tag))
        return True

    async def _remote_start(self, evse_id: int, id_tag: str) -> None:
        if self.settings.get_bool("AuthorizeRemoteTxRequests"):
            decision = await self.authorizer.authorize(id_tag, self._link.get())
        else:
            decision = AuthDecision("Accepted", source="csms")
        await self._accept(evse_id, id_tag, decision)

    def find_transaction(self, csms_id: int) -> int | None:
        for evse_id, s in self.sessions.items():
            if s.tx is None:
                continue
            record = self.store.transaction(s.tx.local_id)
            if record is not None and record.csms_id == csms_id:
                return evse_id
        return None

    def remote_stop(self, csms_id: int) -> bool:
        evse_id = self.find_transaction(csms_id)
        if evse_id is None:
            return False
        self._spawn(self._locked_stop(evse_id, "Remote"))
        return True

    async def unlock(self, connector_id: int) -> str:
        ctl = self.evses.get(connector_id)
        if ctl is None or ctl.tethered or ctl.devices.lock is None:
            return "NotSupported"
        async with self._lock:
            if self.sessions[connector_id].tx is not None:
                await self._stop(connector_id, "UnlockCommand")
            ctl.request_unlock()
            self.publish_status()
        lock = ctl.devices.lock
        for _ in range(200):
            if not lock.commanded_locked and lock.feedback_locked() in (False, None):
                return "Unlocked"
            await self.clock.sleep(0.01)
        return "UnlockFailed"

    def change_availability(self, connector_id: int, operative: bool) -> str:
        if connector_id == 0:
            targets = list(self.evses)
        elif connector_id in self.evses:
            targets = [connector_id]
        else:
            return "Rejected"
        scheduled = False
        for evse_id in targets:
            s = self.sessions[evse_id]
            if not operative and s.tx is not None:
                s.unavailable_scheduled = True
                scheduled = True
                continue
            s.unavailable_scheduled = False
            self._set_available(evse_id, operative)
        self.publish_status()
        return "Scheduled" if scheduled else "Accepted"

    def _set_available(self, evse_id: int, available: bool) -> None:
        self.evses[evse_id].set_available(available)
        self.store.save_availability(evse_id, available)
        if not available:
            self.sessions[evse_id].pending = None

    async def reset(self, hard: bool) -> None:
        reason = "HardReset" if hard else "SoftReset"
        async with self._lock:
            for evse_id, s in self.sessions.items():
                if s.tx is not None:
                    await self._stop(evse_id, reason)
            self.publish_status()
        await self._drain_outbox(RESET_DRAIN_S)
        self._request_restart(reason)

    async def _drain_outbox(self, limit_s: float) -> None:
        """OCPP 1.6 §5.14: the StopTransaction of a reset is sent before the reset; only what the
        CSMS has not acknowledged in time stays queued for after the restart. Restarting while
        the message is in flight would send it a second time."""
        deadline = self.clock.monotonic() + limit_s
        while self.clock.monotonic() < deadline:
            if not self._link.get().online or self.store.outbox_stats()[0] == 0:
                return
            await self.clock.sleep(0.05)

    def clear_cache(self) -> bool:
        self.authorizer.clear_cache()
        return True
