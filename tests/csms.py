"""Scriptable OCPP 1.6J central system for end-to-end tests.

The charge-point controller under test runs as a separate process and talks
to this CSMS over a real WebSocket, so the tests exercise the same framing,
subprotocol negotiation and schema rules a production CSMS would apply.

Handlers work on payloads exactly as they appear on the wire (camelCase
dicts), so that tests can assert on and reply with literal OCPP JSON.
"""

from __future__ import annotations

import asyncio
import inspect
import itertools
import json
import logging
import re
import ssl
from collections.abc import Awaitable, Callable, Iterable
from dataclasses import dataclass
from datetime import datetime, timezone
from typing import Any

import ocpp.messages
from ocpp.exceptions import InternalError, NotSupportedError, OCPPError
from ocpp.exceptions import NotImplementedError as OcppNotImplementedError
from ocpp.messages import Call, validate_payload
from ocpp.v16 import ChargePoint
from ocpp.v16.enums import Action
from websockets.asyncio.server import Server, ServerConnection, basic_auth, serve
from websockets.datastructures import Headers
from websockets.exceptions import ConnectionClosed
from websockets.http11 import Request, Response

# Validating in a thread pool roughly triples round-trip latency, which
# distorts timing-sensitive tests.
ocpp.messages.ASYNC_VALIDATION = False

LOGGER = logging.getLogger(__name__)

OCPP_SUBPROTOCOL = "ocpp1.6"
CALL, CALLRESULT, CALLERROR = 2, 3, 4
_V16_ACTIONS = frozenset(action.value for action in Action)
_UTC_Z = re.compile(r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d+)?Z$")

Payload = dict[str, Any]
Handler = Callable[[Payload], "Payload | _NoReply | Awaitable[Payload | _NoReply]"]


class _NoReply:
    """Marker for "swallow this CALL": lets tests exercise CP response timeouts."""

    def __repr__(self) -> str:
        return "NO_REPLY"


NO_REPLY = _NoReply()


@dataclass(frozen=True)
class Received:
    """One CALL sent by the charge point, kept exactly as it arrived."""

    action: str
    payload: Payload
    unique_id: str
    at: datetime
    raw: str


@dataclass(frozen=True)
class ConnectionInfo:
    """What a charge point presented when its WebSocket was accepted."""

    cp_id: str
    path: str
    subprotocol: str | None
    headers: Headers
    at: datetime
    client_certificate: bytes | None = None  # DER, when the charge point presented one over TLS


def utc_now_z() -> str:
    """Current UTC time in the millisecond 'Z' form OCPP 1.6 examples use."""
    return datetime.now(timezone.utc).strftime("%Y-%m-%dT%H:%M:%S.%f")[:-3] + "Z"


def assert_utc_z(timestamp: str) -> datetime:
    """Fail unless `timestamp` is ISO 8601 UTC ending in 'Z'; return it parsed.

    OCPP 1.6 leaves the offset open, but CSMSs commonly mis-handle local
    offsets, so the firmware commits to UTC with 'Z'.
    """
    assert isinstance(timestamp, str), f"timestamp is not a string: {timestamp!r}"
    assert _UTC_Z.match(timestamp), f"not ISO 8601 UTC with 'Z': {timestamp!r}"
    try:
        return datetime.fromisoformat(timestamp)
    except ValueError as exc:
        raise AssertionError(f"not a valid date/time: {timestamp!r}") from exc


def _parse_frame(text: str) -> list[Any] | None:
    """Return the frame as a JSON list, or None if it is not one."""
    try:
        frame = json.loads(text)
    except (TypeError, ValueError):
        return None
    return frame if isinstance(frame, list) and frame else None


def _client_certificate(ws: ServerConnection) -> bytes | None:
    ssl_object = ws.transport.get_extra_info("ssl_object") if ws.transport is not None else None
    return ssl_object.getpeercert(binary_form=True) if ssl_object is not None else None


