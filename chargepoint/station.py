"""The charge point's policy: who may charge where, when transactions start and stop, and what
the CSMS is told. It acts on the EVSE controllers only through their intentions (authorise,
availability, limits); the controllers decide what is safe."""
from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from chargepoint.auth import Authorizer, same_tag
from chargepoint.config import SafetyConfig
from chargepoint.evse.controller import LATCHING_FAULTS, EvseController
from chargepoint.evse.events import EvseEvent, FaultRaised
from chargepoint.indicator import indicator_pattern
from chargepoint.link import AuthDecision
from chargepoint.maintenance import MaintenanceStatus
from chargepoint.metering import samples_for
from chargepoint.settings import Settings
from chargepoint.smart_charging import ChargingProfile, EvseElectrics, SmartCharging
from chargepoint.status import ConnectorStatus, SessionView, StatusError, connector_status, error_for
from chargepoint.status_hold import StatusHold
from chargepoint.store import Store
from chargepoint.timeutil import iso_utc
from chargepoint.station_commands import StationCommands
from chargepoint.station_maintenance import StationMaintenance
from chargepoint.station_periodic import PeriodicDuties
from chargepoint.station_smart_charging import SmartChargingDuties
from chargepoint.station_reports import StationReports
from chargepoint.station_reservations import StationReservations
from chargepoint.transactions import ActiveTransaction, LinkRef, Transactions
from hal.clock import Clock
from hal.contracts import EnergyMeter, Indicator
from hal.types import FaultKind, IdToken, MeterReading

log = logging.getLogger(__name__)


@dataclass
class PendingAuth:
    id_tag: str
    parent_id_tag: str | None
    deadline: float  # monotonic; ConnectionTimeOut from the moment of acceptance
    reservation_id: int | None = None  # the reservation its transaction will use up
    charging_profile: ChargingProfile | None = None  # a remote start's TxProfile for the transaction


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
    lock_holder: str | None = None  # the tag of the last transaction: it releases a held cable

    def view(self) -> SessionView:
        return SessionView(self.pending is not None, self.tx is not None, self.finishing)


