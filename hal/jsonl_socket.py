"""Local control sockets: newline-delimited JSON over a Unix stream socket, one answer per
request line. Used by the simulated board's control socket and by the controller's admin socket.
No request, however broken, stops the server."""
from __future__ import annotations

import asyncio
import json
import logging
import os
import stat
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

log = logging.getLogger(__name__)

MAX_LINE_BYTES = 64 * 1024
MAX_ANSWER_BYTES = 16 * 1024 * 1024
SOCKET_MODE = 0o660
MAX_UNIX_PATH_BYTES = 107  # sun_path is 108 bytes including the terminating NUL

Handler = Callable[[Any], Awaitable[dict[str, Any]]]


class SocketSetupError(RuntimeError):
    """The socket cannot be set up (path in use, not a socket, too long)."""


class Unreachable(ConnectionError):
    """The socket could not be reached or did not answer."""


def error(message: str) -> dict[str, Any]:
    return {"ok": False, "error": message}


def _encode(response: dict[str, Any]) -> bytes:
    try:
        text = json.dumps(response, default=str, allow_nan=False)
    except (TypeError, ValueError) as exc:
        text = json.dumps(error(f"the answer could not be encoded as JSON: {exc}"))
    return text.encode() + b"\n"


class JsonLineServer:
    """Serves one socket; several clients, several requests each."""

    def __init__(self, path: Path, handler: Handler, name: str = "control") -> None:
        self.path = Path(path)
        self.handler = handler
        self.name = name
        self._server: asyncio.AbstractServer | None = None
        self._writers: set[asyncio.StreamWriter] = set()
        self._inode: int | None = None

    async def _prepare_path(self) -> None:
        if len(os.fsencode(self.path)) > MAX_UNIX_PATH_BYTES:
            raise SocketSetupError(
                f"control socket path {self.path} is longer than {MAX_UNIX_PATH_BYTES} bytes; choose a shorter path"
            )
        self.path.parent.mkdir(parents=True, exist_ok=True)
        try:
            st = os.lstat(self.path)
        except FileNotFoundError:
            return
        if not stat.S_ISSOCK(st.st_mode):
            raise SocketSetupError(f"{self.path} exists and is not a socket; refusing to replace it")
        try:
            _, writer = await asyncio.open_unix_connection(str(self.path))
        except OSError:
            self.path.unlink(missing_ok=True)  # stale: nobody listens on it any more
            return
        writer.close()
        raise SocketSetupError(f"another process is already serving {self.path}")

    async def start(self) -> None:
        await self._prepare_path()
        self._server = await asyncio.start_unix_server(self._handle_client, path=str(self.path))
        os.chmod(self.path, SOCKET_MODE)
        self._inode = os.stat(self.path).st_ino
        log.info("%s socket listening on %s", self.name, self.path)

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

    async def __aenter__(self) -> JsonLineServer:
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
            return await self.handler(request)
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



async def request(socket_path: Path | str, request: dict[str, Any], timeout_s: float = 5.0) -> dict[str, Any]:
    """Send one request, return the decoded answer. Raises Unreachable when nobody answers,
    ValueError when the answer is not a JSON object."""

    async def exchange() -> bytes:
        try:
            reader, writer = await asyncio.open_unix_connection(str(socket_path), limit=MAX_ANSWER_BYTES)
        except OSError as exc:
            raise Unreachable(f"{socket_path}: {exc.strerror or exc}") from exc
        try:
            writer.write(json.dumps(request).encode() + b"\n")
            await writer.drain()
            line = await reader.readline()
        except OSError as exc:
            raise Unreachable(f"{socket_path}: {exc.strerror or exc}") from exc
        finally:
            writer.close()
        if not line:
            raise Unreachable(f"{socket_path}: the server closed the connection without answering")
        return line

    try:
        line = await asyncio.wait_for(exchange(), timeout_s)
    except asyncio.TimeoutError:
        raise Unreachable(f"{socket_path}: no answer within {timeout_s:g} s") from None
    answer = json.loads(line)
    if not isinstance(answer, dict):
        raise ValueError(f"unexpected answer: {line[:200]!r}")
    return answer
