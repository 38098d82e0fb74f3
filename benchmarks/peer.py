"""The other end of every network benchmark, in its own process (as a real CSMS would be): the
bundled DemoCsms and a raw WebSocket echo server on loopback.

Prints one JSON line with both URLs, then one line {"boot": t} per BootNotification received,
with t = time.monotonic() (CLOCK_MONOTONIC: the same clock in every process on Linux). Exits
when its standard input closes."""
from __future__ import annotations

import argparse
import asyncio
import json
import logging
import sys
import time
from typing import Any

from websockets.asyncio.server import ServerConnection, serve
from websockets.exceptions import ConnectionClosed

from chargepoint.ocpp.v16.demo_csms import CP_TO_CSMS, DemoCsms


def _on_event(direction: str, action: str, payload: dict[str, Any]) -> None:
    if direction == CP_TO_CSMS and action == "BootNotification" and "chargePointVendor" in payload:
        print(json.dumps({"boot": time.monotonic()}), flush=True)


async def _echo(ws: ServerConnection) -> None:
    try:
        async for message in ws:
            await ws.send(message)
    except ConnectionClosed:
        pass


async def main(heartbeat_s: int) -> None:
    csms = DemoCsms(host="127.0.0.1", port=0, on_event=_on_event, heartbeat_interval=heartbeat_s)
    await csms.start()
    echo = await serve(_echo, "127.0.0.1", 0, compression=None, max_size=1 << 20, ping_interval=None)
    port = echo.sockets[0].getsockname()[1]
    print(json.dumps({"csms": csms.url, "echo": f"ws://127.0.0.1:{port}"}), flush=True)
    loop = asyncio.get_running_loop()
    await loop.run_in_executor(None, sys.stdin.read)  # until the parent closes our stdin
    echo.close()
    await csms.stop()


if __name__ == "__main__":
    parser = argparse.ArgumentParser()
    parser.add_argument("--heartbeat", type=int, default=60)
    args = parser.parse_args()
    logging.basicConfig(level=logging.ERROR)
    asyncio.run(main(args.heartbeat))
