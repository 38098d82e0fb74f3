"""What the charging core needs from a CSMS connection, whatever the protocol version.
The OCPP adapters implement it; the core never sees a message."""
from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol

from chargepoint.status import ConnectorStatus, StatusError


@dataclass(frozen=True)
class AuthDecision:
    status: str  # Accepted | Blocked | Expired | Invalid | ConcurrentTx
    parent_id_tag: str | None = None
    expiry: str | None = None  # ISO 8601 UTC
    source: str = "csms"  # csms | local-list | cache | whitelist | offline-policy | remote-start

    @property
    def accepted(self) -> bool:
        return self.status == "Accepted"


class CsmsUnavailable(Exception):
    """The CSMS could not be asked (offline, not yet accepted, or no answer in time)."""


class CsmsLink(Protocol):
    @property
    def online(self) -> bool:
        """Connected and accepted by the CSMS: requests can be made now."""

    async def authorize(self, id_tag: str) -> AuthDecision:
        """Ask the CSMS; raises CsmsUnavailable when it cannot be asked."""

    def status_changed(self, connector_id: int, status: ConnectorStatus, error: StatusError | None) -> None:
        """Report a connector's status (connector 0 is the charge point); must not block."""

    def outbox_changed(self) -> None:
        """New transaction messages are in the store: send them when possible."""

    def connection_state(self) -> dict[str, object]:
        """For status displays: state, since when, and what the CSMS said."""


class NoLink:
    """A link that is never online (used before the adapter is wired, and in unit tests)."""

    online = False

    async def authorize(self, id_tag: str) -> AuthDecision:
        raise CsmsUnavailable("no CSMS link")

    def status_changed(self, connector_id: int, status: ConnectorStatus, error: StatusError | None) -> None:
        return None

    def outbox_changed(self) -> None:
        return None

    def connection_state(self) -> dict[str, object]:
        return {"state": "disconnected"}
