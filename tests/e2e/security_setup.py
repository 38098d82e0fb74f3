"""End-to-end set-ups for the security profiles: CSMSs with or without TLS and Basic auth, a
test PKI made per test, and the controller process pointed at them."""
from __future__ import annotations

import base64
import ssl
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

from csms import Payload, TestCsms
from e2e_harness import TAGS, WAIT, E2E, ChargePointProcess, write_config
from security_pki import Issued, TestCa, server_context

KEY = "00112233445566778899aabbccddeeff"
NEW_KEY = "f00dfacef00dfacef00dfacef00dfacef00dface"


def basic_credentials(headers: Any) -> str:
    """`user:password` of a Basic Authorization header."""
    scheme, _, token = headers["Authorization"].partition(" ")
    assert scheme == "Basic"
    return base64.b64decode(token).decode()


def security_events(csms: TestCsms, since: int = 0) -> list[Payload]:
    return [r.payload for r in csms.received[since:] if r.action == "SecurityEventNotification"]


@dataclass
class SecureSite:
    """The CA every trusted certificate comes from, the CSMSs started, the controller."""

    directory: Path
    socket_dir: Path
    ca: TestCa = field(default_factory=TestCa)
    servers: list[TestCsms] = field(default_factory=list)
    cp: ChargePointProcess | None = None

    def tls(self, issued: Issued | None = None, client_ca: TestCa | None = None) -> ssl.SSLContext:
        """A CSMS TLS context: by default a certificate from the site CA for the loopback address."""
        return server_context(issued or self.ca.server("127.0.0.1", "localhost"), self.directory, client_ca)

    async def csms(self, tls: ssl.SSLContext | None = None, credentials: dict[str, str] | None = None) -> TestCsms:
        server = TestCsms(tags=TAGS, basic_auth_credentials=credentials, ssl_context=tls)
        await server.start()
        self.servers.append(server)
        return server

    def write_password(self, key: str = KEY) -> Path:
        path = self.directory / "password"
        path.write_text(key + "\n")
        path.chmod(0o600)
        return path

    def ca_file(self) -> Path:
        return self.ca.write(self.directory / "csms-root.pem")

    def configure(self, csms: TestCsms, **ocpp: Any) -> Path:
        return write_config(self.directory / "firmware.toml", csms.url, self.directory / "borne.db",
                            self.socket_dir / "s.sock", {"ocpp": {k: str(v) if isinstance(v, Path) else v
                                                                  for k, v in ocpp.items()}})

    async def start(self, csms: TestCsms, **ocpp: Any) -> E2E:
        """Write the configuration and start the controller (not waiting for anything)."""
        config = self.configure(csms, **ocpp)
        if self.cp is None:
            self.cp = ChargePointProcess(config, self.directory / "controller.log")
        await self.cp.start()
        return E2E(csms, self.cp)

    async def restart(self, csms: TestCsms) -> E2E:
        assert self.cp is not None
        await self.cp.stop()
        self.cp.proc = None
        await self.cp.start()
        return E2E(csms, self.cp)

    def log(self) -> str:
        return self.cp.log() if self.cp is not None else ""


async def booted(e2e: E2E) -> None:
    await e2e.unless_exited(e2e.csms.wait_connected(timeout=WAIT), "the controller to connect")
    await e2e.unless_exited(e2e.csms.wait_for("BootNotification", timeout=WAIT), "BootNotification")
    await e2e.wait_status(1, "Available")


@pytest.fixture
async def site(tmp_path: Path, short_dir: Path) -> AsyncIterator[SecureSite]:
    secure = SecureSite(tmp_path, short_dir)
    try:
        yield secure
    finally:
        if secure.cp is not None:
            await secure.cp.stop()
        for server in secure.servers:
            await server.stop()
