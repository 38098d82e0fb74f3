"""The Local Authorization List: full and differential updates with versions, limits, and its
place in the authorisation order (before the cache, never copied into it)."""
from __future__ import annotations

from datetime import datetime, timezone
from pathlib import Path

import pytest

from chargepoint.auth import Authorizer
from chargepoint.link import AuthDecision, CsmsUnavailable
from chargepoint.local_list import ListEntry, LocalList, entries_from_ocpp
from chargepoint.settings import Settings, core_keys
from chargepoint.store import Store
from hal.clock import ManualClock


class Link:
    def __init__(self, online: bool, answer: str = "Accepted") -> None:
        self.online = online
        self.answer = answer
        self.asked: list[str] = []

    async def authorize(self, id_tag: str) -> AuthDecision:
        if not self.online:
            raise CsmsUnavailable("offline")
        self.asked.append(id_tag)
        return AuthDecision(self.answer)


@pytest.fixture
def parts(tmp_path: Path):
    store = Store(tmp_path / "db.sqlite")
    settings = Settings(core_keys(1, 300), store)
    clock = ManualClock(datetime(2026, 6, 1, tzinfo=timezone.utc))
    auth = Authorizer(("TECH-1",), settings, store, clock)
    yield store, settings, auth
    store.close()


def entries(n: int, status: str = "Accepted", prefix: str = "T") -> list[ListEntry]:
    return [ListEntry(f"{prefix}{i:05d}", status) for i in range(n)]


def test_full_update_replaces_and_sets_the_version(parts) -> None:
    store, settings, auth = parts
    ll = auth.local_list
    assert ll.version() == 0
    assert ll.update(3, True, entries(5)) == "Accepted"
    assert ll.version() == 3
    assert ll.update(4, True, [ListEntry("OTHER", "Blocked")]) == "Accepted"
    assert ll.version() == 4
    assert ll.lookup("T00001") is None
    assert ll.lookup("other").status == "Blocked"  # case-insensitive


def test_empty_full_update_clears_the_list_to_version_zero(parts) -> None:
    _, _, auth = parts
    auth.local_list.update(7, True, entries(3))
    assert auth.local_list.update(8, True, []) == "Accepted"
    assert auth.local_list.version() == 0


def test_differential_adds_updates_removes_and_checks_the_version(parts) -> None:
    _, _, auth = parts
    ll = auth.local_list
    ll.update(10, True, entries(3))
    assert ll.update(10, False, [ListEntry("NEW", "Accepted")]) == "VersionMismatch"
    assert ll.update(9, False, [ListEntry("NEW", "Accepted")]) == "VersionMismatch"
    assert ll.lookup("NEW") is None
    change = [ListEntry("NEW", "Accepted"), ListEntry("T00000", "Blocked"), ListEntry("T00001", None)]
    assert ll.update(11, False, change) == "Accepted"
    assert ll.version() == 11
    assert ll.lookup("NEW").status == "Accepted"
    assert ll.lookup("T00000").status == "Blocked"
    assert ll.lookup("T00001") is None


def test_oversized_updates_fail_and_change_nothing(parts, monkeypatch) -> None:
    store, settings, auth = parts
    ll = auth.local_list
    ll.update(1, True, entries(10))
    too_many = settings.get_int("SendLocalListMaxLength") + 1
    assert ll.update(2, True, entries(too_many)) == "Failed"
    assert ll.version() == 1 and store.local_list_count() == 10
    # A differential within the per-message limit that would overflow the whole list.
    limit = settings.get_int("LocalAuthListMaxLength")
    ll.update(3, True, entries(limit - 5, prefix="A"))
    assert ll.update(4, False, entries(10, prefix="B")) == "Failed"
    assert ll.version() == 3 and store.local_list_count() == limit - 5


def test_ten_thousand_entries_are_stored_and_used(parts) -> None:
    import asyncio

    store, _, auth = parts
    assert auth.local_list.update(1, True, entries(10_000)) == "Accepted"
    assert store.local_list_count() == 10_000
    decision = asyncio.run(auth.authorize("T09999", Link(online=False)))
    assert decision.accepted and decision.source == "local-list"


