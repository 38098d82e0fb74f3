"""The Local Authorization List over OCPP 1.6J end to end: SendLocalList (Full and Differential)
with versions, GetLocalListVersion, its use offline and with LocalPreAuthorize, its precedence
over the Authorization Cache, ClearCache, a 10,000-entry list, and LocalListConflict."""
from __future__ import annotations

import pytest
from ocpp.v16 import call

from e2e_harness import TAGS, WAIT, E2E, eventually
from offline_helpers import (
    come_online, entry, get_configuration, go_offline, local_list_version, send_local_list,
    tag_starts_session, wait_ended, wait_queue_empty,
)

pytestmark = pytest.mark.timeout(90)

SENTINEL = "TECH-0001"  # the default technician whitelist: always accepted offline


@pytest.mark.csms(tags={**TAGS, "ANNA": "Accepted", "anna": "Accepted", "BERT": "Accepted",
                        "CARL": "Accepted", "DORA": "Accepted", SENTINEL: "Accepted"})
async def test_full_then_differential_with_versions(ready: E2E) -> None:
    e2e, csms = ready, ready.csms
    assert await local_list_version(csms) == 0

    full = [entry("ANNA", "Accepted"), entry("BERT", "Accepted"), entry("CARL", "Accepted"),
            entry("EXPIRED", "Expired"), entry("PAST", "Accepted", expiry="2020-01-01T00:00:00Z")]
    assert await send_local_list(csms, 5, "Full", full) == "Accepted"
    assert await local_list_version(csms) == 5

    # Differential v6: add DORA, update BERT to Blocked, remove CARL (no idTagInfo).
    diff = [entry("DORA", "Accepted"), entry("BERT", "Blocked"), entry("CARL", None)]
    assert await send_local_list(csms, 6, "Differential", diff) == "Accepted"
    assert await local_list_version(csms) == 6

    # An older or equal version is a VersionMismatch and changes nothing.
    undo = [entry("DORA", None), entry("BERT", "Accepted"), entry("CARL", "Accepted"), entry("ANNA", "Blocked")]
    assert await send_local_list(csms, 6, "Differential", undo) == "VersionMismatch"
    assert await send_local_list(csms, 3, "Differential", undo) == "VersionMismatch"
    assert await local_list_version(csms) == 6

    # Offline, the list decides: the Authorize answers given while online never came into play
    # (no tag was presented), so nothing is cached that could blur this.
    assert "Authorize" not in e2e.actions()
    await go_offline(e2e)
    assert await tag_starts_session(e2e, "ANNA", SENTINEL)       # listed by the Full update
    assert await tag_starts_session(e2e, "DORA", SENTINEL)       # added by the Differential
    assert not await tag_starts_session(e2e, "BERT", SENTINEL)   # updated to Blocked
    assert not await tag_starts_session(e2e, "CARL", SENTINEL)   # removed
    assert not await tag_starts_session(e2e, "NEVER-LISTED", SENTINEL)
    assert not await tag_starts_session(e2e, "EXPIRED", SENTINEL)     # listed as Expired
    assert not await tag_starts_session(e2e, "PAST", SENTINEL)        # Accepted, but expired
    assert await tag_starts_session(e2e, "anna", SENTINEL)            # idTags ignore case

    # The offline sessions are replayed and the list survived it all.
    mark = await come_online(e2e)
    await eventually(lambda: len(csms.messages("StopTransaction")) >= 8, what="the offline sessions")
    await wait_queue_empty(e2e)
    assert [p["idTag"] for p in csms.messages("StartTransaction")] == \
        ["ANNA", "DORA", SENTINEL, SENTINEL, SENTINEL, SENTINEL, SENTINEL, "anna"]
    assert "Authorize" not in e2e.actions(mark)
    assert await local_list_version(csms) == 6
    # A Full update replaces everything; an empty Full update clears the list (version 0).
    assert await send_local_list(csms, 7, "Full", [entry("CARL", "Accepted")]) == "Accepted"
    assert await local_list_version(csms) == 7
    assert await send_local_list(csms, 8, "Full", []) == "Accepted"
    assert await local_list_version(csms) == 0


@pytest.mark.csms(tags={**TAGS, "PRE-OK": "Accepted"})
async def test_local_pre_authorize_skips_authorize_for_listed_tag(ready: E2E) -> None:
    e2e, csms = ready, ready.csms
    assert await send_local_list(csms, 1, "Full", [entry("PRE-OK", "Accepted")]) == "Accepted"
    assert await e2e.change_configuration("LocalPreAuthorize", "true") == "Accepted"
    mark = csms.mark()
    tx_id, start = await e2e.start_transaction("PRE-OK")
    assert start["idTag"] == "PRE-OK"
    assert "Authorize" not in e2e.actions(mark)
    stop_mark = csms.mark()
    await e2e.sim_ok("tap", "PRE-OK")
    stop = await csms.wait_for("StopTransaction", timeout=WAIT, since=stop_mark)
    assert stop.payload["transactionId"] == tx_id
    await e2e.sim_ok("unplug", 1)
    await e2e.wait_status(1, "Available", since=stop_mark)
    # A tag that is not listed is still asked for.
    other_mark = csms.mark()
    await e2e.start_transaction("TAG-OK")
    assert [r.payload for r in csms.received[other_mark:] if r.action == "Authorize"] == [{"idTag": "TAG-OK"}]


