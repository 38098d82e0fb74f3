"""What the CSMS (or a technician) can ask of the station: remote start and stop, unlock,
availability, reset, cache. Each decides at once what can be answered and leaves the slow part
(authorisation, stopping a transaction) to a task. Mixed into Station."""
from __future__ import annotations

import logging
from dataclasses import replace
from typing import TYPE_CHECKING

from chargepoint.link import AuthDecision
from chargepoint.smart_charging import ChargingProfile

if TYPE_CHECKING:
    from chargepoint.station import Station

log = logging.getLogger("chargepoint.station")

RESET_DRAIN_S = 30.0  # how long a reset waits for the CSMS to acknowledge queued messages


class StationCommands:
    def remote_start(self: Station, id_tag: str, connector_id: int | None,
                     charging_profile: ChargingProfile | None = None) -> bool:
        # OCPP 1.6 §6.33: connectorId, when given, SHALL be > 0 (0 is the charge point itself).
        if connector_id is not None and connector_id not in self.evses:
            return False
        evse_id = self._choose_evse(connector_id, id_tag)
        if evse_id is None:
            return False
        if charging_profile is not None:
            # Rejected when its TxProfile cannot be used; it is for this connector's transaction.
            reason = self.remote_start_profile_reason(charging_profile, evse_id)
            if reason is not None:
                log.info("remote start rejected: %s", reason)
                return False
            charging_profile = replace(charging_profile, connector_id=evse_id)
        self._spawn(self._remote_start(evse_id, id_tag, charging_profile))
        return True

    async def _remote_start(self: Station, evse_id: int, id_tag: str,
                            charging_profile: ChargingProfile | None = None) -> None:
        if self.settings.get_bool("AuthorizeRemoteTxRequests"):
            decision = await self.authorizer.authorize(id_tag, self._link.get())
        else:
            # Not an answer about the tag: it tells nothing of its group (parentIdTag).
            decision = AuthDecision("Accepted", source="remote-start")
        await self._accept(evse_id, id_tag, decision, charging_profile)

    def find_transaction(self: Station, csms_id: int) -> int | None:
        """The EVSE running the transaction the CSMS knows by this id, if it still runs."""
        record = self.store.transaction_by_csms_id(csms_id)
        if record is None or record.stopped_at is not None:
            return None
        tx = self.sessions[record.evse_id].tx if record.evse_id in self.sessions else None
        return record.evse_id if tx is not None and tx.local_id == record.local_id else None

    def remote_stop(self: Station, csms_id: int) -> bool:
        evse_id = self.find_transaction(csms_id)
        if evse_id is None:
            return False
        self._spawn(self._locked_stop(evse_id, "Remote"))
        return True

    async def unlock(self: Station, connector_id: int) -> str:
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

    def change_availability(self: Station, connector_id: int, operative: bool) -> str:
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

    def _set_available(self: Station, evse_id: int, available: bool) -> None:
        self.evses[evse_id].set_available(available)
        self.store.save_availability(evse_id, available)
        if not available:
            self.sessions[evse_id].pending = None

    async def reset(self: Station, hard: bool) -> None:
        reason = "HardReset" if hard else "SoftReset"
        async with self._lock:
            for evse_id, s in self.sessions.items():
                if s.tx is not None:
                    await self._stop(evse_id, reason)
            self.publish_status()
        await self._drain_outbox(RESET_DRAIN_S)
        self._request_restart(reason)

    def clear_cache(self: Station) -> bool:
        self.authorizer.clear_cache()
        return True

    async def _drain_outbox(self: Station, limit_s: float) -> None:
        """OCPP 1.6 §5.14: the StopTransaction of a reset is sent before the reset; only what the
        CSMS has not acknowledged in time stays queued for after the restart. Restarting while
        the message is in flight would send it a second time."""
        deadline = self.clock.monotonic() + limit_s
        while self.clock.monotonic() < deadline:
            if not self._link.get().online or self.store.outbox_stats()[0] == 0:
                return
            await self.clock.sleep(0.05)