async def test_offline_the_list_wins_over_the_cache(parts) -> None:
    store, _, auth = parts
    store.cache_put("CARD", "Accepted", None, None)
    auth.local_list.update(1, True, [ListEntry("CARD", "Blocked")])
    decision = await auth.authorize("CARD", Link(online=False))
    assert decision.status == "Blocked" and decision.source == "local-list"


@pytest.mark.parametrize("status", ["Blocked", "Expired", "Invalid"])
async def test_offline_non_accepted_list_entries_never_authorise(parts, status) -> None:
    _, settings, auth = parts
    settings.change("AllowOfflineTxForUnknownId", "true")
    auth.local_list.update(1, True, [ListEntry("CARD", status)])
    assert not (await auth.authorize("CARD", Link(online=False))).accepted


async def test_expired_entry_is_reported_expired(parts) -> None:
    _, _, auth = parts
    auth.local_list.update(1, True, [ListEntry("CARD", "Accepted", expiry="2026-05-31T23:59:59Z")])
    decision = await auth.authorize("CARD", Link(online=False))
    assert decision.status == "Expired"


async def test_local_pre_authorize_starts_a_listed_tag_without_asking(parts) -> None:
    _, settings, auth = parts
    settings.change("LocalPreAuthorize", "true")
    auth.local_list.update(1, True, [ListEntry("CARD", "Accepted")])
    link = Link(online=True, answer="Invalid")
    decision = await auth.authorize("CARD", link)
    assert decision.accepted and link.asked == []


async def test_listed_tags_are_not_cached_and_conflicts_are_reported(parts) -> None:
    store, _, auth = parts
    conflicts: list[str] = []
    auth.on_conflict = conflicts.append
    auth.local_list.update(1, True, [ListEntry("CARD", "Accepted")])
    decision = await auth.authorize("CARD", Link(online=True, answer="Blocked"))
    assert decision.status == "Blocked"  # online, the CSMS decides
    assert store.cache_get("CARD") is None
    assert conflicts == ["CARD"]


async def test_disabled_list_is_not_consulted(parts) -> None:
    _, settings, auth = parts
    auth.local_list.update(1, True, [ListEntry("CARD", "Accepted")])
    settings.change("LocalAuthListEnabled", "false")
    assert not (await auth.authorize("CARD", Link(online=False))).accepted


async def test_whitelist_always_skips_the_csms(parts, tmp_path) -> None:
    store, settings, _ = parts
    auth = Authorizer(("TECH-1",), settings, store, ManualClock(), whitelist_always=True)
    link = Link(online=True, answer="Invalid")
    assert (await auth.authorize("tech-1", link)).accepted and link.asked == []


def test_entries_from_ocpp_reads_snake_and_camel_case() -> None:
    got = entries_from_ocpp([
        {"id_tag": "A", "id_tag_info": {"status": "Accepted", "expiry_date": "2027-01-01T00:00:00Z"}},
        {"idTag": "B", "idTagInfo": {"status": "Blocked", "parentIdTag": "P"}},
        {"id_tag": "C"},
    ])
    assert got == [ListEntry("A", "Accepted", "2027-01-01T00:00:00Z"), ListEntry("B", "Blocked", None, "P"),
                   ListEntry("C", None)]


def test_list_survives_a_restart(tmp_path: Path) -> None:
    store = Store(tmp_path / "db.sqlite")
    settings = Settings(core_keys(1, 300), store)
    LocalList(store, settings).update(5, True, [ListEntry("CARD", "Accepted")])
    store.close()
    store = Store(tmp_path / "db.sqlite")
    ll = LocalList(store, Settings(core_keys(1, 300), store))
    assert ll.version() == 5 and ll.lookup("CARD").status == "Accepted"
    store.close()


def test_after_a_differential_empties_the_list_any_newer_version_is_accepted(parts) -> None:
    _, _, auth = parts
    ll = auth.local_list
    ll.update(10, True, [ListEntry("ONLY", "Accepted")])
    assert ll.update(11, False, [ListEntry("ONLY", None)]) == "Accepted"
    assert ll.version() == 0  # what GetLocalListVersion reports for an empty list
    assert ll.update(1, False, [ListEntry("NEW", "Accepted")]) == "Accepted"
    assert ll.version() == 1