class _RecordingConnection:
    """Wraps the WebSocket between the ocpp library and the wire.

    The ocpp ChargePoint only uses ``recv()`` and ``send(str)``; sitting here
    lets the harness log every frame and divert replies to raw frames sent
    by tests, which the library would otherwise discard as unknown ids.
    """

    def __init__(self, ws: ServerConnection, csms: TestCsms) -> None:
        self._ws = ws
        self._csms = csms
        self._library_call_ids: set[str] = set()

    async def recv(self) -> str:
        while True:
            data = await self._ws.recv()
            text = data if isinstance(data, str) else data.decode("utf-8", "replace")
            self._csms._record_frame("in", text)
            frame = _parse_frame(text)
            if frame is None:
                return text
            kind = frame[0]
            if (
                kind == CALL
                and len(frame) == 4
                and isinstance(frame[1], str)
                and isinstance(frame[2], str)
                and isinstance(frame[3], dict)
            ):
                self._csms._record_call(frame[2], frame[3], frame[1], text)
                return text
            if kind in (CALLRESULT, CALLERROR) and len(frame) >= 2:
                if frame[1] in self._library_call_ids:
                    self._library_call_ids.discard(frame[1])
                    return text
                self._csms._record_raw_reply(frame)
                continue
            return text

    async def send(self, text: str) -> None:
        """Send on behalf of the ocpp library, remembering ids of its CALLs."""
        frame = _parse_frame(text)
        if frame is not None and frame[0] == CALL and len(frame) > 1:
            self._library_call_ids.add(frame[1])
        await self.send_raw(text)

    async def send_raw(self, text: str) -> None:
        self._csms._record_frame("out", text)
        await self._ws.send(text)


class _Session(ChargePoint):
    """One accepted charge-point connection."""

    def __init__(
        self,
        info: ConnectionInfo,
        ws: ServerConnection,
        connection: _RecordingConnection,
        csms: TestCsms,
    ) -> None:
        super().__init__(info.cp_id, connection, response_timeout=3600)
        self.info = info
        self.ws = ws
        self.connection = connection
        self.closed = asyncio.Event()
        self._csms = csms

    async def _handle_call(self, msg: Call) -> None:
        """Answer a CALL through the wire-format handlers of the CSMS.

        The library's own routing would hand handlers snake_case kwargs and
        demand dataclass replies; tests want literal OCPP JSON instead. Any
        OCPPError raised here is turned into a CALLERROR by the library.
        """
        if msg.action not in _V16_ACTIONS:
            raise NotSupportedError(details={"cause": f"{msg.action} is not an OCPP 1.6 action"})
        if self._csms.validate_requests:
            await validate_payload(msg, self._ocpp_version)
        reply = await self._csms._reply(msg.action, msg.payload)
        if reply is NO_REPLY:
            return
        result = msg.create_call_result(reply)
        if self._csms.validate_responses:
            await validate_payload(result, self._ocpp_version)
        await self._send(result.to_json())


