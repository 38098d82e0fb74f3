"""Reservations in the station's policy (OCPP 1.6 §5.13): the answers to ReserveNow and
CancelReservation, which tags may start where, the Reserved status, expiry on the injected clock,
and the end of a reservation when its holder starts a transaction or the connector goes out of
service. Mixed into Station.

A reservation of connector 0 fixes no connector: it makes the station refuse a new session to
others whenever that would leave fewer free connectors than such reservations."""
from __future__ import annotations

import asyncio
import logging
from typing import TYPE_CHECKING

from chargepoint.auth import same_tag
from chargepoint.link import AuthDecision
from chargepoint.reservations import ANY_CONNECTOR, Reservation, ReservationBook
from chargepoint.status import ConnectorStatus, connector_status

if TYPE_CHECKING:
    from chargepoint.station import PendingAuth, Station

log = logging.getLogger("chargepoint.station")

# Expiry is a wall-clock time; re-reading the clock at least this often follows a clock that was
# set meanwhile (NTP after a boot without RTC).
EXPIRY_RECHECK_S = 60.0
# Authorisations that would have named the tag's parentIdTag if it had one.
_GROUP_KNOWN_FROM = ("csms", "local-list", "cache")
_OUT_OF_SERVICE = (ConnectorStatus.FAULTED, ConnectorStatus.UNAVAILABLE)


