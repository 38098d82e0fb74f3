"""What a firmware update needs from the station: whether charging is going on, and holding the
idle connectors Unavailable while it waits for the transactions to end and installs (OCPP 1.6
errata 3.49, security whitepaper L01.FR.07). The hold is not persisted: after the restart into
the new release every connector is back to its own availability. Mixed into Station."""
from __future__ import annotations

import logging
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from chargepoint.station import Station

log = logging.getLogger("chargepoint.station")


class StationMaintenance:
    def transactions_running(self: Station) -> bool:
        return any(s.tx is not None for s in self.sessions.values())

    def _update_held(self: Station) -> set[int]:
        held: set[int] = self.__dict__.setdefault("_held_for_update", set())
        return held

    def hold_for_update(self: Station, hold: bool) -> None:
        """True: every connector without a session becomes Unavailable, now and whenever it is
        asked again (a connector freed meanwhile joins); False: each goes back to the
        availability the CSMS gave it."""
        held = self._update_held()
        if hold:
            for evse_id, s in self.sessions.items():
                ctl = self.evses[evse_id]
                if s.tx is None and s.pending is None and ctl.snapshot().available:
                    ctl.set_available(False)
                    held.add(evse_id)
                    log.info("EVSE %s held Unavailable for a firmware update", evse_id)
        elif held:
            persisted = self.store.load_availability()
            for evse_id in sorted(held):
                self.evses[evse_id].set_available(persisted.get(evse_id, True))
            held.clear()
        self.publish_status()
