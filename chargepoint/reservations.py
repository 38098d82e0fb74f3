"""Reservations (the OCPP 1.6 Reservation profile, in protocol-neutral terms): which tag holds
which connector until when. Connector 0 means "any connector of the charge point". The book is
persisted, so a reservation survives a restart; those that expired meanwhile are dropped when it
is loaded."""
from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import datetime

from chargepoint.auth import same_tag
from chargepoint.store import Store, StoredReservation
from chargepoint.timeutil import iso_utc, parse_iso

log = logging.getLogger(__name__)

ANY_CONNECTOR = 0


@dataclass(frozen=True)
class Reservation:
    reservation_id: int
    connector_id: int  # ANY_CONNECTOR: one connector is kept free, which one is not fixed
    id_tag: str
    parent_id_tag: str | None
    expiry: datetime  # aware UTC

    def held_by(self, id_tag: str, parent_id_tag: str | None) -> bool:
        """The reserved tag itself, or a tag of the same group (equal parentIdTag)."""
        if same_tag(id_tag, self.id_tag):
            return True
        return self.parent_id_tag is not None and same_tag(parent_id_tag, self.parent_id_tag)

    def may_be_held_by(self, id_tag: str) -> bool:
        """Before the tag's group is known: could it hold this reservation?"""
        return same_tag(id_tag, self.id_tag) or self.parent_id_tag is not None

    def stored(self) -> StoredReservation:
        return StoredReservation(self.reservation_id, self.connector_id, self.id_tag, self.parent_id_tag,
                                 iso_utc(self.expiry))

    @staticmethod
    def from_stored(row: StoredReservation) -> Reservation:
        return Reservation(row.reservation_id, row.connector_id, row.id_tag, row.parent_id_tag,
                           parse_iso(row.expiry))


class ReservationBook:
    """The reservations in force, in memory and in the store, always alike."""

    def __init__(self, store: Store, now: datetime) -> None:
        self._store = store
        self._by_id: dict[int, Reservation] = {}
        for row in store.load_reservations():
            reservation = Reservation.from_stored(row)
            if reservation.expiry <= now:
                log.info("reservation %s expired while the charge point was down", reservation.reservation_id)
                store.delete_reservation(reservation.reservation_id)
                continue
            self._by_id[reservation.reservation_id] = reservation

    def get(self, reservation_id: int) -> Reservation | None:
        return self._by_id.get(reservation_id)

    def all(self) -> list[Reservation]:
        return sorted(self._by_id.values(), key=lambda r: r.reservation_id)

    def on_connector(self, connector_id: int) -> Reservation | None:
        """The reservation of one specific connector (at most one can exist)."""
        return next((r for r in self._by_id.values() if r.connector_id == connector_id), None)

    def put(self, reservation: Reservation) -> None:
        """Add, or replace the reservation with the same id."""
        self._store.save_reservation(reservation.stored())
        self._by_id[reservation.reservation_id] = reservation

    def remove(self, reservation_id: int) -> Reservation | None:
        reservation = self._by_id.pop(reservation_id, None)
        if reservation is not None:
            self._store.delete_reservation(reservation_id)
        return reservation

    def forget(self, reservation_id: int) -> None:
        """Drop from memory one whose row is already gone (the transaction that used it took it
        in the same database transaction)."""
        self._by_id.pop(reservation_id, None)
