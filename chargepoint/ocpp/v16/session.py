"""One OCPP 1.6J WebSocket session: the `ocpp` library's charge point with a stricter front
door. Every inbound frame is checked first; malformed ones, unknown actions and handler failures
are answered with the CALLERROR OCPP-J prescribes, and nothing stops the receive loop."""
from __future__ import annotations

import logging
from typing import TYPE_CHECKING, Any

from ocpp.exceptions import OCPPError
from ocpp.messages import Call, CallError, CallResult
from ocpp.v16 import ChargePoint
from ocpp.v16.enums import Action

from chargepoint.ocpp.frames import CALL, CALLRESULT, Frame, FrameError, error_frame, parse_frame
from chargepoint.ocpp.v16.handlers import CsmsOperations

if TYPE_CHECKING:
    from chargepoint.ocpp.v16.link import V16Link

log = logging.getLogger(__name__)
KNOWN_ACTIONS = frozenset(a.value for a in Action)


class V16Session(CsmsOperations, ChargePoint):
    def __init__(self, cp_id: str, connection: Any, link: V16Link, response_timeout_s: float) -> None:
        super().__init__(cp_id, connection, response_timeout=response_timeout_s,
                         logger=logging.getLogger("chargepoint.ocpp.wire"))
        self.link = link

    async def route_message(self, raw_msg: Any) -> None:
        frame = parse_frame(raw_msg)
        if isinstance(frame, FrameError):
            log.warning("malformed frame from the CSMS: %s", frame.description)
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
        msg = Call(frame.unique_id, action, frame.payload)
        try:
            await self._handle_call(msg)
        except OCPPError as exc:
            log.warning("rejected %s from the CSMS: %s %s", action, exc.code, exc.description)
            await self._send(error_frame(frame.unique_id, exc.code, _short(exc)))
        except Exception:
            log.exception("handler for %s failed", action)
            await self._send(error_frame(frame.unique_id, "InternalError", f"{action} could not be processed"))


def _short(exc: OCPPError) -> str:
    """A one-line reason without the library's schema dump or an echo of the frame."""
    details = exc.details if isinstance(exc.details, dict) else {}
    cause = details.get("cause")
    text = cause if isinstance(cause, str) else exc.description
    return text.splitlines()[0] if text else exc.code
