"""sd_notify without dependencies: READY, STATUS and watchdog keep-alives over NOTIFY_SOCKET."""
from __future__ import annotations

import os
import socket
import time


def notify(message: str) -> bool:
    path = os.environ.get("NOTIFY_SOCKET")
    if not path:
        return False
    address = "\0" + path[1:] if path.startswith("@") else path
    try:
        with socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM | socket.SOCK_CLOEXEC) as sock:
            sock.connect(address)
            sock.sendall(message.encode())
    except OSError:
        return False
    return True


class Watchdog:
    """Feeds systemd's watchdog at half its period; called from the control loop, so a stalled
    control loop (not merely a live event loop) gets the process restarted."""

    def __init__(self) -> None:
        usec = os.environ.get("WATCHDOG_USEC")
        pid = os.environ.get("WATCHDOG_PID")
        enabled = usec is not None and (pid is None or pid == str(os.getpid()))
        self.interval_s = int(usec) / 2e6 if enabled and usec else None
        self._last = 0.0

    def feed(self) -> None:
        if self.interval_s is None:
            return
        now = time.monotonic()
        if now - self._last >= self.interval_s:
            self._last = now
            notify("WATCHDOG=1")
