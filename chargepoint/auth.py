"""Token -> decision, in OCPP 1.6's order (§3.5): online the CSMS decides, unless LocalPreAuthorize
lets a locally valid tag start at once; offline the technician whitelist, then the Local
Authorization List, then the Authorization Cache, then the offline policy. The local list wins
over the cache, and a listed or cached tag that is not valid never authorises offline."""
from __future__ import annotations

import logging
from collections.abc import Callable

from chargepoint.link import AuthDecision, CsmsLink, CsmsUnavailable
from chargepoint.local_list import LocalList
from chargepoint.settings import Settings
from chargepoint.store import CachedAuth, Store
from chargepoint.timeutil import parse_iso
from hal.clock import Clock

log = logging.getLogger(__name__)


def same_tag(a: str | None, b: str | None) -> bool:
    """OCPP id tags are case-insensitive strings."""
    return a is not None and b is not None and a.casefold() == b.casefold()


class Authorizer:
    def __init__(self, whitelist: tuple[str, ...], settings: Settings, store: Store, clock: Clock,
                 local_list: LocalList | None = None, whitelist_always: bool = False) -> None:
        self._whitelist = {t.casefold() for t in whitelist}
        self._whitelist_always = whitelist_always
        self._settings = settings
        self._store = store
        self._clock = clock
        self.local_list = local_list or LocalList(store, settings)
        # Called with the tag when the CSMS contradicts the local list (LocalListConflict).
        self.on_conflict: Callable[[str], None] = lambda tag: None

    def whitelisted(self, id_tag: str) -> bool:
        return id_tag.casefold() in self._whitelist

    async def authorize(self, id_tag: str, link: CsmsLink) -> AuthDecision:
        if self._whitelist_always and self.whitelisted(id_tag):
            return AuthDecision("Accepted", source="whitelist")
        if link.online:
            pre = self._local_pre_authorized(id_tag)
            if pre is not None:
                return pre
            try:
                decision = await link.authorize(id_tag)
            except CsmsUnavailable as exc:
                log.info("authorisation falls back to local rules: %s", exc)
            else:
                self.remember(id_tag, decision)
                return decision
        return self._offline_decision(id_tag)

    def remember(self, id_tag: str, decision: AuthDecision) -> None:
        """Every idTagInfo the CSMS returns updates the cache, except for tags on the local list
        (§3.5.3), where a different answer is reported as a conflict instead."""
        if decision.source != "csms":
            return
        listed = self._store.local_list_get(id_tag)
        if listed is not None:
            if listed.status != decision.status:
                log.warning("the CSMS and the local list disagree about a tag (%s vs %s)", decision.status, listed.status)
                self.on_conflict(id_tag)
            return
        if self._settings.get_bool("AuthorizationCacheEnabled"):
            self._store.cache_put(id_tag, decision.status, decision.expiry, decision.parent_id_tag)

    async def parent_of(self, id_tag: str, link: CsmsLink) -> str | None:
        """The tag's group (parentIdTag), for a reservation held by a group: the local list or
        the cache, else the CSMS's Authorize answer (OCPP 1.6 §5.13)."""
        local = self._local(id_tag)
        if local is not None:
            return local.parent_id_tag
        if not link.online:
            return None
        try:
            decision = await link.authorize(id_tag)
        except CsmsUnavailable:
            return None
        self.remember(id_tag, decision)
        return decision.parent_id_tag

    def clear_cache(self) -> None:
        self._store.cache_clear()

    def _valid(self, entry: CachedAuth, source: str) -> AuthDecision:
        status = entry.status
        if status == "Accepted" and entry.expiry and parse_iso(entry.expiry) <= self._clock.now():
            status = "Expired"
        return AuthDecision(status, entry.parent_id_tag, entry.expiry, source=source)

    def _local(self, id_tag: str) -> AuthDecision | None:
        """The local list's word on a tag, else the cache's, else None (unknown)."""
        listed = self.local_list.lookup(id_tag)
        if listed is not None:
            return self._valid(listed, "local-list")
        if self._settings.get_bool("AuthorizationCacheEnabled"):
            cached = self._store.cache_get(id_tag)
            if cached is not None:
                return self._valid(cached, "cache")
        return None

    def _local_pre_authorized(self, id_tag: str) -> AuthDecision | None:
        """LocalPreAuthorize: a locally valid tag starts at once, without asking the CSMS."""
        if not self._settings.get_bool("LocalPreAuthorize"):
            return None
        local = self._local(id_tag)
        return local if local is not None and local.accepted else None

    def _offline_decision(self, id_tag: str) -> AuthDecision:
        if self.whitelisted(id_tag):
            return AuthDecision("Accepted", source="whitelist")
        local = self._local(id_tag)
        if local is not None:
            if local.accepted and not self._settings.get_bool("LocalAuthorizeOffline"):
                return AuthDecision("Invalid", source="offline-policy")
            return local
        if self._settings.get_bool("AllowOfflineTxForUnknownId"):
            return AuthDecision("Accepted", source="offline-policy")
        return AuthDecision("Invalid", source="offline-policy")
