"""Transaction lifecycle: each step is persisted with the message that reports it, in one
database transaction, before anything depends on it."""
from __future__ import annotations

from dataclasses import dataclass, field

from chargepoint.link import CsmsLink
from chargepoint.metering import Sample
from chargepoint.store import Store, TransactionRecord


@dataclass
class ActiveTransaction:
    local_id: int
    evse_id: int
    connector_id: int
    id_tag: str
    parent_id_tag: str | None
    started_mono: float
    meter_start_wh: float
    last_sample_mono: float
    # Readings for the StopTransaction's transactionData between Begin and End: StopTxnSampledData
    # and StopTxnAlignedData, in time order, thinned to stay within StopTransactionMaxMeterValues.
    aligned: list[dict[str, object]] = field(default_factory=list)
    # Set when the CSMS refused the tag after the start: energy allowed up to this register value.
    invalid_energy_cap_wh: float | None = None


class Transactions:
    def __init__(self, store: Store, link_ref: "LinkRef") -> None:
        self._store = store
        self._link = link_ref

    def begin(self, evse_id: int, connector_id: int, id_tag: str, parent_id_tag: str | None,
              meter_wh: float, timestamp: str, mono: float, reservation_id: int | None = None) -> ActiveTransaction:
        """`reservation_id`: the reservation the transaction ends (reported in its start)."""
        payload: dict[str, object] = {
            "evse_id": evse_id,
            "connector_id": connector_id,
            "id_tag": id_tag,
            "meter_start_wh": meter_wh,
            "timestamp": timestamp,
        }
        if reservation_id is not None:
            payload["reservation_id"] = reservation_id
        local_id = self._store.begin_transaction(evse_id, connector_id, id_tag, meter_wh, timestamp, payload,
                                                 ends_reservation=reservation_id)
        self._link.get().outbox_changed()
        return ActiveTransaction(local_id, evse_id, connector_id, id_tag, parent_id_tag, mono, meter_wh, mono)

    def sample(self, tx: ActiveTransaction, meter_wh: float, timestamp: str, samples: list[Sample] | None) -> None:
        """Persist the latest reading; with samples, also queue a MeterValues message."""
        payload = None
        if samples:
            payload = {
                "evse_id": tx.evse_id,
                "connector_id": tx.connector_id,
                "timestamp": timestamp,
                "samples": samples,
            }
        self._store.record_meter_values(tx.local_id, meter_wh, timestamp, payload)
        if payload is not None:
            self._link.get().outbox_changed()

    def end(self, local_id: int, meter_wh: float, timestamp: str, reason: str, id_tag: str | None,
            transaction_data: list[dict[str, object]]) -> None:
        payload = {
            "meter_stop_wh": meter_wh,
            "timestamp": timestamp,
            "reason": reason,
            "id_tag": id_tag,
            "transaction_data": transaction_data,
        }
        self._store.end_transaction(local_id, meter_wh, timestamp, reason, payload)
        self._link.get().outbox_changed()

    def unfinished(self) -> list[TransactionRecord]:
        return self._store.open_transactions()


class LinkRef:
    """The CSMS link is wired after the core is built; this late-bound reference breaks the cycle."""

    def __init__(self, link: CsmsLink) -> None:
        self._link = link

    def get(self) -> CsmsLink:
        return self._link

    def set(self, link: CsmsLink) -> None:
        self._link = link
