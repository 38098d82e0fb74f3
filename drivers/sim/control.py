"""The simulator's control socket: newline-delimited JSON over a Unix stream socket. Every
request gets exactly one answer, and no request, however broken, stops the server."""
from __future__ import annotations

import asyncio
import copy
import inspect
import json
import logging
import os
import stat
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from drivers.sim.board import SimBoard, SimCommandError
from hal.board import StatusProvider

log = logging.getLogger(__name__)

MAX_LINE_BYTES = 64 * 1024
SOCKET_MODE = 0o660
MAX_UNIX_PATH_BYTES = 107  # sun_path is 108 bytes including the terminating NUL

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


class SimControlError(RuntimeError):
    """The control socket cannot be set up (path in use, not a socket, too long)."""


def error(message: str) -> dict[str, Any]:
    return {"ok": False, "error": message}


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


def _encode(response: dict[str, Any]) -> bytes:
    try:
        text = json.dumps(response, default=str, allow_nan=False)
    except (TypeError, ValueError) as exc:
        text = json.dumps(error(f"the answer could not be encoded as JSON: {exc}"))
    return text.encode() + b"\n"


class SimControlServer:
    """Serves the control socket for one SimBoard; several clients, several requests each."""

    def __init__(self, sim: SimBoard, path: Path, status_provider: StatusProvider | None = None) -> None:
        self.sim = sim
        self.path = Path(path)
        self.status_provider = status_provider
        self._server: asyncio.AbstractServer | None = None
        self._writers: set[asyncio.StreamWriter] = set()
        self._inode: int | None = None

    async def _prepare_path(self) -> None:
        if len(os.fsencode(self.path)) > MAX_UNIX_PATH_BYTES:
            raise SimControlError(
                f"control socket path {self.path} is longer than {MAX_UNIX_PATH_BYTES} bytes; choose a shorter sim.control_socket"
            )
        self.path.parent.mkdir(parents=True, exist_ok=True)
        try:
            st = os.lstat(self.path)
        except FileNotFoundError:
            return
        if not stat.S_ISSOCK(st.st_mode):
            raise SimControlError(f"{self.path} exists and is not a socket; refusing to replace it")
        try:
            _, writer = await asyncio.open_unix_connection(str(self.path))
        except OSError:
            self.path.unlink(missing_ok=True)  # stale: nobody listens on it any more
            return
        writer.close()
        raise SimControlError(f"another simulator is already serving {self.path}")

    async def start(self) -> None:
        await self._prepare_path()
        self._server = await asyncio.start_unix_server(self._handle_client, path=str(self.path))
        os.chmod(self.path, SOCKET_MODE)
        self._inode = os.stat(self.path).st_ino
        log.info("simulator control socket listening on %s", self.path)

    async def stop(self) -> None:
        server, self._server = self._server, None
        if server is None:
            return
        server.close()
        for writer in list(self._writers):
            writer.close()
        await server.wait_closed()
        try:
            if os.stat(self.path).st_ino == self._inode:
                self.path.unlink()
        except FileNotFoundError:
            pass

    async def serve_forever(self) -> None:
        """Serve until cancelled, then remove the socket."""
        await self.start()
        try:
            await asyncio.get_running_loop().create_future()
        finally:
            await self.stop()

    async def __aenter__(self) -> SimControlServer:
        await self.start()
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.stop()

    async def answer_line(self, line: bytes) -> dict[str, Any] | None:
        """The answer to one line, or None for a blank line (ignored, handy when typing)."""
        if len(line) > MAX_LINE_BYTES:
            return error(f"request line longer than {MAX_LINE_BYTES} bytes")
        try:
            text = line.decode("utf-8")
        except UnicodeDecodeError:
            return error("request is not valid UTF-8")
        if not text.strip():
            return None
        try:
            request = json.loads(text)
        except json.JSONDecodeError as exc:
            return error(f"malformed JSON ({exc.msg} at column {exc.colno}); send one JSON object per line")
        try:
            return await handle_request(self.sim, request, self.status_provider)
        except Exception as exc:  # a bug in one command must not stop the server
            log.exception("control request failed: %r", request)
            return error(f"internal error: {type(exc).__name__}: {exc}")

    async def _handle_client(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self._writers.add(writer)
        buf = bytearray()
        discarding = False  # inside an oversize line already answered
        try:
            while True:
                chunk = await reader.read(MAX_LINE_BYTES)
                if not chunk:
                    if buf.strip() and not discarding:
                        await self._reply(writer, await self.answer_line(bytes(buf)))
                    break
                buf += chunk
                while True:
                    nl = buf.find(b"\n")
                    if nl < 0:
                        if len(buf) > MAX_LINE_BYTES:
                            if not discarding:
                                await self._reply(writer, error(f"request line longer than {MAX_LINE_BYTES} bytes"))
                                discarding = True
                            buf.clear()
                        break
                    line = bytes(buf[:nl]).rstrip(b"\r")
                    del buf[: nl + 1]
                    if discarding:
                        discarding = False
                        continue
                    await self._reply(writer, await self.answer_line(line))
        except (ConnectionError, asyncio.IncompleteReadError):
            pass
        finally:
            self._writers.discard(writer)
            writer.close()

    @staticmethod
    async def _reply(writer: asyncio.StreamWriter, response: dict[str, Any] | None) -> None:
        if response is None:
            return
        writer.write(_encode(response))
        await writer.drain()


async def serve_control(sim: SimBoard, path: Path, status_provider: StatusProvider | None = None) -> None:
    """Serve `sim`'s control socket at `path` until cancelled."""
    await SimControlServer(sim, path, status_provider).serve_forever()
