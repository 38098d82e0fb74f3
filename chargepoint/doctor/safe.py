"""Leaving the box safe after the doctor, whatever happened: every output back to its safe
level (as `chargepoint safe-state` sets them), then the drivers closed so their pins and ports
are released. Each device is tried even when another one fails."""
from __future__ import annotations

import asyncio
import inspect
import logging
from collections.abc import Callable
from typing import Any

from hal.board import Board
from hal.contracts import Contactor
from hal.types import IndicatorPattern

log = logging.getLogger(__name__)

CLOSE_TIMEOUT_S = 2.0


def _attempt(what: str, action: Callable[[], Any], ok: Any) -> Any:
    try:
        action()
    except Exception as exc:
        log.error("doctor: could not set %s safe: %r", what, exc)
        return f"error: {exc}"
    return ok


def _contacts_may_be_closed(contactor: Contactor) -> bool:
    """A lock is not released while the mirror contact reads closed: a welded contactor keeps
    the socket's contacts live."""
    try:
        return contactor.feedback_closed() is True
    except Exception:
        return True


def drive_safe(board: Board) -> dict[str, Any]:
    """Contactors open, pilots at -12 V (EVSE not available), locks released where the contactor
    is open, indicator off, heartbeat low. Returns what was set, per EVSE and for the box."""
    result: dict[str, Any] = {}
    for evse_id, d in board.evses.items():
        entry: dict[str, Any] = {
            "contactor_closed": _attempt(f"EVSE {evse_id} contactor", lambda c=d.contactor: c.set_closed(False), False),
            "pilot": _attempt(f"EVSE {evse_id} pilot", d.pilot.set_state_f, "state_f"),
        }
        lock = d.lock
        if lock is not None and lock.commanded_locked:
            if _contacts_may_be_closed(d.contactor):
                entry["locked"] = "left locked: the contactor feedback reads closed"
            else:
                entry["locked"] = _attempt(f"EVSE {evse_id} lock", lambda k=lock: k.set_locked(False), False)
        result[str(evse_id)] = entry
    if board.indicator is not None:
        indicator = board.indicator
        result["indicator"] = _attempt("indicator", lambda: indicator.show(IndicatorPattern.OFF), "off")
    heartbeat = board.heartbeat
    if heartbeat is not None and getattr(heartbeat, "level", False):
        result["heartbeat"] = _attempt("heartbeat", heartbeat.toggle, "low")
    return result


def _closables(board: Board) -> list[Any]:
    devices: list[Any] = []
    for d in board.evses.values():
        devices += [d.contactor, d.pilot, d.proximity, d.rcm, d.lock, d.over_temperature]
        bus = getattr(d.meter, "bus", None)
        devices.append(bus if bus is not None else d.meter)
    devices += [board.reader, board.indicator, board.heartbeat]
    unique: dict[int, Any] = {}
    for device in devices:
        if device is not None and callable(getattr(device, "close", None)):
            unique.setdefault(id(device), device)
    return list(unique.values())


async def close_board(board: Board) -> None:
    """Close every driver that can be closed (each leaves its output safe, see docs/hardware.md)."""
    for device in _closables(board):
        try:
            outcome = device.close()
            if inspect.isawaitable(outcome):
                async with asyncio.timeout(CLOSE_TIMEOUT_S):
                    await outcome
        except Exception as exc:
            log.warning("doctor: closing %r failed: %r", device, exc)
