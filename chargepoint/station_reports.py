"""Reports the CSMS asks for out of turn (TriggerMessage): the current readings of a connector and
the status of the charge point as a whole. Mixed into Station."""
from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

from chargepoint.metering import Sample, samples_for
from chargepoint.station_periodic import METER_FAILURES_FOR_LOSS
from chargepoint.status import ConnectorStatus
from chargepoint.timeutil import iso_utc

if TYPE_CHECKING:
    from chargepoint.station import Station

@dataclass(frozen=True)
class CurrentReadings:
    timestamp: str
    samples: list[Sample]
    # True: queued as a message of the running transaction (in order, with its id); the caller
    # sends nothing itself.
    queued: bool


class StationReports:
    def charge_point_status(self: Station) -> ConnectorStatus:
        """Connector 0: Unavailable when every connector is, else Available."""
        statuses = [self.status_of(e)[0] for e in self.evses]
        unavailable = all(s is ConnectorStatus.UNAVAILABLE for s in statuses)
        return ConnectorStatus.UNAVAILABLE if unavailable else ConnectorStatus.AVAILABLE

    def can_report_readings(self: Station, evse_id: int) -> bool:
        s = self.sessions.get(evse_id)
        return (s is not None and s.meter is not None and s.meter_failures < METER_FAILURES_FOR_LOSS
                and bool(self.settings.get_list("MeterValuesSampledData")))

    async def report_readings(self: Station, evse_id: int) -> CurrentReadings | None:
        """The most recent value of every MeterValuesSampledData measurand, context Trigger
        (OCPP 1.6 §5.17). During a transaction they join its messages in the outbox."""
        reading = await self._try_read(evse_id) or self.sessions[evse_id].meter
        if reading is None:
            return None
        async with self._lock:
            s = self.sessions[evse_id]
            offered = self.evses[evse_id].snapshot().offered_current_a
            samples = samples_for(reading, self.settings.get_list("MeterValuesSampledData"), "Trigger", offered)
            if not samples:
                return None
            now = iso_utc(self.clock.now())
            if s.tx is None:
                return CurrentReadings(now, samples, queued=False)
            self.transactions.sample(s.tx, reading.energy_import_wh, now, samples)
            return CurrentReadings(now, samples, queued=True)
