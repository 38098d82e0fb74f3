"""The Local Authorization List (OCPP 1.6 §3.5.2, §5.15): changed only by the CSMS, persisted,
consulted before the cache. Updates are all-or-nothing."""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from chargepoint.settings import Settings
from chargepoint.store import CachedAuth, Store, _TooLarge


@dataclass(frozen=True)
class ListEntry:
    id_tag: str
    status: str | None  # None in a differential update = remove the entry
    expiry: str | None = None
    parent_id_tag: str | None = None


class LocalList:
    def __init__(self, store: Store, settings: Settings) -> None:
        self._store = store
        self._settings = settings

    @property
    def enabled(self) -> bool:
        return self._settings.get_bool("LocalAuthListEnabled")

    def version(self) -> int:
        """0 means there is no list (none received yet, or cleared by an empty Full update)."""
        return self._store.local_list_version() if self._store.local_list_count() else 0

    def lookup(self, id_tag: str) -> CachedAuth | None:
        return self._store.local_list_get(id_tag) if self.enabled else None

    def contains(self, id_tag: str) -> bool:
        return self._store.local_list_get(id_tag) is not None

    def update(self, version: int, full: bool, entries: list[ListEntry]) -> str:
        """Apply SendLocalList; the answer is an UpdateStatus (Accepted, Failed, VersionMismatch)."""
        if len(entries) > self._settings.get_int("SendLocalListMaxLength"):
            return "Failed"
        if not full and version <= self.version():  # the version the CSMS was told
            return "VersionMismatch"
        upserts = [CachedAuth(e.id_tag, e.status, e.expiry, e.parent_id_tag) for e in entries if e.status]
        deletes = [] if full else [e.id_tag for e in entries if not e.status]
        if full and any(not e.status for e in entries):
            return "Failed"  # a full list gives every identifier its status
        try:
            self._store.local_list_update(version if upserts or not full else 0, full, upserts, deletes,
                                          self._settings.get_int("LocalAuthListMaxLength"))
        except _TooLarge:
            return "Failed"
        return "Accepted"


def entries_from_ocpp(items: list[dict[str, Any]] | None) -> list[ListEntry]:
    out = []
    for item in items or []:
        info = item.get("id_tag_info") or item.get("idTagInfo")
        tag = item.get("id_tag") or item.get("idTag")
        if info:
            out.append(ListEntry(tag, info.get("status"), info.get("expiry_date") or info.get("expiryDate"),
                                 info.get("parent_id_tag") or info.get("parentIdTag")))
        else:
            out.append(ListEntry(tag, None))
    return out
