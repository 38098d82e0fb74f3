"""Authorizer: the CSMS decides when it can be asked; otherwise whitelist, cache, offline policy."""
from __future__ import annotations

from datetime import timedelta
from pathlib import Path

import pytest

from chargepoint.auth import Authorizer
from chargepoint.link import AuthDecision, CsmsUnavailable
from chargepoint.settings import Settings, core_keys
from chargepoint.store import Store
from chargepoint.timeutil import iso_utc
from hal.clock import ManualClock

WHITELIST = ("TECH-0001",)


class FakeLink:
    """A CsmsLink that answers Authorize from a table, or cannot be asked."""

    def __init__(self, online: bool = True) -> None:
        self.online = online
        self.answers: dict[str, AuthDecision] = {}
        self.unavailable = False
        self.asked: list[str] = []

    async def authorize(self, id_tag: str) -> AuthDecision:
        self.asked.append(id_tag)
        if self.unavailable:
            raise CsmsUnavailable("no answer within 30 s")
        return self.answers.get(id_tag, AuthDecision("Invalid"))

    def status_changed(self, connector_id: int, status: object, error: object) -> None:
        return None

    def outbox_changed(self) -> None:
        return None

    def connection_state(self) -> dict[str, object]:
        return {"state": "connected" if self.online else "disconnected"}


@pytest.fixture
def clock() -> ManualClock:
    return ManualClock()


@pytest.fixture
def store(tmp_path: Path):  # type: ignore[no-untyped-def]
    s = Store(tmp_path / "borne.db")
    yield s
    s.close()


@pytest.fixture
def settings(store: Store) -> Settings:
    return Settings(core_keys(number_of_connectors=1, heartbeat_interval_s=300), store)


@pytest.fixture
def auth(settings: Settings, store: Store, clock: ManualClock) -> Authorizer:
    return Authorizer(WHITELIST, settings, store, clock)


@pytest.fixture
def link() -> FakeLink:
    return FakeLink(online=True)


def later(clock: ManualClock, seconds: float) -> str:
    return iso_utc(clock.now() + timedelta(seconds=seconds))


# --- online --------------------------------------------------------------------------------------


async def test_online_the_csms_decides_and_is_cached(auth: Authorizer, link: FakeLink, store: Store,
                                                     clock: ManualClock) -> None:
    expiry = later(clock, 3600)
    link.answers["CARD-1"] = AuthDecision("Accepted", parent_id_tag="FLEET", expiry=expiry)
    decision = await auth.authorize("CARD-1", link)
    assert decision == AuthDecision("Accepted", "FLEET", expiry, source="csms")
    assert link.asked == ["CARD-1"]
    cached = store.cache_get("CARD-1")
    assert cached is not None
    assert (cached.status, cached.expiry, cached.parent_id_tag) == ("Accepted", expiry, "FLEET")


async def test_online_refusals_are_cached_too(auth: Authorizer, link: FakeLink, store: Store) -> None:
    link.answers["STOLEN"] = AuthDecision("Blocked")
    assert (await auth.authorize("STOLEN", link)).status == "Blocked"
    cached = store.cache_get("STOLEN")
    assert cached is not None and cached.status == "Blocked"


async def test_online_the_csms_overrides_the_cache(auth: Authorizer, link: FakeLink, store: Store) -> None:
    store.cache_put("CARD-1", "Accepted", None, None)
    link.answers["CARD-1"] = AuthDecision("Blocked")
    decision = await auth.authorize("CARD-1", link)
    assert decision.status == "Blocked" and decision.source == "csms"
    cached = store.cache_get("CARD-1")
    assert cached is not None and cached.status == "Blocked"


async def test_nothing_cached_when_the_cache_is_disabled(auth: Authorizer, link: FakeLink, store: Store,
                                                         settings: Settings) -> None:
    settings.change("AuthorizationCacheEnabled", "false")
    link.answers["CARD-1"] = AuthDecision("Accepted")
    assert (await auth.authorize("CARD-1", link)).accepted
    assert store.cache_get("CARD-1") is None
    link.online = False
    assert (await auth.authorize("CARD-1", link)).status == "Invalid"


# --- offline -------------------------------------------------------------------------------------


@pytest.mark.parametrize("tag", ["TECH-0001", "tech-0001", "Tech-0001"])
async def test_offline_whitelist_is_accepted_in_any_case(auth: Authorizer, tag: str) -> None:
    link = FakeLink(online=False)
    decision = await auth.authorize(tag, link)
    assert decision == AuthDecision("Accepted", source="whitelist")
    assert link.asked == []


async def test_offline_cached_accepted_is_used_with_local_authorize_offline(
        auth: Authorizer, store: Store, clock: ManualClock) -> None:
    expiry = later(clock, 60)
    store.cache_put("CARD-1", "Accepted", expiry, "FLEET")
    decision = await auth.authorize("CARD-1", FakeLink(online=False))
    assert decision.accepted and decision.source == "cache"
    assert (decision.parent_id_tag, decision.expiry) == ("FLEET", expiry)


