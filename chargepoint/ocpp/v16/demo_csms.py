"""Minimal OCPP 1.6J central system bundled for `chargepoint demo`.

It accepts everything a demo session needs and reports each message through
a callback, so the demo can print a readable timeline. It is not a backend
for real deployments: there is no persistence, authentication or security.
"""

from __future__ import annotations

import itertools
import json
import logging
from collections.abc import Callable, Iterable
from datetime import datetime, timezone
from typing import Any

import ocpp.messages
from ocpp.routing import on
from ocpp.v16 import ChargePoint, call, call_result
from ocpp.v16.enums import Action, AuthorizationStatus, DataTransferStatus, RegistrationStatus
from websockets.asyncio.server import Server, ServerConnection, serve
from websockets.exceptions import ConnectionClosed

from chargepoint.ocpp import payload_conversion, schema_validation

# Thread-pool validation adds latency for no benefit in a single-CP demo.
ocpp.messages.ASYNC_VALIDATION = False
# Compiled schema checks and remembered key conversions: the same verdicts and payloads at a
# fraction of the library's cost per message (docs/performance.md, OCPP round trip).
schema_validation.install()
payload_conversion.install()

LOGGER = logging.getLogger(__name__)

CP_TO_CSMS = "CP→CSMS"
CSMS_TO_CP = "CSMS→CP"

EventCallback = Callable[[str, str, dict[str, Any]], None]


def _utc_now() -> str:
    return datetime.now(timezone.utc).strftime("%Y-%m-%dT%H:%M:%S.%f")[:-3] + "Z"


class _Tap:
    """Sits between the ocpp library and the socket to report every message.

    Replies carry only a unique id, so the action of each CALL is remembered
    to label its answer in the timeline.
    """

    def __init__(self, ws: ServerConnection, report: EventCallback) -> None:
        self._ws = ws
        self._report = report
        self._actions: dict[str, str] = {}

    async def recv(self) -> str:
        text = await self._ws.recv()
        if isinstance(text, bytes):
            text = text.decode("utf-8", "replace")
        self._observe(CP_TO_CSMS, text)
        return text

    async def send(self, text: str) -> None:
        self._observe(CSMS_TO_CP, text)
        await self._ws.send(text)

    def _observe(self, direction: str, text: str) -> None:
        try:
            frame = json.loads(text)
            kind, unique_id = frame[0], frame[1]
        except (ValueError, TypeError, IndexError, KeyError):
            return
        if kind == 2 and len(frame) == 4:
            self._actions[unique_id] = frame[2]
            self._report(direction, frame[2], frame[3])
        elif kind == 3 and len(frame) == 3:
            self._report(direction, self._actions.pop(unique_id, "?"), frame[2])
        elif kind == 4 and len(frame) >= 4:
            error = {"errorCode": frame[2], "errorDescription": frame[3]}
            self._report(direction, self._actions.pop(unique_id, "?"), error)


class _DemoChargePoint(ChargePoint):
    """Handlers for the messages a demo charging session produces."""

    def __init__(self, cp_id: str, connection: _Tap, csms: DemoCsms) -> None:
        super().__init__(cp_id, connection)
        self._csms = csms

    @on(Action.boot_notification)
    def on_boot_notification(self, **kwargs: Any) -> call_result.BootNotification:
        return call_result.BootNotification(
            current_time=_utc_now(),
            interval=self._csms.heartbeat_interval,
            status=RegistrationStatus.accepted,
        )

    @on(Action.heartbeat)
    def on_heartbeat(self) -> call_result.Heartbeat:
        return call_result.Heartbeat(current_time=_utc_now())

    @on(Action.status_notification)
    def on_status_notification(self, **kwargs: Any) -> call_result.StatusNotification:
        return call_result.StatusNotification()

    @on(Action.meter_values)
    def on_meter_values(self, **kwargs: Any) -> call_result.MeterValues:
        return call_result.MeterValues()

    @on(Action.authorize)
    def on_authorize(self, id_tag: str) -> call_result.Authorize:
        return call_result.Authorize(id_tag_info=self._csms.id_tag_info(id_tag))

    @on(Action.start_transaction)
    def on_start_transaction(self, id_tag: str, **kwargs: Any) -> call_result.StartTransaction:
        return call_result.StartTransaction(
            transaction_id=next(self._csms._transaction_ids),
            id_tag_info=self._csms.id_tag_info(id_tag),
        )

    @on(Action.stop_transaction)
    def on_stop_transaction(
        self, id_tag: str | None = None, **kwargs: Any
    ) -> call_result.StopTransaction:
        info = self._csms.id_tag_info(id_tag) if id_tag is not None else None
        return call_result.StopTransaction(id_tag_info=info)

    @on(Action.data_transfer)
    def on_data_transfer(self, **kwargs: Any) -> call_result.DataTransfer:
        return call_result.DataTransfer(status=DataTransferStatus.unknown_vendor_id)

    @on(Action.security_event_notification)
    def on_security_event_notification(self, **kwargs: Any) -> call_result.SecurityEventNotification:
        return call_result.SecurityEventNotification()