@pytest.mark.csms(tags={**TAGS, "CACHED": "Accepted", "SHADOWED": "Accepted", SENTINEL: "Accepted"})
async def test_cache_list_precedence_and_clear_cache(ready: E2E) -> None:
    e2e, csms = ready, ready.csms
    assert await e2e.change_configuration("ConnectionTimeOut", "10") == "Accepted"  # 1 s real
    # Online taps put CACHED and SHADOWED in the Authorization Cache (Accepted).
    for tag in ("CACHED", "SHADOWED"):
        mark = csms.mark()
        await e2e.sim_ok("tap", tag)
        auth = await csms.wait_for("Authorize", timeout=WAIT, since=mark)
        assert auth.payload == {"idTag": tag}
        await e2e.wait_status(1, "Preparing", since=mark)
        await e2e.wait_status(1, "Available", since=mark)  # no cable within ConnectionTimeOut
    # The list then says SHADOWED is Blocked: the list wins over the cache.
    assert await send_local_list(csms, 1, "Full", [entry("SHADOWED", "Blocked")]) == "Accepted"

    await go_offline(e2e)
    assert await tag_starts_session(e2e, "CACHED", SENTINEL)
    assert not await tag_starts_session(e2e, "SHADOWED", SENTINEL)
    await come_online(e2e)
    await eventually(lambda: len(csms.messages("StopTransaction")) >= 2, what="the offline sessions")
    await wait_queue_empty(e2e)

    assert (await csms.call(call.ClearCache(), timeout=WAIT)).status == "Accepted"
    await go_offline(e2e)
    assert not await tag_starts_session(e2e, "CACHED", SENTINEL)
    # ClearCache leaves the local list alone.
    assert not await tag_starts_session(e2e, "SHADOWED", SENTINEL)
    await come_online(e2e)
    assert await local_list_version(csms) == 1


@pytest.mark.timeout(120)
async def test_ten_thousand_entries(ready: E2E) -> None:
    e2e, csms = ready, ready.csms
    config = await get_configuration(csms, "SendLocalListMaxLength", "LocalAuthListMaxLength",
                                     "LocalAuthListEnabled", "SupportedFeatureProfiles")
    assert int(config["SendLocalListMaxLength"]) >= 10000
    assert int(config["LocalAuthListMaxLength"]) >= 10000
    assert config["LocalAuthListEnabled"] == "true"
    assert "LocalAuthListManagement" in config["SupportedFeatureProfiles"].split(",")
    entries = [entry(f"BULK-{i:05d}", "Accepted" if i % 10 else "Blocked") for i in range(10000)]
    assert await send_local_list(csms, 42, "Full", entries, timeout=60) == "Accepted"
    assert await local_list_version(csms) == 42
    await go_offline(e2e)
    assert await tag_starts_session(e2e, "BULK-07777", SENTINEL)
    assert not await tag_starts_session(e2e, "BULK-07770", SENTINEL)  # every tenth is Blocked
    assert not await tag_starts_session(e2e, "BULK-10000", SENTINEL)  # not on the list


@pytest.mark.csms(tags={**TAGS, "CONFLICT": "Blocked"})
@pytest.mark.parametrize("via", ["Authorize", "StartTransaction"])
async def test_local_list_conflict(ready: E2E, via: str) -> None:
    """The list says Accepted, the CSMS says Blocked: reported on connector 0 as
    LocalListConflict (OCPP 1.6 §3.5.2). With LocalPreAuthorize the listed tag starts at once
    and the conflict comes with the StartTransaction answer (then StopTransactionOnInvalidId)."""
    e2e, csms = ready, ready.csms
    assert await send_local_list(csms, 1, "Full", [entry("CONFLICT", "Accepted")]) == "Accepted"
    if via == "StartTransaction":
        assert await e2e.change_configuration("LocalPreAuthorize", "true") == "Accepted"
    mark = csms.mark()
    await e2e.sim_ok("plug", 1)
    await e2e.wait_status(1, "Preparing", since=mark)
    await e2e.sim_ok("tap", "CONFLICT")
    conflict = await e2e.csms.wait_for(
        "StatusNotification", lambda p: p["connectorId"] == 0 and p["errorCode"] == "LocalListConflict",
        timeout=WAIT, since=mark)
    assert conflict.payload["status"] == "Available"
    if via == "Authorize":
        assert [r.payload for r in csms.received[mark:] if r.action == "Authorize"] == [{"idTag": "CONFLICT"}]
        assert "StartTransaction" not in e2e.actions(mark)
        evse = await e2e.evse()
        assert evse["local_transaction_id"] is None and evse["pwm_duty_percent"] == 100.0
    else:
        assert "Authorize" not in e2e.actions(mark)
        start = await csms.wait_for("StartTransaction", timeout=WAIT, since=mark)
        tx_id = await eventually(lambda: e2e.transaction_id_of(start.unique_id), what="the transactionId")
        stop = await csms.wait_for("StopTransaction", timeout=WAIT, since=mark)
        assert stop.payload["transactionId"] == tx_id and stop.payload["reason"] == "DeAuthorized"
        await wait_ended(e2e)
    # The list is not changed by the CSMS's answer.
    assert await local_list_version(csms) == 1