class TestCsms:
    """OCPP 1.6J CSMS for end-to-end tests.

    Records everything the charge point sends, answers with overridable
    defaults, and can be stopped and restarted on the same port while the
    charge point keeps trying to reconnect.

    ``handlers[action]`` takes the camelCase payload and returns the
    camelCase reply (or an awaitable of it, or NO_REPLY); raising an
    OCPPError answers with that CALLERROR. Incoming CALLs are handled one at
    a time, so a slow handler also delays replies to ``call()``.
    """

    __test__ = False  # not a pytest test class despite the name

    def __init__(
        self,
        tags: dict[str, str] | None = None,
        boot_statuses: Iterable[str] = ("Accepted",),
        boot_interval: int = 300,
        *,
        host: str = "127.0.0.1",
        path: str = "/ocpp",
        basic_auth_credentials: dict[str, str] | None = None,
        ssl_context: ssl.SSLContext | None = None,
    ) -> None:
        self.tags: dict[str, str] = dict(tags or {})
        self.boot_statuses: list[str] = list(boot_statuses) or ["Accepted"]
        self.boot_interval = boot_interval
        self.host = host
        self.path = path
        self.basic_auth_credentials = basic_auth_credentials
        self.ssl_context = ssl_context  # wss:// when set; replace it between stop() and start()
        self.validate_requests = True
        self.validate_responses = True

        self.received: list[Received] = []
        self.frames: list[tuple[str, str]] = []
        self.raw_replies: list[list[Any]] = []
        self.requests: list[Request] = []
        self.connections: list[ConnectionInfo] = []
        self.handler_errors: list[BaseException] = []

        self.handlers: dict[str, Handler] = {
            "BootNotification": self._on_boot_notification,
            "Heartbeat": lambda payload: {"currentTime": utc_now_z()},
            "StatusNotification": lambda payload: {},
            "MeterValues": lambda payload: {},
            "DiagnosticsStatusNotification": lambda payload: {},
            "FirmwareStatusNotification": lambda payload: {},
            "LogStatusNotification": lambda payload: {},
            "SignedFirmwareStatusNotification": lambda payload: {},
            "Authorize": lambda payload: {"idTagInfo": self.id_tag_info(payload["idTag"])},
            "StartTransaction": self._on_start_transaction,
            "StopTransaction": self._on_stop_transaction,
            "DataTransfer": lambda payload: {"status": "UnknownVendorId"},
            "SecurityEventNotification": lambda payload: {},
            "SignCertificate": lambda payload: {"status": "Accepted"},
        }
        self._queued: dict[str, list[Payload | _NoReply | OCPPError]] = {}
        self._boot_count = 0
        self._transaction_ids = itertools.count(1)
        self._server: Server | None = None
        self._port: int | None = None
        self._session: _Session | None = None
        self._changed = asyncio.Event()

    # ------------------------------------------------------------ lifecycle

    async def start(self, port: int | None = None) -> str:
        """Listen and return the URL; the CP appends its id to it.

        Without `port`, a restart reuses the previous port and the first
        start lets the OS choose a free one.
        """
        if self._server is not None:
            raise RuntimeError("CSMS already running")
        if port is None:
            port = self._port or 0
        self._server = await serve(
            self._handle_connection,
            self.host,
            port,
            subprotocols=[OCPP_SUBPROTOCOL],
            process_request=self._process_request,
            close_timeout=2,
            ssl=self.ssl_context,
        )
        self._port = self._server.sockets[0].getsockname()[1]
        return self.url

    async def stop(self) -> None:
        """Close the listener and every open connection (code 1001)."""
        server, self._server = self._server, None
        if server is None:
            return
        server.close()
        await server.wait_closed()

    async def __aenter__(self) -> TestCsms:
        await self.start()
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self.stop()

    @property
    def port(self) -> int:
        if self._port is None:
            raise RuntimeError("CSMS was never started")
        return self._port

    @property
    def url(self) -> str:
        scheme = "wss" if self.ssl_context is not None else "ws"
        return f"{scheme}://{self.host}:{self.port}{self.path}"

    @property
    def running(self) -> bool:
        return self._server is not None

    # ---------------------------------------------------------- connection

    @property
    def connected(self) -> bool:
        return self._session is not None

    @property
    def connection(self) -> ConnectionInfo | None:
        """The current connection, or the last one if none is open."""
        if self._session is not None:
            return self._session.info
        return self.connections[-1] if self.connections else None

    @property
    def cp_id(self) -> str | None:
        info = self.connection
        return info.cp_id if info else None

    @property
    def subprotocol(self) -> str | None:
        info = self.connection
        return info.subprotocol if info else None

    @property
    def headers(self) -> Headers | None:
        info = self.connection
        return info.headers if info else None

    async def wait_connected(self, timeout: float = 10.0) -> str:
        """Wait for an open charge-point connection; return the CP id."""
        session = await self._wait_until(
            lambda: self._session, timeout, "a charge point to connect"
        )
        return session.info.cp_id

    async def wait_disconnected(self, timeout: float = 10.0) -> None:
        """Wait until no charge point is connected."""
        await self._wait_until(
            lambda: True if self._session is None else None,
            timeout,
            "the charge point to disconnect",
        )

    async def drop_connection(self, abrupt: bool = False) -> None:
        """Close the current connection from the CSMS side.

        `abrupt` kills the TCP connection without a closing handshake, as a
        network failure would; otherwise a normal close (1001) is sent.
        """
        session = self._require_session()
        if abrupt:
            session.ws.transport.abort()
        else:
            await session.ws.close(1001, "dropped by test CSMS")
        await session.closed.wait()

    # ------------------------------------------------------------ messages

    def messages(self, action: str | None = None) -> list[Payload]:
        """Payloads received so far, optionally only those of one action."""
        return [r.payload for r in self.received if action is None or r.action == action]

    def mark(self) -> int:
        """Position to pass as `since` to wait only for later messages."""
        return len(self.received)

    async def wait_for(
        self,
        action: str,
        predicate: Callable[[Payload], bool] | None = None,
        timeout: float = 10.0,
        since: int = 0,
    ) -> Received:
        """First message of `action` from index `since` on matching `predicate`.

        Messages already received count, so a fast charge point cannot win
        the race against the test; use `since=csms.mark()` to skip them.
        """
        checked = since

        def find() -> Received | None:
            nonlocal checked
            while checked < len(self.received):
                record = self.received[checked]
                checked += 1
                if record.action == action and (predicate is None or predicate(record.payload)):
                    return record
            return None

        return await self._wait_until(find, timeout, f"{action} matching the predicate")

    def call_errors_sent(self) -> list[list[Any]]:
        """CALLERRORs the CSMS answered with, e.g. for schema-invalid CALLs."""
        sent = []
        for direction, text in self.frames:
            frame = _parse_frame(text) if direction == "out" else None
            if frame is not None and frame[0] == CALLERROR:
                sent.append(frame)
        return sent

    # ----------------------------------------------------------- CSMS → CP

    async def call(self, payload: Any, timeout: float = 10.0) -> Any:
        """Send a CALL built from an ``ocpp.v16.call`` payload; return the result.

        A CALLERROR raises the matching OCPPError; a dropped connection
        raises ConnectionError instead of waiting out the timeout.
        """
        session = self._require_session()
        request = asyncio.ensure_future(session.call(payload, suppress=False))
        closed = asyncio.ensure_future(session.closed.wait())
        try:
            done, _ = await asyncio.wait(
                {request, closed}, timeout=timeout, return_when=asyncio.FIRST_COMPLETED
            )
        finally:
            closed.cancel()
        if request in done:
            return request.result()
        request.cancel()
        name = type(payload).__name__
        if closed in done:
            raise ConnectionError(f"connection closed before the CP answered {name}")
        raise TimeoutError(f"no answer to {name} within {timeout}s")

    async def send_raw(
        self, text: str, timeout: float = 5.0, expect_reply: bool = True
    ) -> list[Any] | None:
        """Send any text frame; return the next CALLRESULT/CALLERROR not owned by `call()`."""
        session = self._require_session()
        start = len(self.raw_replies)
        await session.connection.send_raw(text)
        if not expect_reply:
            return None
        return await self._wait_until(
            lambda: self.raw_replies[start] if len(self.raw_replies) > start else None,
            timeout,
            f"a CALLRESULT/CALLERROR after sending {text!r}",
        )

    # ------------------------------------------------------------- replies

    def queue_replies(self, action: str, *replies: Payload | _NoReply | OCPPError) -> None:
        """Answer the next CALLs of `action` with these, before the handler.

        Each reply is a camelCase payload, NO_REPLY to stay silent, or an
        OCPPError instance to answer with that CALLERROR.
        """
        self._queued.setdefault(action, []).extend(replies)

    def id_tag_info(self, id_tag: str) -> Payload:
        """IdTagInfo for a tag according to `tags`; unknown tags are Invalid."""
        return {"status": self.tags.get(id_tag, "Invalid")}

    def _on_boot_notification(self, payload: Payload) -> Payload:
        index = min(self._boot_count, len(self.boot_statuses) - 1)
        self._boot_count += 1
        return {
            "status": self.boot_statuses[index],
            "currentTime": utc_now_z(),
            "interval": self.boot_interval,
        }

    def _on_start_transaction(self, payload: Payload) -> Payload:
        return {
            "transactionId": next(self._transaction_ids),
            "idTagInfo": self.id_tag_info(payload["idTag"]),
        }

    def _on_stop_transaction(self, payload: Payload) -> Payload:
        if "idTag" in payload:
            return {"idTagInfo": self.id_tag_info(payload["idTag"])}
        return {}

    async def _reply(self, action: str, payload: Payload) -> Payload | _NoReply:
        queued = self._queued.get(action)
        if queued:
            reply = queued.pop(0)
            if isinstance(reply, OCPPError):
                raise reply
            return reply
        handler = self.handlers.get(action)
        if handler is None:
            raise OcppNotImplementedError(details={"cause": f"No handler for {action}"})
        try:
            reply = handler(payload)
            if inspect.isawaitable(reply):
                reply = await reply
        except OCPPError:
            raise
        except Exception as exc:
            LOGGER.exception("test CSMS handler for %s failed", action)
            self.handler_errors.append(exc)
            raise InternalError(description=f"{type(exc).__name__}: {exc}") from exc
        return reply

    # ----------------------------------------------------------- internals

    def _require_session(self) -> _Session:
        if self._session is None:
            raise RuntimeError("no charge point connected")
        return self._session

    def _notify(self) -> None:
        self._changed.set()
        self._changed = asyncio.Event()

    async def _wait_until(self, check: Callable[[], Any], timeout: float, what: str) -> Any:
        try:
            async with asyncio.timeout(timeout):
                while True:
                    changed = self._changed
                    result = check()
                    if result is not None:
                        return result
                    await changed.wait()
        except TimeoutError:
            seen = ", ".join(r.action for r in self.received[-20:]) or "nothing"
            raise TimeoutError(
                f"waited {timeout}s for {what}; last received: {seen}"
            ) from None

    def _record_frame(self, direction: str, text: str) -> None:
        self.frames.append((direction, text))

    def _record_call(self, action: str, payload: Payload, unique_id: str, raw: str) -> None:
        self.received.append(
            Received(action, payload, unique_id, datetime.now(timezone.utc), raw)
        )
        self._notify()

    def _record_raw_reply(self, frame: list[Any]) -> None:
        self.raw_replies.append(frame)
        self._notify()

    async def _process_request(
        self, ws: ServerConnection, request: Request
    ) -> Response | None:
        self.requests.append(request)
        if self.basic_auth_credentials is None:
            return None
        check = basic_auth(realm="test-csms", credentials=list(self.basic_auth_credentials.items()))
        return await check(ws, request)

    async def _handle_connection(self, ws: ServerConnection) -> None:
        request = ws.request
        assert request is not None
        path = request.path.split("?", 1)[0]
        info = ConnectionInfo(
            cp_id=path.rstrip("/").rsplit("/", 1)[-1],
            path=request.path,
            subprotocol=ws.subprotocol,
            headers=request.headers,
            at=datetime.now(timezone.utc),
            client_certificate=_client_certificate(ws),
        )
        session = _Session(info, ws, _RecordingConnection(ws, self), self)
        self.connections.append(info)
        self._session = session
        self._notify()
        try:
            await session.start()
        except ConnectionClosed:
            pass
        finally:
            if self._session is session:
                self._session = None
            session.closed.set()
            self._notify()
