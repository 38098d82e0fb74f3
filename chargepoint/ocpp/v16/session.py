"""One OCPP 1.6J WebSocket session: the `ocpp` library's charge point with a stricter front
door. Every inbound frame is checked first; malformed ones, unknown actions and handler failures
are answered with the CALLERROR OCPP-J prescribes, and nothing stops the receive loop."""
from __future__ import annotations

import asyncio
import logging
from typing import TYPE_CHECKING, Any

from ocpp.exceptions import OCPPError
from ocpp.messages import Call, CallError, CallResult
from ocpp.v16 import ChargePoint
from ocpp.v16.enums import Action

from chargepoint.ocpp.frames import CALL, CALLRESULT, Frame, FrameError, error_frame, parse_frame
from chargepoint.ocpp.v16.handlers import CsmsOperations
from chargepoint.ocpp.v16.handlers_security import SecurityOperations
from chargepoint.ocpp.v16.security_messages import report_invalid_message
from chargepoint.ocpp.v16.handlers_smart_charging import SmartChargingOperations, enum_violation
from chargepoint.ocpp.v16.handlers_reservation import ReservationOperations
from chargepoint.ocpp.v16.handlers_trigger import RemoteTriggerOperations
from chargepoint.ocpp.v16.handlers_diagnostics import DiagnosticsOperations
from chargepoint.ocpp.v16.handlers_extended_trigger import ExtendedTriggerOperations
from chargepoint.ocpp.v16.handlers_firmware import FirmwareOperations

if TYPE_CHECKING:
    from chargepoint.ocpp.v16.link import V16Link

log = logging.getLogger(__name__)
KNOWN_ACTIONS = frozenset(a.value for a in Action)
# CALLERROR codes that say the CALL itself was not valid OCPP (an InvalidMessages security event).
INVALID_MESSAGE_CODES = frozenset({"FormatViolation", "FormationViolation", "ProtocolError", "TypeConstraintViolation",
                                   "PropertyConstraintViolation", "OccurenceConstraintViolation",
                                   "OccurrenceConstraintViolation"})


class V16Session(CsmsOperations, ReservationOperations, RemoteTriggerOperations, SmartChargingOperations,
                 DiagnosticsOperations, ExtendedTriggerOperations, FirmwareOperations, SecurityOperations,
                 ChargePoint):
    def __init__(self, cp_id: str, connection: Any, link: V16Link, response_timeout_s: float) -> None:
        super().__init__(cp_id, connection, response_timeout=response_timeout_s,
                         logger=logging.getLogger("chargepoint.ocpp.wire"))
        self.link = link

    async def _get_specific_response(self, unique_id: str, timeout: float) -> Any:
        """The answer to our CALL, or TimeoutError. The library waits with `asyncio.wait_for`,
        which on Python 3.11 runs a task per call and can swallow a cancellation that arrives
        with the answer; `asyncio.timeout` does neither."""
        async with asyncio.timeout(timeout):
            while True:
                response = await self._response_queue.get()
                if response.unique_id == unique_id:
                    return response
                log.warning("ignoring an answer to an unknown call id %s", response.unique_id)

    async def route_message(self, raw_msg: Any) -> None:
        frame = parse_frame(raw_msg)
        if isinstance(frame, FrameError):
            log.warning("malformed frame from the CSMS: %s", frame.description)
            report_invalid_message(self.link, frame.description)
            if frame.reply:
                await self._send(frame.to_json())
            return
        if frame.type_id == CALL:
            await self._route_call(frame)
        elif frame.type_id == CALLRESULT:
            self._response_queue.put_nowait(CallResult(frame.unique_id, frame.payload))
        else:
            self._response_queue.put_nowait(
                CallError(frame.unique_id, frame.error_code, frame.error_description, frame.error_details)
            )

    async def _route_call(self, frame: Frame) -> None:
        action = frame.action or ""
        if action not in self.route_map:
            # OCPP-J: NotImplemented = action not known; NotSupported = known, not supported.
            code = "NotSupported" if action in KNOWN_ACTIONS else "NotImplemented"
            await self._send(error_frame(frame.unique_id, code, f"{action} is not {'supported' if code == 'NotSupported' else 'known'}"))
            return
        cause = enum_violation(action, frame.payload)
        if cause is not None:
            # Errata 3.24/3.38: PropertyConstraintViolation, where the library says FormatViolation.
            await self._send(error_frame(frame.unique_id, "PropertyConstraintViolation", cause))
            report_invalid_message(self.link, f"{action}: PropertyConstraintViolation")
            return
        msg = Call(frame.unique_id, action, frame.payload)
        try:
            await self._handle_call(msg)
        except OCPPError as exc:
            log.warning("rejected %s from the CSMS: %s %s", action, exc.code, exc.description)
            await self._send(error_frame(frame.unique_id, exc.code, _short(exc)))
            if exc.code in INVALID_MESSAGE_CODES:
                report_invalid_message(self.link, f"{action}: {exc.code}")
        except Exception:
            log.exception("handler for %s failed", action)
            await self._send(error_frame(frame.unique_id, "InternalError", f"{action} could not be processed"))


def _short(exc: OCPPError) -> str:
    """A one-line reason without the library's schema dump or an echo of the frame."""
    details = exc.details if isinstance(exc.details, dict) else {}
    cause = details.get("cause")
    text = cause if isinstance(cause, str) else exc.description
    return text.splitlines()[0] if text else exc.code
