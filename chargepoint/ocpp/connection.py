"""Keeps a WebSocket to the CSMS open: connects, negotiates the subprotocol, authenticates,
detects dead links by ping, and reconnects with exponential back-off and full jitter."""
from __future__ import annotations

import asyncio
import base64
import logging
import random
from collections.abc import Awaitable, Callable
from typing import Any

from websockets.asyncio.client import connect
from websockets.exceptions import InvalidHandshake, InvalidURI, WebSocketException

from chargepoint.config import Config
from hal.clock import Clock

log = logging.getLogger(__name__)
MAX_FRAME_BYTES = 1 << 20


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


async def keep_connected(config: Config, clock: Clock, serve: Callable[[Any], Awaitable[None]],
                         subprotocol: str = "ocpp1.6", rng: random.Random | None = None,
                         on_state: Callable[[str], None] | None = None,
                         ping_interval_s: Callable[[], float] | None = None) -> None:
    """`ping_interval_s` is read at every connection, so a changed WebSocketPingInterval applies
    from the next one on (0 turns pings off)."""
    rng = rng or random.Random()
    url = endpoint(config)
    headers = auth_headers(config)
    attempt = 0
    while True:
        ping = (ping_interval_s() if ping_interval_s else config.ocpp.ping_interval_s) or None
        if on_state:
            on_state("connecting")
        try:
            async with connect(
                url, subprotocols=[subprotocol], additional_headers=headers, ping_interval=ping,
                ping_timeout=config.ocpp.ping_timeout_s, open_timeout=config.ocpp.response_timeout_s,
                max_size=MAX_FRAME_BYTES, compression=None,
            ) as ws:
                if ws.subprotocol != subprotocol:
                    log.error("the CSMS did not accept subprotocol %s", subprotocol)
                else:
                    log.info("connected to %s", url)
                    attempt = 0
                    await serve(ws)
        except (OSError, asyncio.TimeoutError, InvalidURI, InvalidHandshake, WebSocketException) as exc:
            log.warning("CSMS connection failed: %s", exc.__class__.__name__ + (f": {exc}" if str(exc) else ""))
        if on_state:
            on_state("disconnected")
        delay = next_delay(attempt, config.ocpp.reconnect_min_s, config.ocpp.reconnect_max_s, rng)
        attempt += 1
        await clock.sleep(delay)