async def test_offline_cached_accepted_is_not_used_without_local_authorize_offline(
        auth: Authorizer, store: Store, settings: Settings) -> None:
    settings.change("LocalAuthorizeOffline", "false")
    store.cache_put("CARD-1", "Accepted", None, None)
    decision = await auth.authorize("CARD-1", FakeLink(online=False))
    assert decision.status == "Invalid"
    # ...even with unknown tags allowed: the tag is known, and offline authorisation is off
    settings.change("AllowOfflineTxForUnknownId", "true")
    assert not (await auth.authorize("CARD-1", FakeLink(online=False))).accepted


async def test_offline_cache_lookup_ignores_case(auth: Authorizer, store: Store, settings: Settings) -> None:
    store.cache_put("ABCDEF01", "Blocked", None, None)
    settings.change("AllowOfflineTxForUnknownId", "true")
    decision = await auth.authorize("abcdef01", FakeLink(online=False))
    assert decision.status == "Blocked"


async def test_offline_expired_cache_entry_is_expired(auth: Authorizer, store: Store, clock: ManualClock) -> None:
    store.cache_put("CARD-1", "Accepted", later(clock, 10), None)
    assert (await auth.authorize("CARD-1", FakeLink(online=False))).accepted
    clock.advance(10)  # expiry == now counts as expired
    decision = await auth.authorize("CARD-1", FakeLink(online=False))
    assert decision.status == "Expired" and decision.source == "cache"


async def test_offline_cached_refusal_stands_even_when_unknown_ids_are_allowed(
        auth: Authorizer, store: Store, settings: Settings) -> None:
    settings.change("AllowOfflineTxForUnknownId", "true")
    store.cache_put("STOLEN", "Blocked", None, None)
    decision = await auth.authorize("STOLEN", FakeLink(online=False))
    assert decision.status == "Blocked" and decision.source == "cache"


async def test_offline_unknown_tag_is_invalid(auth: Authorizer) -> None:
    decision = await auth.authorize("NEVER-SEEN", FakeLink(online=False))
    assert decision == AuthDecision("Invalid", source="offline-policy")


async def test_offline_unknown_tag_allowed_by_policy(auth: Authorizer, settings: Settings) -> None:
    settings.change("AllowOfflineTxForUnknownId", "true")
    decision = await auth.authorize("NEVER-SEEN", FakeLink(online=False))
    assert decision == AuthDecision("Accepted", source="offline-policy")


async def test_offline_decisions_are_not_cached(auth: Authorizer, store: Store, settings: Settings) -> None:
    settings.change("AllowOfflineTxForUnknownId", "true")
    await auth.authorize("NEVER-SEEN", FakeLink(online=False))
    await auth.authorize("TECH-0001", FakeLink(online=False))
    assert store.cache_get("NEVER-SEEN") is None
    assert store.cache_get("TECH-0001") is None


# --- the CSMS cannot be asked after all ------------------------------------------------------


async def test_csms_unavailable_mid_call_falls_back_to_local_rules(
        auth: Authorizer, link: FakeLink, store: Store) -> None:
    link.unavailable = True
    store.cache_put("CARD-1", "Accepted", None, None)
    assert (await auth.authorize("CARD-1", link)).source == "cache"
    assert (await auth.authorize("tech-0001", link)) == AuthDecision("Accepted", source="whitelist")
    assert (await auth.authorize("NEVER-SEEN", link)) == AuthDecision("Invalid", source="offline-policy")
    assert link.asked == ["CARD-1", "tech-0001", "NEVER-SEEN"]  # it was tried each time
    cached = store.cache_get("CARD-1")
    assert cached is not None and cached.status == "Accepted"  # the fallback changed nothing


# --- LocalPreAuthorize ----------------------------------------------------------------------------


async def test_local_pre_authorize_skips_the_csms_for_a_valid_cached_tag(
        auth: Authorizer, link: FakeLink, store: Store, settings: Settings) -> None:
    settings.change("LocalPreAuthorize", "true")
    store.cache_put("CARD-1", "Accepted", None, None)
    link.answers["CARD-1"] = AuthDecision("Blocked")
    decision = await auth.authorize("CARD-1", link)
    assert decision.accepted and decision.source == "cache"
    assert link.asked == []


async def test_local_pre_authorize_asks_for_invalid_or_expired_tags(
        auth: Authorizer, link: FakeLink, store: Store, settings: Settings, clock: ManualClock) -> None:
    settings.change("LocalPreAuthorize", "true")
    store.cache_put("OLD", "Accepted", later(clock, -1), None)
    store.cache_put("STOLEN", "Blocked", None, None)
    link.answers["OLD"] = AuthDecision("Accepted")
    link.answers["STOLEN"] = AuthDecision("Accepted")
    assert (await auth.authorize("OLD", link)).source == "csms"
    assert (await auth.authorize("STOLEN", link)).source == "csms"
    assert (await auth.authorize("NEW", link)).source == "csms"
    assert link.asked == ["OLD", "STOLEN", "NEW"]


async def test_without_local_pre_authorize_the_csms_is_asked(
        auth: Authorizer, link: FakeLink, store: Store) -> None:
    store.cache_put("CARD-1", "Accepted", None, None)
    link.answers["CARD-1"] = AuthDecision("Blocked")
    assert (await auth.authorize("CARD-1", link)).status == "Blocked"
    assert link.asked == ["CARD-1"]
