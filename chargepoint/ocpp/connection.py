"""Keeps a WebSocket to the CSMS open: connects with the security profile's URL, credentials and
TLS settings, negotiates the subprotocol, detects dead links by ping, and reconnects with
exponential back-off and full jitter (at once when the security settings changed)."""
from __future__ import annotations

import asyncio
import base64
import logging
import random
import ssl
from collections.abc import Awaitable, Callable
from typing import Any, Protocol

from websockets.asyncio.client import connect
from websockets.exceptions import InvalidHandshake, InvalidURI, WebSocketException

from chargepoint.config import Config
from chargepoint.security.context import ConnectPlan
from hal.clock import Clock

log = logging.getLogger(__name__)
# A SendLocalList of SendLocalListMaxLength (20,000) entries with 20-character tags, parents and
# expiry dates is about 2.6 MB: it must fit in one frame (OCPP 1.6 §9.4.3).
MAX_FRAME_BYTES = 4 << 20
_ENCODING_DER = getattr(ssl, "ENCODING_DER", 2)  # public from Python 3.13 on; 2 in _ssl before


def endpoint(config: Config) -> str:
    return config.ocpp.csms_url.rstrip("/") + "/" + config.chargepoint.id


def auth_headers(config: Config) -> dict[str, str]:
    """HTTP Basic authentication for security profiles 1 and 2 (OCPP 1.6 security whitepaper)."""
    if config.ocpp.security_profile not in (1, 2) or config.ocpp.password_file is None:
        return {}
    password = config.ocpp.password_file.read_text(encoding="utf-8").strip()
    token = base64.b64encode(f"{config.chargepoint.id}:{password}".encode()).decode()
    return {"Authorization": f"Basic {token}"}


def next_delay(attempt: int, minimum_s: float, maximum_s: float, rng: random.Random) -> float:
    """Full jitter: uniform in [min, min(max, min * 2^attempt)], so a fleet does not reconnect in step."""
    ceiling = min(maximum_s, minimum_s * (2 ** min(attempt, 30)))
    return rng.uniform(minimum_s, max(minimum_s, ceiling))


class ConnectionSecurity(Protocol):
    """How each connection is secured, and who hears how it went (chargepoint.security)."""

    reconnect: asyncio.Event

    def plan(self) -> ConnectPlan: ...

    def connected(self, server_chain_der: list[bytes]) -> None: ...

    def failed(self, exc: BaseException) -> None: ...

    def disconnected(self) -> None: ...


def server_chain(ws: Any) -> list[bytes]:
    """The server's verified certificate chain (DER, leaf first), or its leaf alone where the
    Python build cannot give the chain; empty without TLS."""
    ssl_object = ws.transport.get_extra_info("ssl_object") if ws.transport is not None else None
    if ssl_object is None:
        return []
    chain_of = getattr(ssl_object, "get_verified_chain", None) or getattr(
        getattr(ssl_object, "_sslobj", None), "get_verified_chain", None)
    if chain_of is not None:
        try:
            return [c.public_bytes(_ENCODING_DER) for c in chain_of()]
        except (AttributeError, ValueError, TypeError, ssl.SSLError):
            pass
    leaf = ssl_object.getpeercert(binary_form=True)
    return [leaf] if leaf else []


async def keep_connected(config: Config, clock: Clock, serve: Callable[[Any], Awaitable[None]],
                         subprotocol: str = "ocpp1.6", rng: random.Random | None = None,
                         on_state: Callable[[str], None] | None = None,
                         ping_interval_s: Callable[[], float] | None = None,
                         security: ConnectionSecurity | None = None) -> None:
    """`ping_interval_s` is read at every connection, so a changed WebSocketPingInterval applies
    from the next one on (0 turns pings off). `security` decides the URL, credentials and TLS of
    every attempt, and may ask for a new connection at once (a changed security profile)."""
    rng = rng or random.Random()
    attempt = 0
    while True:
        ping = (ping_interval_s() if ping_interval_s else config.ocpp.ping_interval_s) or None
        if security is not None:
            security.reconnect.clear()
            plan = security.plan()
        else:
            plan = ConnectPlan(endpoint(config), auth_headers(config), None, config.ocpp.security_profile)
        if on_state:
            on_state("connecting")
        deliberate = False
        try:
            tls = {"ssl": plan.tls} if plan.tls is not None else {}
            async with connect(
                plan.url, subprotocols=[subprotocol], additional_headers=plan.headers, ping_interval=ping,
                ping_timeout=config.ocpp.ping_timeout_s, open_timeout=config.ocpp.response_timeout_s,
                max_size=MAX_FRAME_BYTES, compression=None, **tls,
            ) as ws:
                if ws.subprotocol != subprotocol:
                    log.error("the CSMS did not accept subprotocol %s", subprotocol)
                    if security is not None:
                        security.failed(ConnectionError(f"subprotocol {subprotocol} refused"))
                else:
                    log.info("connected to %s (security profile %d)", plan.url, plan.profile)
                    attempt = 0
                    if security is None:
                        await serve(ws)
                    else:
                        security.connected(server_chain(ws))
                        try:
                            deliberate = await _serve_until_reconnect(ws, serve, security)
                        finally:
                            security.disconnected()
        except (OSError, asyncio.TimeoutError, InvalidURI, InvalidHandshake, WebSocketException) as exc:
            log.warning("CSMS connection failed: %s", exc.__class__.__name__ + (f": {exc}" if str(exc) else ""))
            if security is not None:
                security.failed(exc)
        if on_state:
            on_state("disconnected")
        if deliberate:
            continue  # new security settings: connect again at once
        delay = next_delay(attempt, config.ocpp.reconnect_min_s, config.ocpp.reconnect_max_s, rng)
        attempt += 1
        await clock.sleep(delay)


async def _serve_until_reconnect(ws: Any, serve: Callable[[Any], Awaitable[None]],
                                 security: ConnectionSecurity) -> bool:
    """Serve until the link ends (False) or security asks for a new connection (True)."""
    served = asyncio.ensure_future(serve(ws))
    asked = asyncio.ensure_future(security.reconnect.wait())
    try:
        await asyncio.wait({served, asked}, return_when=asyncio.FIRST_COMPLETED)
    finally:
        asked.cancel()
        if not served.done() and not security.reconnect.is_set():
            served.cancel()  # cancelled from outside: take the session down with us
    if served.done():
        await served
        return False
    log.info("reconnecting with new security settings")
    await ws.close(1000, "security settings changed")
    await served
    return True
