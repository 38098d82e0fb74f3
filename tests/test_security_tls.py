"""The charge point's TLS settings against real loopback servers: what connects, what does not,
and which security event each refusal stands for."""
from __future__ import annotations

import asyncio
import socket
import ssl
import threading
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path

import pytest
from websockets.datastructures import Headers
from websockets.exceptions import InvalidStatus
from websockets.http11 import Response

from chargepoint.security.events import SecurityEvent
from chargepoint.security.tls import classify_failure, client_context
from security_pki import TestCa, server_context

pytestmark = pytest.mark.timeout(30)


@asynccontextmanager
async def tls_server(context: ssl.SSLContext) -> AsyncIterator[int]:
    """A blocking OpenSSL server in a thread: unlike an asyncio server, it sends its TLS alert
    before it closes, as a production server does, so the client learns why."""
    listener = socket.create_server(("127.0.0.1", 0))
    listener.settimeout(0.2)
    stop = threading.Event()

    def serve() -> None:
        while not stop.is_set():
            try:
                raw, _ = listener.accept()
            except TimeoutError:
                continue
            raw.settimeout(5)
            try:
                with context.wrap_socket(raw, server_side=True) as tls:
                    tls.sendall(b"hello")
                    tls.recv(1)
            except (OSError, ssl.SSLError):
                pass

    thread = threading.Thread(target=serve, daemon=True)
    thread.start()
    try:
        yield listener.getsockname()[1]
    finally:
        stop.set()
        thread.join(5)
        listener.close()


async def handshake(port: int, context: ssl.SSLContext, host: str = "127.0.0.1") -> ssl.SSLObject:
    """Connect, read the server's first bytes (a TLS 1.3 server refuses a client certificate only
    then), and return the TLS object."""
    reader, writer = await asyncio.wait_for(
        asyncio.open_connection("127.0.0.1", port, ssl=context, server_hostname=host), 10)
    try:
        assert await asyncio.wait_for(reader.readexactly(5), 10) == b"hello"
        return writer.get_extra_info("ssl_object")
    finally:
        writer.close()


async def refusal(port: int, context: ssl.SSLContext, host: str = "127.0.0.1") -> tuple[SecurityEvent, str] | None:
    with pytest.raises((ssl.SSLError, ConnectionError, asyncio.IncompleteReadError)) as caught:
        await handshake(port, context, host)
    return classify_failure(caught.value)


async def test_trusted_server_connects_with_tls_1_2_or_newer(tmp_path: Path) -> None:
    ca = TestCa()
    async with tls_server(server_context(ca.server("127.0.0.1", "localhost"), tmp_path)) as port:
        tls = await handshake(port, client_context(ca.pem))
        assert tls.version() in ("TLSv1.2", "TLSv1.3")
        assert tls.compression() is None


async def test_a_common_name_without_san_names_the_server(tmp_path: Path) -> None:
    ca = TestCa()
    async with tls_server(server_context(ca.server(common_name="localhost"), tmp_path)) as port:
        await handshake(port, client_context(ca.pem), host="localhost")


async def test_tls_1_2_uses_only_the_whitepapers_aead_suites(tmp_path: Path) -> None:
    ca = TestCa()
    context = server_context(ca.server("127.0.0.1"), tmp_path, maximum=ssl.TLSVersion.TLSv1_2)
    async with tls_server(context) as port:
        tls = await handshake(port, client_context(ca.pem))
        assert tls.version() == "TLSv1.2"
        assert tls.cipher()[0] in ("ECDHE-ECDSA-AES128-GCM-SHA256", "ECDHE-ECDSA-AES256-GCM-SHA384")


async def test_untrusted_server_certificate(tmp_path: Path) -> None:
    async with tls_server(server_context(TestCa("Stranger").server("127.0.0.1"), tmp_path)) as port:
        event, info = await refusal(port, client_context(TestCa().pem))  # type: ignore[misc]
    assert event is SecurityEvent.INVALID_CENTRAL_SYSTEM_CERTIFICATE and "issuer" in info


async def test_no_installed_root_trusts_nothing(tmp_path: Path) -> None:
    async with tls_server(server_context(TestCa().server("127.0.0.1"), tmp_path)) as port:
        found = await refusal(port, client_context(""))
    assert found is not None and found[0] is SecurityEvent.INVALID_CENTRAL_SYSTEM_CERTIFICATE


async def test_host_name_mismatch(tmp_path: Path) -> None:
    ca = TestCa()
    async with tls_server(server_context(ca.server("csms.example.com"), tmp_path)) as port:
        found = await refusal(port, client_context(ca.pem))
    assert found is not None and found[0] is SecurityEvent.CENTRAL_SYSTEM_FAILED_TO_AUTHENTICATE


async def test_server_without_a_shared_cipher_suite(tmp_path: Path) -> None:
    ca = TestCa()
    context = server_context(ca.server("127.0.0.1"), tmp_path, maximum=ssl.TLSVersion.TLSv1_2)
    context.set_ciphers("ECDHE-ECDSA-AES128-SHA")  # CBC: not allowed by the whitepaper
    async with tls_server(context) as port:
        found = await refusal(port, client_context(ca.pem))
    assert found is not None and found[0] is SecurityEvent.INVALID_TLS_CIPHER_SUITE


@pytest.mark.filterwarnings("ignore:ssl.TLSVersion.TLSv1:DeprecationWarning")
async def test_server_that_speaks_only_tls_1_1(tmp_path: Path) -> None:
    ca = TestCa()
    context = server_context(ca.server("127.0.0.1"), tmp_path, maximum=ssl.TLSVersion.TLSv1_1)
    context.minimum_version = ssl.TLSVersion.TLSv1
    context.set_ciphers("DEFAULT:@SECLEVEL=0")
    async with tls_server(context) as port:
        found = await refusal(port, client_context(ca.pem))
    assert found is not None and found[0] is SecurityEvent.INVALID_TLS_VERSION


async def test_client_certificate_required_and_presented(tmp_path: Path) -> None:
    ca = TestCa()
    context = server_context(ca.server("127.0.0.1"), tmp_path, trust_clients=ca)
    identity = ca.client("SN-0001").write(tmp_path, "cp")
    async with tls_server(context) as port:
        found = await refusal(port, client_context(ca.pem))
        assert found is not None and found[0] is SecurityEvent.FAILED_TO_AUTHENTICATE_AT_CENTRAL_SYSTEM
        await handshake(port, client_context(ca.pem, identity))


def test_basic_auth_refused_by_the_csms() -> None:
    refused = InvalidStatus(Response(401, "Unauthorized", Headers()))
    assert classify_failure(refused) == (SecurityEvent.FAILED_TO_AUTHENTICATE_AT_CENTRAL_SYSTEM,
                                         "HTTP 401 on the WebSocket handshake")
    assert classify_failure(ConnectionRefusedError()) is None
    assert classify_failure(InvalidStatus(Response(404, "Not Found", Headers()))) is None