class StationReservations:
    def _init_reservations(self: Station) -> None:
        self.reservations = ReservationBook(self.store, self.clock.now())
        self._reservation_timers: dict[int, asyncio.Task[None]] = {}

    def _arm_reservation_timers(self: Station) -> None:
        """At start: the reservations that survived the restart expire on time again."""
        for reservation in self.reservations.all():
            self._arm_timer(reservation)

    # ---- CSMS commands -----------------------------------------------------------------------

    def reserve_now(self: Station, reservation: Reservation) -> str:
        """Accepted, or why not: Faulted, Occupied, Unavailable or Rejected. A reservation with
        the id of an existing one replaces it."""
        connector = reservation.connector_id
        if connector == ANY_CONNECTOR and not self.settings.get_bool("ReserveConnectorZeroSupported"):
            return "Rejected"
        if connector != ANY_CONNECTOR and connector not in self.evses:
            return "Rejected"
        if reservation.expiry <= self.clock.now():
            return "Rejected"
        refusal = self._reservation_refusal(reservation)
        if refusal is not None:
            log.info("reservation %s refused: %s", reservation.reservation_id, refusal)
            return refusal
        replaced = self.reservations.get(reservation.reservation_id) is not None
        self.reservations.put(reservation)
        self._arm_timer(reservation)
        log.info("reservation %s %s: connector %s until %s", reservation.reservation_id,
                 "replaced" if replaced else "made", connector, reservation.expiry.isoformat())
        self.publish_status()
        return "Accepted"

    def cancel_reservation(self: Station, reservation_id: int) -> bool:
        if self.reservations.get(reservation_id) is None:
            return False
        self._drop_reservation(reservation_id, "cancelled")
        self.publish_status()
        return True

    def _reservation_refusal(self: Station, new: Reservation) -> str | None:
        others = [r for r in self.reservations.all() if r.reservation_id != new.reservation_id]
        claimed = self._claimed_reservations()
        pool = [r for r in others if r.connector_id == ANY_CONNECTOR and r.reservation_id not in claimed]
        reserved = {r.connector_id for r in others if r.connector_id != ANY_CONNECTOR}
        idle = [e for e in self.evses if self._base_status(e) is ConnectorStatus.AVAILABLE and e not in reserved]
        if new.connector_id != ANY_CONNECTOR:
            status = self._base_status(new.connector_id)
            if status is ConnectorStatus.FAULTED:
                return "Faulted"
            if status is ConnectorStatus.UNAVAILABLE:
                return "Unavailable"
            if status is not ConnectorStatus.AVAILABLE or new.connector_id in reserved:
                return "Occupied"
            # The connector-0 reservations still need one idle connector each.
            return "Occupied" if len(idle) - 1 < len(pool) else None
        if len(idle) > len(pool):
            return None
        states = {self._base_status(e) for e in self.evses}
        if states == {ConnectorStatus.FAULTED}:
            return "Faulted"
        if states <= set(_OUT_OF_SERVICE):
            return "Unavailable"
        return "Occupied"

    # ---- who may use a connector -------------------------------------------------------------

    def _base_status(self: Station, evse_id: int) -> ConnectorStatus:
        """The status without reservations."""
        return connector_status(self.evses[evse_id].snapshot(), self.sessions[evse_id].view())

    def _claimed_reservations(self: Station) -> set[int]:
        """Reservations whose holder was accepted on a connector and is about to start."""
        return {s.pending.reservation_id for s in self.sessions.values()
                if s.pending is not None and s.pending.reservation_id is not None}

    def _open_pool(self: Station) -> list[Reservation]:
        """Connector-0 reservations whose holder has not been accepted on a connector yet."""
        claimed = self._claimed_reservations()
        return [r for r in self.reservations.all()
                if r.connector_id == ANY_CONNECTOR and r.reservation_id not in claimed]

    def _held_for_pool(self: Station, evse_id: int) -> bool:
        """A new session of someone else here would leave fewer free connectors than there are
        connector-0 reservations."""
        pool = self._open_pool()
        if not pool:
            return False
        spare = [e for e in self.evses if self._free(e) and self.reservations.on_connector(e) is None]
        return evse_id in spare and len(spare) <= len(pool)

    def shown_reserved(self: Station, evse_id: int) -> bool:
        """An idle connector kept for a reservation is reported Reserved."""
        return self.reservations.on_connector(evse_id) is not None or self._held_for_pool(evse_id)

    def _may_take(self: Station, evse_id: int, id_tag: str) -> bool:
        """Before the tag's group is known: could this tag start here?"""
        reservation = self.reservations.on_connector(evse_id)
        if reservation is not None:
            return reservation.may_be_held_by(id_tag)
        if self._held_for_pool(evse_id):
            return any(r.may_be_held_by(id_tag) for r in self._open_pool())
        return True

    def _reservation_rank(self: Station, evse_id: int, id_tag: str) -> int:
        """Where a tag should rather go: 0 its own reserved connector, 1 a connector it may
        use, 2 one it may use only if its group matches."""
        reservation = self.reservations.on_connector(evse_id)
        if reservation is not None:
            return 0 if same_tag(reservation.id_tag, id_tag) else 2
        if self._held_for_pool(evse_id) and not any(same_tag(r.id_tag, id_tag) for r in self._open_pool()):
            return 2
        return 1

    def _reservation_verdict(self: Station, evse_id: int, id_tag: str,
                             parent_id_tag: str | None) -> tuple[bool, Reservation | None]:
        """May this tag start on this connector, and which reservation does that use up? Only
        the reserved tag or one with the reservation's parentIdTag may use a reservation."""
        reservation = self.reservations.on_connector(evse_id)
        if reservation is not None:
            return (True, reservation) if reservation.held_by(id_tag, parent_id_tag) else (False, None)
        own = next((r for r in self._open_pool() if r.held_by(id_tag, parent_id_tag)), None)
        if own is not None:
            return True, own
        return not self._held_for_pool(evse_id), None

    async def _group_of(self: Station, evse_id: int, id_tag: str, decision: AuthDecision) -> str | None:
        """The tag's parentIdTag where a group reservation needs it (OCPP 1.6 §5.13): from the
        authorisation when that would have named it, else from the local list or the cache,
        else from an Authorize.req."""
        if not decision.accepted or decision.parent_id_tag is not None or decision.source in _GROUP_KNOWN_FROM:
            return decision.parent_id_tag
        relevant = [r for r in self.reservations.all() if r.connector_id in (evse_id, ANY_CONNECTOR)]
        if not any(r.parent_id_tag is not None and not same_tag(r.id_tag, id_tag) for r in relevant):
            return None
        return await self.authorizer.parent_of(id_tag, self._link.get())

    # ---- the end of a reservation --------------------------------------------------------------

    def _reservation_to_end(self: Station, pending: PendingAuth) -> int | None:
        """The reservation a starting transaction uses up, if it is still in force."""
        rid = pending.reservation_id
        return rid if rid is not None and self.reservations.get(rid) is not None else None

    def _reservation_used(self: Station, reservation_id: int) -> None:
        """Its row went with the transaction's start; only memory and the timer are left."""
        self.reservations.forget(reservation_id)
        self._cancel_timer(reservation_id)
        log.info("reservation %s used by its holder", reservation_id)

    def _end_reservations_out_of_service(self: Station) -> None:
        """A reservation ends when its connector, or for connector 0 the whole charge point,
        becomes Faulted or Unavailable (OCPP 1.6 §5.13)."""
        reservations = self.reservations.all()
        if not reservations:
            return
        down = {e for e in self.evses if self._base_status(e) in _OUT_OF_SERVICE}
        for r in reservations:
            if r.connector_id in down or (r.connector_id == ANY_CONNECTOR and down == set(self.evses)):
                self._drop_reservation(r.reservation_id, "connector out of service")

    def _drop_reservation(self: Station, reservation_id: int, why: str) -> None:
        self._cancel_timer(reservation_id)
        if self.reservations.remove(reservation_id) is not None:
            log.info("reservation %s ended: %s", reservation_id, why)

    def _arm_timer(self: Station, reservation: Reservation) -> None:
        self._cancel_timer(reservation.reservation_id)
        task = asyncio.ensure_future(self._expire(reservation))
        task.add_done_callback(self._task_done)
        self._reservation_timers[reservation.reservation_id] = task

    def _cancel_timer(self: Station, reservation_id: int) -> None:
        task = self._reservation_timers.pop(reservation_id, None)
        if task is not None and not task.done():
            task.cancel()

    async def _expire(self: Station, reservation: Reservation) -> None:
        while (remaining := (reservation.expiry - self.clock.now()).total_seconds()) > 0:
            await self.clock.sleep(min(remaining, EXPIRY_RECHECK_S))
        async with self._lock:
            if self.reservations.get(reservation.reservation_id) != reservation:
                return  # replaced, used or cancelled meanwhile
            self._reservation_timers.pop(reservation.reservation_id, None)
            self.reservations.remove(reservation.reservation_id)
            log.info("reservation %s expired", reservation.reservation_id)
            self.publish_status()