class DemoCsms:
    """Single-charge-point CSMS: the most recent connection is the active one."""

    def __init__(
        self,
        host: str = "127.0.0.1",
        port: int = 9000,
        accepted_tags: Iterable[str] | None = None,
        on_event: EventCallback | None = None,
        heartbeat_interval: int = 60,
    ) -> None:
        self.host = host
        self.port = port
        self.accepted_tags = None if accepted_tags is None else set(accepted_tags)
        self.heartbeat_interval = heartbeat_interval
        self._on_event = on_event
        self._transaction_ids = itertools.count(1)
        self._server: Server | None = None
        self._charge_point: _DemoChargePoint | None = None

    @property
    def url(self) -> str:
        """Base URL; the charge point appends its own id."""
        return f"ws://{self.host}:{self.port}"

    @property
    def charge_point_id(self) -> str | None:
        return self._charge_point.id if self._charge_point else None

    async def start(self) -> str:
        """Start listening; port 0 picks a free port. Returns the base URL."""
        self._server = await serve(
            self._handle, self.host, self.port, subprotocols=["ocpp1.6"]
        )
        self.port = self._server.sockets[0].getsockname()[1]
        return self.url

    async def stop(self) -> None:
        server, self._server = self._server, None
        if server is not None:
            server.close()
            await server.wait_closed()

    def id_tag_info(self, id_tag: str) -> dict[str, str]:
        if self.accepted_tags is None or id_tag in self.accepted_tags:
            return {"status": AuthorizationStatus.accepted}
        return {"status": AuthorizationStatus.invalid}

    async def remote_start(self, id_tag: str, connector_id: int | None = 1) -> str:
        """Ask the charge point to start charging; returns its Accepted/Rejected."""
        result = await self._active().call(
            call.RemoteStartTransaction(id_tag=id_tag, connector_id=connector_id),
            suppress=False,
        )
        return result.status

    async def remote_stop(self, transaction_id: int) -> str:
        """Ask the charge point to end a transaction; returns its Accepted/Rejected."""
        result = await self._active().call(
            call.RemoteStopTransaction(transaction_id=transaction_id), suppress=False
        )
        return result.status

    def _active(self) -> _DemoChargePoint:
        if self._charge_point is None:
            raise RuntimeError("no charge point connected")
        return self._charge_point

    def _report(self, direction: str, action: str, payload: dict[str, Any]) -> None:
        if self._on_event is None:
            return
        try:
            self._on_event(direction, action, payload)
        except Exception:
            # A broken printer must not take the OCPP session down with it.
            LOGGER.exception("demo event callback failed")

    async def _handle(self, ws: ServerConnection) -> None:
        assert ws.request is not None
        cp_id = ws.request.path.split("?", 1)[0].rstrip("/").rsplit("/", 1)[-1]
        charge_point = _DemoChargePoint(cp_id, _Tap(ws, self._report), self)
        self._charge_point = charge_point
        try:
            await charge_point.start()
        except ConnectionClosed:
            pass
        finally:
            if self._charge_point is charge_point:
                self._charge_point = None
