"""OCA OCPP 1.6 compliance cases, Charge Point side: Local Authorization List management
(TC_008_CS, TC_042_2_CS, TC_043_CS, TC_043_2_CS, TC_043_3_CS). TC_042_1_CS and TC_043_1_CS are for
charge points without the profile; Borne has it."""
from __future__ import annotations

from collections.abc import AsyncIterator

import pytest
import pytest_asyncio
from ocpp.v16 import call

from e2e_harness import TAGS, WAIT, eventually
from oca16 import Station, authorized, get_configuration

pytestmark = [pytest.mark.asyncio(loop_scope="module"), pytest.mark.timeout(60)]

CSMS_KWARGS = {"tags": {**TAGS, "LIST-1": "Accepted"}}


def entry(tag: str, status: str = "Accepted") -> dict[str, object]:
    return {"idTag": tag, "idTagInfo": {"status": status}}


async def send(st: Station, version: int, kind: str, entries: list[dict[str, object]]) -> str:
    result = await st.call(call.SendLocalList(list_version=version, update_type=kind,
                                              local_authorization_list=entries))
    return str(result.status)


async def version(st: Station) -> int:
    return int((await st.call(call.GetLocalListVersion())).list_version)


@pytest_asyncio.fixture(loop_scope="module")
async def empty_list(cp: Station) -> AsyncIterator[Station]:
    """Every case starts and ends without a list."""
    assert await send(cp, 0, "Full", []) == "Accepted"
    yield cp
    await eventually(lambda: cp.csms.connected, what="the controller to be connected")
    await send(cp, 0, "Full", [])


async def test_tc_008_cs_regular_start_charging_session_id_in_local_authorization_list(empty_list: Station) -> None:
    """TC_008_CS Regular Start Charging Session – Id in Local Authorization List.

    LocalPreAuthorize true, AuthorizationCacheEnabled false, LocalAuthListEnabled true;
    GetLocalListVersion, SendLocalList (Accepted) with the tag; the tag presented: Preparing
    without an Authorize.req; the cable: StartTransaction and Charging."""
    cp = empty_list
    for key, value in (("LocalPreAuthorize", "true"), ("AuthorizationCacheEnabled", "false"),
                       ("LocalAuthListEnabled", "true")):
        assert await cp.configure(key, value) == "Accepted"
    current = await version(cp)
    assert await send(cp, current + 1, "Full", [entry("LIST-1")]) == "Accepted"
    mark = await authorized(cp, "LIST-1")
    await cp.sim_ok("plug", 1)
    start = await cp.csms.wait_for("StartTransaction", timeout=WAIT, since=mark)
    await cp.sim_ok("ev-state", 1, "C")
    await cp.wait_status(1, "Charging", since=mark)
    assert start.payload["idTag"] == "LIST-1"
    assert "Authorize" not in cp.actions(mark)


async def test_tc_042_2_cs_get_local_list_version_empty(empty_list: Station) -> None:
    """TC_042_2_CS Get Local List Version (empty).

    No list installed: GetLocalListVersion answers 0 (OCPP 1.6 §5.10)."""
    assert await version(empty_list) == 0


async def test_tc_043_cs_send_local_authorization_list(empty_list: Station) -> None:
    """TC_043_CS Send Local Authorization List.

    LocalAuthListEnabled true; a Full list, then a Differential one: both Accepted, and the
    version is the last one sent."""
    cp = empty_list
    assert await cp.configure("LocalAuthListEnabled", "true") == "Accepted"
    assert await send(cp, 3, "Full", [entry("LIST-1"), entry("LIST-2", "Blocked")]) == "Accepted"
    assert await version(cp) == 3
    assert await send(cp, 4, "Differential", [entry("LIST-3"), {"idTag": "LIST-2"}]) == "Accepted"
    assert await version(cp) == 4


async def test_tc_043_2_cs_send_local_authorization_list_version_mismatch(empty_list: Station) -> None:
    """TC_043_2_CS Send Local Authorization List - VersionMismatch.

    A Differential update whose version is not above the list's: VersionMismatch, the list
    unchanged (OCPP 1.6 §5.15)."""
    cp = empty_list
    assert await send(cp, 5, "Full", [entry("LIST-1")]) == "Accepted"
    assert await send(cp, 5, "Differential", [entry("LIST-9")]) == "VersionMismatch"
    assert await version(cp) == 5


async def test_tc_043_3_cs_send_local_authorization_list_failed(empty_list: Station) -> None:
    """TC_043_3_CS Send Local Authorization List - Failed.

    The charge point cannot take the list — here one entry more than SendLocalListMaxLength:
    a Full list with version 2 answered Failed, nothing changed. SendLocalListMaxLength is the
    number of entries a single SendLocalList.req may carry (OCPP 1.6 §9.4.3), so a list that
    long must reach the charge point and be answered."""
    cp = empty_list
    limit = int((await get_configuration(cp.csms, "SendLocalListMaxLength"))["SendLocalListMaxLength"] or 0)
    too_many = [entry(f"T{i}") for i in range(limit + 1)]
    assert await send(cp, 2, "Full", too_many) == "Failed"
    assert await version(cp) == 0
