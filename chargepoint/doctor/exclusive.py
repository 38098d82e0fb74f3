"""The doctor and the controller must not drive the same outputs at once.

A running controller serves its admin socket (and, on the simulated board, the simulator's
control socket): if one of them answers a connection, the doctor refuses to start. While it runs,
the doctor holds the admin socket itself, so a controller started meanwhile stops at once
("another process is already serving ...") and `chargepoint status` says what is going on."""
from __future__ import annotations

import asyncio
import logging
from pathlib import Path
from typing import TYPE_CHECKING, Any

from hal.jsonl_socket import JsonLineServer, SocketSetupError, error

if TYPE_CHECKING:
    from chargepoint.config import Config

log = logging.getLogger(__name__)

PROBE_TIMEOUT_S = 1.0
BUSY_MESSAGE = "chargepoint doctor is exercising the hardware; the controller is not running"


class ControllerRunning(RuntimeError):
    """A controller serves one of this configuration's sockets."""


def controller_sockets(config: Config) -> list[Path]:
    paths = [config.storage.admin_socket] if config.storage.admin_socket is not None else []
    if config.sim is not None:
        paths.append(config.sim.control_socket)
    return [Path(p) for p in paths]


async def _answers(path: Path) -> bool:
    try:
        async with asyncio.timeout(PROBE_TIMEOUT_S):
            _, writer = await asyncio.open_unix_connection(str(path))
    except (OSError, TimeoutError):
        return False
    writer.close()
    return True


async def serving_socket(config: Config) -> Path | None:
    """The first of the controller's sockets someone serves, or None."""
    for path in controller_sockets(config):
        if path.exists() and await _answers(path):
            return path
    return None


class AdminSocketHold:
    """Serves the admin socket for the doctor's lifetime, answering every request with an error
    that says the doctor is running."""

    def __init__(self, path: Path | None, *, required: bool = True) -> None:
        self.path = path
        self.required = required  # False (--force): carry on when someone else serves it
        self._server: JsonLineServer | None = None

    async def __aenter__(self) -> AdminSocketHold:
        if self.path is None:
            return self
        server = JsonLineServer(self.path, self._answer, "doctor")
        try:
            await server.start()
        except SocketSetupError as exc:
            if "already serving" in str(exc) and self.required:
                raise ControllerRunning(f"a controller serves {self.path}") from exc
            log.warning("doctor: not holding the admin socket (%s)", exc)
            return self
        except OSError as exc:  # e.g. a technician's account may not write the socket's directory
            log.warning("doctor: cannot hold the admin socket %s: %s", self.path, exc)
            return self
        self._server = server
        return self

    async def __aexit__(self, *exc: object) -> None:
        if self._server is not None:
            await self._server.stop()
            self._server = None

    @staticmethod
    async def _answer(request: Any) -> dict[str, Any]:
        return error(BUSY_MESSAGE)
