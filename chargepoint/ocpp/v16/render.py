"""Neutral records from the core -> OCPP 1.6 requests. Rendering happens at send time, so the
transaction id the CSMS assigned is used as soon as it is known."""
from __future__ import annotations

from typing import Any

from ocpp.v16 import call

from chargepoint.link import AuthDecision
from chargepoint.status import ConnectorStatus, StatusError
from chargepoint.store import OutboxItem

# OCPP 1.6 errata: when a StartTransaction could not be delivered, its transaction is -1.
UNKNOWN_TRANSACTION_ID = -1


def sampled_values(samples: list[dict[str, Any]]) -> list[dict[str, Any]]:
    out = []
    for s in samples:
        value: dict[str, Any] = {
            "value": _number(s["value"]),
            "context": s["context"],
            "measurand": s["measurand"],
            "location": "Outlet",
            "unit": s["unit"],
        }
        if "phase" in s:
            value["phase"] = s["phase"]
        out.append(value)
    return out


def _number(value: float) -> str:
    text = f"{value:.3f}".rstrip("0").rstrip(".")
    return text or "0"


def render(item: OutboxItem) -> Any:
    p = item.payload
    tx_id = item.csms_id if item.csms_id is not None else UNKNOWN_TRANSACTION_ID
    if item.kind == "start":
        return call.StartTransaction(
            connector_id=p["connector_id"], id_tag=p["id_tag"],
            meter_start=int(round(p["meter_start_wh"])), timestamp=p["timestamp"],
            reservation_id=p.get("reservation_id"),
        )
    if item.kind == "meter":
        return call.MeterValues(
            connector_id=p["connector_id"], transaction_id=tx_id,
            meter_value=[{"timestamp": p["timestamp"], "sampledValue": sampled_values(p["samples"])}],
        )
    data = [{"timestamp": d["timestamp"], "sampledValue": sampled_values(d["samples"])}
            for d in p.get("transaction_data") or []]
    return call.StopTransaction(
        meter_stop=int(round(p["meter_stop_wh"])), timestamp=p["timestamp"], transaction_id=tx_id,
        reason=p["reason"], id_tag=p.get("id_tag"), transaction_data=data or None,
    )


def status_notification(connector_id: int, status: ConnectorStatus, error: StatusError | None,
                        timestamp: str) -> call.StatusNotification:
    return call.StatusNotification(
        connector_id=connector_id, status=status.value,
        error_code=error.code if error else "NoError",
        info=error.info[:50] if error else None,
        vendor_error_code=(error.vendor_code[:50] or None) if error else None,
        timestamp=timestamp,
    )


def meter_values(connector_id: int, timestamp: str, samples: list[dict[str, Any]],
                 transaction_id: int | None = None) -> call.MeterValues:
    """A MeterValues sent at once, outside any transaction's ordered messages."""
    return call.MeterValues(
        connector_id=connector_id, transaction_id=transaction_id,
        meter_value=[{"timestamp": timestamp, "sampledValue": sampled_values(samples)}],
    )


def decision_from(id_tag_info: dict[str, Any] | None) -> AuthDecision:
    """The `ocpp` library hands nested objects over with snake_case keys; wire (camelCase)
    dicts are read too."""
    info = id_tag_info or {}
    return AuthDecision(
        status=info.get("status", "Invalid"),
        parent_id_tag=info.get("parent_id_tag", info.get("parentIdTag")),
        expiry=info.get("expiry_date", info.get("expiryDate")),
        source="csms",
    )
