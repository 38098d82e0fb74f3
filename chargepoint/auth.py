"""Token -> decision. Online the CSMS decides and its answer is cached; offline the technician
whitelist, then the cache, then the offline policy (OCPP 1.6 §3.5)."""
from __future__ import annotations

import logging

from chargepoint.link import AuthDecision, CsmsLink, CsmsUnavailable
from chargepoint.settings import Settings
from chargepoint.store import Store
from chargepoint.timeutil import parse_iso
from hal.clock import Clock

log = logging.getLogger(__name__)


def same_tag(a: str | None, b: str | None) -> bool:
    """OCPP id tags are case-insensitive strings."""
    return a is not None and b is not None and a.casefold() == b.casefold()


class Authorizer:
    def __init__(self, whitelist: tuple[str, ...], settings: Settings, store: Store, clock: Clock) -> None:
        self._whitelist = {t.casefold() for t in whitelist}
        self._settings = settings
        self._store = store
        self._clock = clock

    def whitelisted(self, id_tag: str) -> bool:
        return id_tag.casefold() in self._whitelist

    async def authorize(self, id_tag: str, link: CsmsLink) -> AuthDecision:
        if link.online and not self._local_pre_authorized(id_tag):
            try:
                decision = await link.authorize(id_tag)
            except CsmsUnavailable as exc:
                log.info("authorisation of a tag falls back to local rules: %s", exc)
            else:
                self.remember(id_tag, decision)
                return decision
        return self._offline_decision(id_tag)

    def remember(self, id_tag: str, decision: AuthDecision) -> None:
        """Every idTagInfo the CSMS returns updates the cache (when the cache is enabled)."""
        if decision.source == "csms" and self._settings.get_bool("AuthorizationCacheEnabled"):
            self._store.cache_put(id_tag, decision.status, decision.expiry, decision.parent_id_tag)

    def clear_cache(self) -> None:
        self._store.cache_clear()

    def _local_pre_authorized(self, id_tag: str) -> bool:
        """LocalPreAuthorize: start at once for a locally known, valid tag without asking."""
        if not self._settings.get_bool("LocalPreAuthorize"):
            return False
        cached = self._cached(id_tag)
        return cached is not None and cached.accepted

    def _cached(self, id_tag: str) -> AuthDecision | None:
        if not self._settings.get_bool("AuthorizationCacheEnabled"):
            return None
        entry = self._store.cache_get(id_tag)
        if entry is None:
            return None
        status = entry.status
        if status == "Accepted" and entry.expiry and parse_iso(entry.expiry) <= self._clock.now():
            status = "Expired"
        return AuthDecision(status, entry.parent_id_tag, entry.expiry, source="cache")

    def _offline_decision(self, id_tag: str) -> AuthDecision:
        if self.whitelisted(id_tag):
            return AuthDecision("Accepted", source="whitelist")
        cached = self._cached(id_tag)
        if cached is not None:
            if cached.accepted and not self._settings.get_bool("LocalAuthorizeOffline"):
                return AuthDecision("Invalid", source="offline-policy")
            return cached
        if self._settings.get_bool("AllowOfflineTxForUnknownId"):
            return AuthDecision("Accepted", source="offline-policy")
        return AuthDecision("Invalid", source="offline-policy")
