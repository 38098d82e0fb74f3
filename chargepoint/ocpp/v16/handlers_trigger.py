"""OCPP 1.6 Remote Trigger profile: TriggerMessage (§5.17). The answer says whether the requested
message will be sent; the message itself goes out only after the answer, from the library's
`@after` hook.

connectorId matters to StatusNotification (0 is the charge point; absent means the charge point
and every connector) and MeterValues (absent means every connector; there is no main meter for
0). The other messages ignore it, as §5.17 asks."""
from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from ocpp.exceptions import OCPPError
from ocpp.routing import after, on
from ocpp.v16 import call, call_result
from ocpp.v16.enums import Action

from chargepoint.ocpp.v16.render import meter_values, status_notification
from chargepoint.timeutil import iso_utc

if TYPE_CHECKING:
    from chargepoint.ocpp.v16.link import V16Link

log = logging.getLogger(__name__)

CHARGE_POINT = 0
# TriggerMessage's messages that are one CALL built from the current state; ExtendedTriggerMessage
# reuses the planning and sending below with its own set and its own sender for these.
SIMPLE_MESSAGES = ("Heartbeat", "DiagnosticsStatusNotification", "FirmwareStatusNotification")
SimpleSender = Callable[["V16Link", str], Awaitable[None]]


@dataclass(frozen=True)
class TriggeredSend:
    """What an accepted TriggerMessage will send."""

    message: str
    connectors: tuple[int, ...] = ()


def plan_trigger(link: V16Link, message: str, connector_id: int | None,
                 simple: tuple[str, ...] = SIMPLE_MESSAGES) -> TriggeredSend | str:
    """What will be sent, or the TriggerMessage status that says why nothing will."""
    station = link.station
    if message == "BootNotification":
        return TriggeredSend(message) if link.boot_triggerable else "Rejected"
    if message in simple:
        return TriggeredSend(message)
    if message == "StatusNotification":
        if connector_id is None:
            return TriggeredSend(message, (CHARGE_POINT, *station.evses))
        if connector_id == CHARGE_POINT or connector_id in station.evses:
            return TriggeredSend(message, (connector_id,))
        return "Rejected"
    if message == "MeterValues":
        candidates = tuple(station.evses) if connector_id is None else (connector_id,)
        ready = tuple(c for c in candidates if c in station.evses and station.can_report_readings(c))
        return TriggeredSend(message, ready) if ready else "Rejected"
    return "NotImplemented"


async def send_triggered(link: V16Link, plan: TriggeredSend, send_simple: SimpleSender | None = None) -> None:
    from chargepoint.ocpp.v16.link import LinkDown  # link imports the session, which imports this

    try:
        if plan.message == "BootNotification":
            link.request_boot()
        elif plan.message == "StatusNotification":
            await _send_statuses(link, plan.connectors)
        elif plan.message == "MeterValues":
            await _send_readings(link, plan.connectors)
        else:
            await (send_simple or send_simple_request)(link, plan.message)
    except (LinkDown, asyncio.TimeoutError, OCPPError) as exc:
        log.warning("triggered %s not delivered: %s", plan.message, type(exc).__name__)


async def send_simple_request(link: V16Link, message: str) -> None:
    await link.request(_simple_request(link, message))


def _simple_request(link: V16Link, message: str) -> Any:
    maintenance = link.station.maintenance
    if message == "DiagnosticsStatusNotification":
        return call.DiagnosticsStatusNotification(status=maintenance.diagnostics)
    if message == "FirmwareStatusNotification":
        return call.FirmwareStatusNotification(status=maintenance.firmware)
    return call.Heartbeat()


async def _send_statuses(link: V16Link, connectors: tuple[int, ...]) -> None:
    station = link.station
    for connector_id in connectors:
        if connector_id == CHARGE_POINT:
            status, error = station.charge_point_status(), None
        else:
            status, error = station.status_of(connector_id)
        if link.online:
            # Behind any change already queued, so the CSMS's last word is the current status.
            link.status_changed(connector_id, status, error)
        else:
            # Before acceptance only triggered messages may be sent, and they go at once.
            await link.request(status_notification(connector_id, status, error, iso_utc(link.clock.now())))


async def _send_readings(link: V16Link, connectors: tuple[int, ...]) -> None:
    for connector_id in connectors:
        readings = await link.station.report_readings(connector_id)
        if readings is None:
            log.warning("no current readings of connector %s to send", connector_id)
        elif not readings.queued:
            await link.request(meter_values(connector_id, readings.timestamp, readings.samples))


class RemoteTriggerOperations:
    """Mixed into the 1.6 session."""

    link: V16Link

    def _triggered(self) -> dict[str, TriggeredSend]:
        """Accepted triggers by message id, from the answer to the sending."""
        triggered: dict[str, TriggeredSend] = self.__dict__.setdefault("_triggered_sends", {})
        return triggered

    @on(Action.trigger_message)
    def on_trigger_message(self, requested_message: str, call_unique_id: str, connector_id: int | None = None,
                           **_: Any) -> call_result.TriggerMessage:
        plan = plan_trigger(self.link, requested_message, connector_id)
        if isinstance(plan, str):
            return call_result.TriggerMessage(status=plan)
        self._triggered()[call_unique_id] = plan
        return call_result.TriggerMessage(status="Accepted")

    @after(Action.trigger_message)
    async def after_trigger_message(self, call_unique_id: str, **_: Any) -> None:
        plan = self._triggered().pop(call_unique_id, None)
        if plan is not None:
            await send_triggered(self.link, plan)
