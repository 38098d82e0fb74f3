"""WebSocketPingInterval on an open connection. `keep_connected` gives each new connection the
current value; a ChangeConfiguration answered Accepted must also apply to the one in use, and
websockets reads its interval only between pings, so its keepalive task is restarted."""
from __future__ import annotations

from typing import Any


def apply_ping_interval(ws: Any, seconds: int) -> None:
    """Ping every `seconds` from now on; 0 stops client pings (the CSMS may still ping)."""
    task = getattr(ws, "keepalive_task", None)
    if task is not None:
        task.cancel()
    ws.ping_interval = seconds or None
    if seconds and hasattr(ws, "start_keepalive"):
        ws.start_keepalive()
