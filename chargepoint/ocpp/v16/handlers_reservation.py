"""OCPP 1.6 Reservation profile: ReserveNow and CancelReservation. The station decides; these map
the request onto a core Reservation and the answer back."""
from __future__ import annotations

from typing import TYPE_CHECKING, Any

from ocpp.exceptions import TypeConstraintViolationError
from ocpp.routing import on
from ocpp.v16 import call_result
from ocpp.v16.enums import Action

from chargepoint.reservations import Reservation
from chargepoint.timeutil import parse_iso

if TYPE_CHECKING:
    from chargepoint.ocpp.v16.link import V16Link


class ReservationOperations:
    """Mixed into the 1.6 session."""

    link: V16Link

    @on(Action.reserve_now)
    def on_reserve_now(self, connector_id: int, expiry_date: str, id_tag: str, reservation_id: int,
                       parent_id_tag: str | None = None, **_: Any) -> call_result.ReserveNow:
        try:
            expiry = parse_iso(expiry_date)
        except ValueError:
            # The library's schema check does not look at date formats.
            raise TypeConstraintViolationError(details={"cause": "expiryDate is not an ISO 8601 date-time"}) from None
        reservation = Reservation(reservation_id, connector_id, id_tag, parent_id_tag, expiry)
        return call_result.ReserveNow(status=self.link.station.reserve_now(reservation))

    @on(Action.cancel_reservation)
    def on_cancel_reservation(self, reservation_id: int, **_: Any) -> call_result.CancelReservation:
        ok = self.link.station.cancel_reservation(reservation_id)
        return call_result.CancelReservation(status="Accepted" if ok else "Rejected")
