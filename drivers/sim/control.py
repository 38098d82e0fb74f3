"""The simulator's control socket: newline-delimited JSON over a Unix stream socket. Every
request gets exactly one answer, and no request, however broken, stops the server."""
from __future__ import annotations

import copy
import inspect
import logging
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from drivers.sim.board import SimBoard, SimCommandError
from hal.board import StatusProvider
from hal.jsonl_socket import JsonLineServer, SocketSetupError, error

log = logging.getLogger(__name__)


# cmd -> (required fields, optional fields)
COMMAND_FIELDS: dict[str, tuple[tuple[str, ...], tuple[str, ...]]] = {
    "plug": (("evse",), ("max_current_a", "phases", "cable_a")),
    "unplug": (("evse",), ()),
    "ev-state": (("evse", "state"), ("paused",)),
    "tap": (("tag",), ("evse",)),
    "fault": (("evse", "kind"), ()),
    "clear": (("evse", "kind"), ()),
    "status": ((), ()),
}

# Per-EVSE keys for which the controller knows better than the board.
PROVIDER_EVSE_KEYS = ("offered_current_a", "transaction_id", "connector_status")


SimControlError = SocketSetupError


def _evse_answer(evse_status: dict[str, Any]) -> dict[str, Any]:
    return {"ok": True, "evse": evse_status["id"], "evse_status": evse_status}


def _provider_evses(view: Mapping[str, Any]) -> dict[int, Mapping[str, Any]]:
    """The provider's per-EVSE views keyed by int id, whether it sent a dict or a list."""
    raw = view.get("evses")
    out: dict[int, Mapping[str, Any]] = {}
    if isinstance(raw, Mapping):
        for key, value in raw.items():
            try:
                out[int(key)] = value
            except (TypeError, ValueError):
                continue
    elif isinstance(raw, list):
        for value in raw:
            if isinstance(value, Mapping) and isinstance(value.get("id"), int):
                out[value["id"]] = value
    return out


def merge_status(board_status: dict[str, Any], view: Mapping[str, Any]) -> dict[str, Any]:
    """Board status with the controller's view merged in: the provider wins for the keys only it
    knows (PROVIDER_EVSE_KEYS) and adds any per-EVSE key the board lacks; every top-level key
    other than "evses" is copied as is."""
    if not isinstance(view, Mapping):
        raise TypeError(f"status provider returned {type(view).__name__}, expected a dict")
    status = copy.deepcopy(board_status)
    per_evse = _provider_evses(view)
    for entry in status["evses"]:
        theirs = per_evse.get(entry["id"])
        if not isinstance(theirs, Mapping):
            continue
        for key, value in theirs.items():
            if key in PROVIDER_EVSE_KEYS or key not in entry:
                entry[key] = value
    for key, value in view.items():
        if key != "evses":
            status[key] = value
    return status


async def full_status(sim: SimBoard, provider: StatusProvider | None) -> dict[str, Any]:
    """Status answer: the board's part always, the controller's when it can give it."""
    status = sim.status()
    if provider is None:
        return status
    try:
        view: Any = provider()
        if inspect.isawaitable(view):
            view = await view
        return merge_status(status, view)
    except Exception as exc:  # the controller's trouble must not hide the board's state
        log.warning("status provider failed: %r", exc)
        status["error"] = f"controller status unavailable: {type(exc).__name__}: {exc}"
        return status


def _check_fields(cmd: str, request: Mapping[str, Any]) -> str | None:
    required, optional = COMMAND_FIELDS[cmd]
    missing = [f for f in required if f not in request]
    if missing:
        return f"'{cmd}' needs the field(s) {', '.join(missing)}"
    allowed = {"cmd", *required, *optional}
    unknown = sorted(k for k in request if k not in allowed)
    if unknown:
        return f"unknown field(s) {', '.join(repr(k) for k in unknown)} for '{cmd}'; accepted: {', '.join(sorted(allowed))}"
    return None


async def handle_request(sim: SimBoard, request: Any, provider: StatusProvider | None = None) -> dict[str, Any]:
    """Carry out one decoded request and build its answer (never raises for bad input)."""
    if not isinstance(request, dict):
        return error(f"a request must be a JSON object such as {{\"cmd\": \"status\"}}, got {type(request).__name__}")
    cmd = request.get("cmd")
    commands = ", ".join(COMMAND_FIELDS)
    if not isinstance(cmd, str):
        return error(f"'cmd' must be a string, one of: {commands}")
    if cmd not in COMMAND_FIELDS:
        return error(f"unknown command {cmd!r}; 'cmd' must be one of: {commands}")
    problem = _check_fields(cmd, request)
    if problem:
        return error(problem)

    def opt(name: str, default: Any) -> Any:
        value = request.get(name)
        return default if value is None else value

    try:
        if cmd == "status":
            return {"ok": True, "status": await full_status(sim, provider)}
        if cmd == "plug":
            evse = sim.plug(
                request["evse"],
                max_current_a=opt("max_current_a", 32.0),
                phases=opt("phases", 3),
                cable_a=opt("cable_a", 32),
            )
        elif cmd == "unplug":
            evse = sim.unplug(request["evse"])
        elif cmd == "ev-state":
            evse = sim.set_ev_state(request["evse"], request["state"], paused=opt("paused", False))
        elif cmd == "tap":
            token = sim.tap(request["tag"], request.get("evse"))
            return {"ok": True, "tag": token.id_tag, "evse": token.evse_id}
        elif cmd == "fault":
            evse = sim.inject_fault(request["evse"], request["kind"])
        else:
            evse = sim.clear_fault(request["evse"], request["kind"])
    except SimCommandError as exc:
        return error(str(exc))
    return _evse_answer(evse.status())


class SimControlServer(JsonLineServer):
    """Serves the control socket for one SimBoard."""

    def __init__(self, sim: SimBoard, path: Path, status_provider: StatusProvider | None = None) -> None:
        super().__init__(path, lambda request: handle_request(sim, request, status_provider), "simulator control")
        self.sim = sim
        self.status_provider = status_provider


async def serve_control(sim: SimBoard, path: Path, status_provider: StatusProvider | None = None) -> None:
    """Serve `sim`'s control socket at `path` until cancelled."""
    await SimControlServer(sim, path, status_provider).serve_forever()
