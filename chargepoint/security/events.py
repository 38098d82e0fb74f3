"""Security events (whitepaper §8, use case A04): each one goes to the security log and into a
durable queue that the OCPP adapter delivers as SecurityEventNotification.req, oldest first,
each until the CSMS acknowledged it (A04.FR.02), across disconnections and restarts.

Other modules report with one call, from the event loop::

    security.events.emit(SecurityEvent.INVALID_FIRMWARE_SIGNATURE, "signature does not verify")

`tech_info` (at most 255 characters, longer text is cut) must never hold a secret."""
from __future__ import annotations

import logging
import sqlite3
from collections.abc import Callable
from enum import Enum

from chargepoint.security.security_log import SecurityLog
from chargepoint.store import Store
from chargepoint.timeutil import iso_utc
from hal.clock import Clock

log = logging.getLogger(__name__)

NOTIFICATION_KIND = "security_event"
# Bounded: a CSMS that never answers cannot make the queue fill the disk; the oldest go first.
MAX_QUEUED = 1000
MAX_TYPE = 50
MAX_TECH_INFO = 255


class SecurityEvent(str, Enum):
    """The whitepaper's names (edition 3 §8); OCPP 2.0.1 renamed some of them."""

    FIRMWARE_UPDATED = "FirmwareUpdated"
    FAILED_TO_AUTHENTICATE_AT_CENTRAL_SYSTEM = "FailedToAuthenticationAtCentralSystem"
    CENTRAL_SYSTEM_FAILED_TO_AUTHENTICATE = "CentralSystemFailedToAuthentication"
    SETTING_SYSTEM_TIME = "SettingSystemTime"
    STARTUP_OF_THE_DEVICE = "StartupOfTheDevice"
    RESET_OR_REBOOT = "ResetOrReboot"
    SECURITY_LOG_WAS_CLEARED = "SecurityLogWasCleared"
    RECONFIGURATION_OF_SECURITY_PARAMETERS = "ReconfigurationOfSecurityParameters"
    MEMORY_EXHAUSTION = "MemoryExhaustion"
    INVALID_MESSAGES = "InvalidMessages"
    ATTEMPTED_REPLAY_ATTACKS = "AttemptedReplayAttacks"
    TAMPER_DETECTION_ACTIVATED = "TamperDetectionActivated"
    INVALID_FIRMWARE_SIGNATURE = "InvalidFirmwareSignature"
    INVALID_FIRMWARE_SIGNING_CERTIFICATE = "InvalidFirmwareSigningCertificate"
    INVALID_CENTRAL_SYSTEM_CERTIFICATE = "InvalidCentralSystemCertificate"
    INVALID_CHARGE_POINT_CERTIFICATE = "InvalidChargePointCertificate"
    INVALID_TLS_VERSION = "InvalidTLSVersion"
    INVALID_TLS_CIPHER_SUITE = "InvalidTLSCipherSuite"


CRITICAL = frozenset({
    SecurityEvent.FIRMWARE_UPDATED, SecurityEvent.SETTING_SYSTEM_TIME, SecurityEvent.STARTUP_OF_THE_DEVICE,
    SecurityEvent.RESET_OR_REBOOT, SecurityEvent.SECURITY_LOG_WAS_CLEARED, SecurityEvent.MEMORY_EXHAUSTION,
    SecurityEvent.TAMPER_DETECTION_ACTIVATED,
})


class SecurityEvents:
    def __init__(self, store: Store, security_log: SecurityLog, clock: Clock) -> None:
        self.store = store
        self.log = security_log
        self.clock = clock
        self._listeners: list[Callable[[], None]] = []
        self._reported: set[str] = set()

    def on_queued(self, listener: Callable[[], None]) -> None:
        """`listener` is called after each queued event (the adapter's sender wakes up)."""
        self._listeners.append(listener)

    def emit(self, event: SecurityEvent | str, tech_info: str | None = None, *,
             once_per_connection: bool = False) -> None:
        """Log and queue one event. Every event is sent, critical or not: the CSMS decides what
        matters. `once_per_connection` reports an event of that type once until the next
        successful connection (a CSMS that stays unreachable is one event, not one per retry)."""
        name = (event.value if isinstance(event, SecurityEvent) else str(event))[:MAX_TYPE]
        if once_per_connection:
            if name in self._reported:
                return
            self._reported.add(name)
        info = tech_info[:MAX_TECH_INFO] if tech_info else None
        at = iso_utc(self.clock.now())
        log.warning("security event %s%s", name, f": {info}" if info else "")
        self.log.append(at, name, info)
        try:
            self.store.notification_enqueue(NOTIFICATION_KIND, {"type": name, "timestamp": at, "tech_info": info},
                                            at, MAX_QUEUED)
        except sqlite3.Error as exc:
            log.error("security event %s not queued for the CSMS: %s", name, exc)
            return
        for listener in self._listeners:
            listener()

    def connection_established(self) -> None:
        self._reported.clear()
