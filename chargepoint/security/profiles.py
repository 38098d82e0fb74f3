"""The SecurityProfile configuration key (use case A05): it can only be raised, a raise is
tried before it is kept, and a profile that cannot connect gives way to the one that could.

- ChangeConfiguration to a value not above the current one is Rejected (A05.FR.01, A00.FR.005),
  as is one whose prerequisites are missing (A05.FR.02-04) or one asked while a raise is on trial.
- An accepted raise reconnects with the new profile (A05.FR.06, A05.FR.07). It is persisted only
  once a connection with it opened; after SWITCH_ATTEMPTS failed attempts the previous profile is
  used again (A05.FR.08) and a ReconfigurationOfSecurityParameters event says so.
- `[ocpp] security_profile` is where the profile starts. A raised profile is remembered together
  with the file's value it was raised from: an installer who edits the file, to lower the profile
  for instance, is obeyed (lowering is done "through another method, not via OCPP")."""
from __future__ import annotations

import logging
from collections.abc import Callable

from chargepoint.security.events import SecurityEvent, SecurityEvents
from chargepoint.settings import ChangeResult
from chargepoint.store import Store

log = logging.getLogger(__name__)

SWITCH_ATTEMPTS = 3
SETTING = "SecurityProfile"
RAISED_FROM = "borne.SecurityProfile.raised_from"  # the file's value a persisted raise started from

Prerequisite = Callable[[int], str | None]  # the missing prerequisite for a profile, or None


class SecurityProfiles:
    def __init__(self, configured: int, store: Store, events: SecurityEvents, missing: Prerequisite,
                 reconnect: Callable[[], None]) -> None:
        self.configured = configured
        self.store = store
        self.events = events
        self.missing = missing
        self.reconnect = reconnect
        saved = store.load_settings()
        persisted = saved.get(SETTING, "")
        raised = persisted.isdigit() and saved.get(RAISED_FROM) == str(configured) and int(persisted) > configured
        self.working = int(persisted) if raised else configured
        self.current = self.working
        self.failed_attempts = 0

    @property
    def on_trial(self) -> bool:
        return self.current != self.working

    def read(self) -> str:
        """The profile the charge point connects with (the new one while it is being tried)."""
        return str(self.current)

    def change(self, value: str) -> ChangeResult:
        try:
            wanted = int(value.strip())
        except ValueError:
            return ChangeResult.REJECTED
        if not 0 <= wanted <= 3 or wanted <= self.current or self.on_trial:
            log.warning("SecurityProfile %s refused: only a raise above %d is possible", value.strip()[:8],
                        self.current)
            return ChangeResult.REJECTED
        missing = self.missing(wanted)
        if missing is not None:
            log.warning("SecurityProfile %d refused: %s", wanted, missing)
            return ChangeResult.REJECTED
        log.info("SecurityProfile %d accepted; reconnecting to try it", wanted)
        self.current = wanted
        self.failed_attempts = 0
        self.reconnect()
        return ChangeResult.ACCEPTED

    def connected(self) -> None:
        """A connection with the current profile opened: a raise on trial is kept."""
        if not self.on_trial:
            return
        previous, self.working = self.working, self.current
        self.store.save_setting(SETTING, str(self.working))
        self.store.save_setting(RAISED_FROM, str(self.configured))
        self.events.emit(SecurityEvent.RECONFIGURATION_OF_SECURITY_PARAMETERS,
                         f"SecurityProfile changed from {previous} to {self.working}")

    def failed(self) -> None:
        """A connection attempt with the current profile failed."""
        if not self.on_trial:
            return
        self.failed_attempts += 1
        if self.failed_attempts < SWITCH_ATTEMPTS:
            return
        tried, self.current = self.current, self.working
        log.error("SecurityProfile %d could not connect in %d attempts; back to %d", tried, self.failed_attempts,
                  self.working)
        self.events.emit(SecurityEvent.RECONFIGURATION_OF_SECURITY_PARAMETERS,
                         f"SecurityProfile {tried} could not connect in {self.failed_attempts} attempts; "
                         f"back to {self.working}")
        self.failed_attempts = 0