class Station(PeriodicDuties, StationCommands, StationReservations, StationReports, SmartChargingDuties,
              StationMaintenance):
    def __init__(self, evses: dict[int, EvseController], meters: dict[int, EnergyMeter], clock: Clock,
                 store: Store, settings: Settings, authorizer: Authorizer, link: LinkRef,
                 request_restart: Callable[[str], None], safety: SafetyConfig | None = None,
                 electrics: dict[int, EvseElectrics] | None = None) -> None:
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
        self._status_hold = StatusHold()
        self._aligned_slot: int | None = None
        self._offline_since: float | None = None
        # Current limits by source ("smart", "offline", ...); the EVSE gets the least of them.
        self._limits: dict[int, dict[str, float | None]] = {e: {} for e in evses}
        self.smart = SmartCharging(store, settings, electrics or {
            e: EvseElectrics(phases=3, voltage_v=230.0, max_current_a=ctl.max_current_a) for e, ctl in evses.items()})
        self._smart_wakeup = asyncio.Event()
        # Read-only listeners of controller events (timelines, displays); must not block.
        self.observers: list[Callable[[list[EvseEvent]], None]] = []
        self.indicator: Indicator | None = None  # the box's status light, if it has one
        authorizer.on_conflict = self._local_list_conflict
        self.maintenance = MaintenanceStatus()
        self._init_reservations()
        for evse_id, available in store.load_availability().items():
            if evse_id in evses:
                evses[evse_id].set_available(available)
        self._apply_unlock_policy()
        settings.on_change(self._setting_changed)

    def _setting_changed(self, name: str, _value: str) -> None:
        if name in ("UnlockConnectorOnEVSideDisconnect", "StopTransactionOnEVSideDisconnect"):
            self._apply_unlock_policy()

    def _apply_unlock_policy(self) -> None:
        """UnlockConnectorOnEVSideDisconnect, overruled by StopTransactionOnEVSideDisconnect false:
        the cable then always stays locked when the EV side is unplugged (OCPP 1.6 §4.10)."""
        unlock = (self.settings.get_bool("UnlockConnectorOnEVSideDisconnect")
                  and self.settings.get_bool("StopTransactionOnEVSideDisconnect"))
        for ctl in self.evses.values():
            ctl.set_unlock_on_ev_disconnect(unlock)

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
        last reading that was persisted (or a fresh one, when it is plausible). The reservations
        that survived the restart start counting down to their expiry again."""
        for record in self.transactions.unfinished():
            meter_wh, at = record.last_meter_wh, record.last_meter_at
            fresh = await self._try_read(record.evse_id)
            if fresh is not None and fresh.energy_import_wh >= meter_wh:
                # A clock behind after the restart (no RTC before NTP) must not stamp the stop
                # before what was already recorded.
                meter_wh, at = fresh.energy_import_wh, max(iso_utc(self.clock.now()), at)
            log.warning("transaction %s was open at start: closing it (PowerLoss)", record.local_id)
            self.transactions.end(record.local_id, meter_wh, at, "PowerLoss", None, [])
        self._arm_reservation_timers()

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
                    self._release_held_cable(evse_id)
                    self.publish_status()
                    return
            for evse_id, s in self.sessions.items():
                held = s.tx is None and self.evses[evse_id].lock_held
                if held and s.lock_holder is not None and same_tag(s.lock_holder, token.id_tag):
                    self._release_held_cable(evse_id)
                    self.publish_status()
                    return
        decision: AuthDecision | None = None
        # Only a transaction whose group is known can be stopped by another token of the group.
        running = [e for e, s in self.sessions.items()
                   if s.tx is not None and s.tx.parent_id_tag and token.evse_id in (None, e)]
        if running:
            # OCPP 1.6 §3.10: another token of the same group (equal parentIdTag) may stop it.
            decision = await self.authorizer.authorize(token.id_tag, self._link.get())
            if await self._stop_for_group(running, token.id_tag, decision):
                return
        target = self._choose_evse(token.evse_id, token.id_tag)
        if target is None:
            log.info("a badge was presented but no connector can take a new session")
            return
        if decision is None:
            decision = await self.authorizer.authorize(token.id_tag, self._link.get())
        await self._accept(target, token.id_tag, decision)

    async def _stop_for_group(self, candidates: list[int], id_tag: str, decision: AuthDecision) -> bool:
        if not decision.accepted or not decision.parent_id_tag:
            return False
        async with self._lock:
            for evse_id in candidates:
                tx = self.sessions[evse_id].tx
                if tx is not None and same_tag(tx.parent_id_tag or "", decision.parent_id_tag):
                    await self._stop(evse_id, "Local", id_tag)
                    self._release_held_cable(evse_id)
                    self.publish_status()
                    return True
        return False

    def _release_held_cable(self, evse_id: int) -> None:
        """A cable kept locked after the EV side was unplugged is released when its owner
        presents the tag (UnlockConnectorOnEVSideDisconnect false, OCPP 1.6 §4.10)."""
        ctl = self.evses[evse_id]
        if ctl.lock_held:
            log.info("EVSE %s: the owner's tag releases the cable", evse_id)
            ctl.request_unlock()

    def _free(self, evse_id: int) -> bool:
        s, ctl = self.sessions[evse_id], self.evses[evse_id]
        snap = ctl.snapshot()
        return s.tx is None and s.pending is None and snap.available and not snap.faults

    def _choose_evse(self, hint: int | None, id_tag: str) -> int | None:
        if hint is not None:
            usable = hint in self.evses and self._free(hint) and self._may_take(hint, id_tag)
            return hint if usable else None
        free = sorted((e for e in self.evses if self._free(e) and self._may_take(e, id_tag)),
                      key=lambda e: self._reservation_rank(e, id_tag))
        plugged = [e for e in free if self.evses[e].plugged and not self.sessions[e].finishing]
        return (plugged or free or [None])[0]

    async def _accept(self, evse_id: int, id_tag: str, decision: AuthDecision,
                      charging_profile: ChargingProfile | None = None) -> None:
        parent_id_tag = await self._group_of(evse_id, id_tag, decision)
        async with self._lock:
            if not decision.accepted:
                log.info("tag not accepted (%s, %s)", decision.status, decision.source)
                return
            if not self._free(evse_id):
                return
            allowed, reservation = self._reservation_verdict(evse_id, id_tag, parent_id_tag)
            if not allowed:
                log.info("EVSE %s is reserved for another tag", evse_id)
                return
            timeout_s = self.settings.get_int("ConnectionTimeOut")
            s = self.sessions[evse_id]
            s.pending = PendingAuth(id_tag, parent_id_tag, self.clock.monotonic() + timeout_s,
                                    reservation.reservation_id if reservation else None,
                                    charging_profile=charging_profile)
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
        reservation_id = self._reservation_to_end(pending)
        s.tx = self.transactions.begin(evse_id, s.connector_id, pending.id_tag, pending.parent_id_tag,
                                       meter_wh, iso_utc(self.clock.now()), self.clock.monotonic(),
                                       reservation_id)
        s.pending = None
        s.lock_holder = pending.id_tag
        if reservation_id is not None:
            self._reservation_used(reservation_id)
        self.smart_transaction_started(evse_id, pending.charging_profile)
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
        self.smart_transaction_ended(evse_id, tx.local_id)
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

    # ---- status ------------------------------------------------------------------------------

    def status_of(self, evse_id: int) -> tuple[ConnectorStatus, StatusError | None]:
        snap = self.evses[evse_id].snapshot()
        status = connector_status(snap, self.sessions[evse_id].view())
        if status is ConnectorStatus.AVAILABLE and self.shown_reserved(evse_id):
            status = ConnectorStatus.RESERVED
        return status, error_for(snap.faults)

    def publish_status(self) -> None:
        self._end_reservations_out_of_service()
        link = self._link.get()
        # MinimumStatusDuration: a change is reported once it has lasted that long (checked at
        # least every second by the periodic tick).
        hold_s = self.settings.get_int("MinimumStatusDuration")
        now = self.clock.monotonic()
        all_unavailable = True
        for evse_id, s in self.sessions.items():
            current = self.status_of(evse_id)
            if current[0] is not ConnectorStatus.UNAVAILABLE:
                all_unavailable = False
            if current[0] is not ConnectorStatus.FAULTED and self.evses[evse_id].snapshot().settling:
                # Not yet known (e.g. the contactor opened as the EV left C, the CP state is still
                # being confirmed): report once it is, not a status that lasts milliseconds.
                continue
            if self._status_hold.due(s.connector_id, current, s.reported, now, hold_s):
                s.reported = current
                link.status_changed(s.connector_id, current[0], current[1])
        self.show_status()
        cp0 = ConnectorStatus.UNAVAILABLE if all_unavailable else ConnectorStatus.AVAILABLE
        if self._status_hold.due(0, cp0, self._reported_cp0, now, hold_s):
            self._reported_cp0 = cp0
            link.status_changed(0, cp0, None)

    def show_status(self) -> None:
        """The status light follows the connector statuses (whether or not the CSMS listens)."""
        if self.indicator is not None:
            self.indicator.show(indicator_pattern(self.status_of(e)[0] for e in self.sessions))

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
