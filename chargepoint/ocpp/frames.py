"""OCPP-J framing checks done before any message handling, so that every malformed frame gets
the CALLERROR the RPC framework prescribes instead of silence or a dead receive loop."""
from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

CALL, CALLRESULT, CALLERROR = 2, 3, 4
MAX_MESSAGE_ID_LEN = 36
UNREADABLE_ID = "-1"  # OCPP-J: the id to use when the message id itself cannot be read


@dataclass(frozen=True)
class Frame:
    type_id: int
    unique_id: str
    action: str | None = None  # CALL only
    payload: Any = None  # CALL / CALLRESULT payload
    error_code: str | None = None  # CALLERROR only
    error_description: str = ""
    error_details: Any = None


@dataclass(frozen=True)
class FrameError:
    """A frame that cannot be handled; `reply` says whether a CALLERROR should answer it."""

    unique_id: str
    code: str
    description: str
    reply: bool = True

    def to_json(self) -> str:
        return error_frame(self.unique_id, self.code, self.description)


def error_frame(unique_id: str, code: str, description: str) -> str:
    return json.dumps([CALLERROR, unique_id, code, description[:255], {}], separators=(",", ":"))


def parse_frame(raw: str | bytes) -> Frame | FrameError:
    if isinstance(raw, bytes):
        # OCPP-J uses text frames only.
        try:
            raw = raw.decode("utf-8")
        except UnicodeDecodeError:
            return FrameError(UNREADABLE_ID, "FormatViolation", "binary frame is not UTF-8 JSON")
    try:
        msg = json.loads(raw)
    except (json.JSONDecodeError, RecursionError):
        return FrameError(UNREADABLE_ID, "FormatViolation", "message is not valid JSON")
    if not isinstance(msg, list) or not msg:
        return FrameError(UNREADABLE_ID, "ProtocolError", "message is not a JSON array [MessageTypeId, MessageId, ...]")
    type_id = msg[0]
    uid = msg[1] if len(msg) > 1 else None
    readable_id = uid if isinstance(uid, str) and 0 < len(uid) <= MAX_MESSAGE_ID_LEN else None
    reply_id = readable_id or UNREADABLE_ID
    if type(type_id) is not int or type_id not in (CALL, CALLRESULT, CALLERROR):
        return FrameError(reply_id, "ProtocolError", f"MessageTypeId {type_id!r} is not 2, 3 or 4")
    if readable_id is None:
        return FrameError(UNREADABLE_ID, "ProtocolError", "MessageId must be a string of 1 to 36 characters",
                          reply=type_id == CALL)
    if type_id == CALL:
        if len(msg) != 4:
            return FrameError(readable_id, "ProtocolError", "a CALL has exactly 4 elements")
        action, payload = msg[2], msg[3]
        if not isinstance(action, str) or not action:
            return FrameError(readable_id, "ProtocolError", "Action must be a non-empty string")
        if not isinstance(payload, dict):
            return FrameError(readable_id, "FormatViolation", "payload must be a JSON object")
        return Frame(CALL, readable_id, action=action, payload=payload)
    if type_id == CALLRESULT:
        if len(msg) != 3 or not isinstance(msg[2], dict):
            # Answering a result with an error would confuse the peer: report and drop.
            return FrameError(readable_id, "ProtocolError", "malformed CALLRESULT", reply=False)
        return Frame(CALLRESULT, readable_id, payload=msg[2])
    if len(msg) != 5 or not isinstance(msg[2], str) or not isinstance(msg[3], str):
        return FrameError(readable_id, "ProtocolError", "malformed CALLERROR", reply=False)
    return Frame(CALLERROR, readable_id, error_code=msg[2], error_description=msg[3], error_details=msg[4])
