"""ExtendedTriggerMessage (security whitepaper §5.5, OCPP 2.0.1's TriggerMessage under a new
name). Planned and sent by the TriggerMessage code (handlers_trigger), with these differences:

- LogStatusNotification reports the GetLog upload running now (Uploading with its requestId), or
  Idle without requestId (N01.FR.12);
- FirmwareStatusNotification means SignedFirmwareStatusNotification: its status and requestId come
  from `MaintenanceStatus.signed_firmware_status`, the signed firmware update's hook (Idle until it
  installs one);
- SignChargePointCertificate starts the security module's SignCertificate flow (A02);
- there is no DiagnosticsStatusNotification: the schema refuses it before it gets here."""
from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING, Any

from ocpp.routing import after, on
from ocpp.v16 import call, call_result
from ocpp.v16.enums import Action

from chargepoint.maintenance import IDLE
from chargepoint.ocpp.v16.handlers_trigger import TriggeredSend, plan_trigger, send_simple_request, send_triggered

if TYPE_CHECKING:
    from chargepoint.ocpp.v16.link import V16Link

EXTENDED_SIMPLE = ("Heartbeat", "LogStatusNotification", "FirmwareStatusNotification", "SignChargePointCertificate")
CertificateSigning = Callable[[], Awaitable[Any]]


def certificate_signing(link: V16Link) -> CertificateSigning | None:
    """The security module's start of the SignCertificate flow for the charge point certificate,
    or None where this charge point cannot sign one (the trigger is then Rejected)."""
    return link.sign_charge_point_certificate


def plan_extended_trigger(link: V16Link, message: str, connector_id: int | None) -> TriggeredSend | str:
    if message == "SignChargePointCertificate" and certificate_signing(link) is None:
        return "Rejected"
    return plan_trigger(link, message, connector_id, simple=EXTENDED_SIMPLE)


def log_status_request(link: V16Link) -> call.LogStatusNotification:
    maintenance = link.station.maintenance
    if maintenance.log == IDLE:
        return call.LogStatusNotification(status=IDLE, request_id=None)  # type: ignore[arg-type]
    return call.LogStatusNotification(status=maintenance.log, request_id=maintenance.log_request_id)  # type: ignore[arg-type]


def signed_firmware_request(link: V16Link) -> call.SignedFirmwareStatusNotification:
    status, request_id = link.station.maintenance.signed_firmware_status()
    return call.SignedFirmwareStatusNotification(status=status, request_id=request_id)  # type: ignore[arg-type]


async def send_extended(link: V16Link, message: str) -> None:
    if message == "LogStatusNotification":
        await link.request(log_status_request(link))
    elif message == "FirmwareStatusNotification":
        await link.request(signed_firmware_request(link))
    elif message == "SignChargePointCertificate":
        start = certificate_signing(link)
        if start is not None:
            await start()
    else:
        await send_simple_request(link, message)


class ExtendedTriggerOperations:
    """Mixed into the 1.6 session."""

    link: V16Link

    def _extended_triggered(self) -> dict[str, TriggeredSend]:
        """Accepted triggers by message id, from the answer to the sending."""
        triggered: dict[str, TriggeredSend] = self.__dict__.setdefault("_extended_triggered_sends", {})
        return triggered

    @on(Action.extended_trigger_message)
    def on_extended_trigger_message(self, requested_message: str, call_unique_id: str,
                                    connector_id: int | None = None, **_: Any) -> call_result.ExtendedTriggerMessage:
        plan = plan_extended_trigger(self.link, requested_message, connector_id)
        if isinstance(plan, str):
            return call_result.ExtendedTriggerMessage(status=plan)
        self._extended_triggered()[call_unique_id] = plan
        return call_result.ExtendedTriggerMessage(status="Accepted")

    @after(Action.extended_trigger_message)
    async def after_extended_trigger_message(self, call_unique_id: str, **_: Any) -> None:
        plan = self._extended_triggered().pop(call_unique_id, None)
        if plan is not None:
            await send_triggered(self.link, plan, send_simple=send_extended)
