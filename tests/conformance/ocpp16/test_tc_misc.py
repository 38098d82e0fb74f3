"""OCA OCPP 1.6 compliance cases, Charge Point side: Clear Cache (TC_061_CS) and Data Transfer
(TC_062_CS)."""
from __future__ import annotations

import pytest
from ocpp.exceptions import OCPPError
from ocpp.v16 import call

from e2e_harness import TAGS, WAIT
from oca16 import Station, authorized

pytestmark = [pytest.mark.asyncio(loop_scope="module"), pytest.mark.timeout(60)]

CSMS_KWARGS = {"tags": {**TAGS, "CACHED-1": "Accepted"}}


async def test_tc_061_cs_clear_authorization_data_in_authorization_cache(cp: Station) -> None:
    """TC_061_CS Clear Authorization Data in Authorization Cache.

    A tag in the cache (LocalPreAuthorize: accepted without Authorize.req); ClearCache:
    Accepted; the tag presented again is asked with Authorize.req."""
    for key, value in (("AuthorizationCacheEnabled", "true"), ("LocalPreAuthorize", "true"),
                       ("ConnectionTimeOut", "5")):
        assert await cp.configure(key, value) == "Accepted"
    first = await authorized(cp, "CACHED-1")
    await cp.csms.wait_for("Authorize", timeout=WAIT, since=first)
    await cp.wait_status(1, "Available", since=first)
    cached = await authorized(cp, "CACHED-1")
    await cp.wait_status(1, "Available", since=cached)
    assert "Authorize" not in cp.actions(cached)

    assert (await cp.call(call.ClearCache())).status == "Accepted"
    after = await authorized(cp, "CACHED-1")
    await cp.csms.wait_for("Authorize", lambda p: p["idTag"] == "CACHED-1", timeout=WAIT, since=after)
    await cp.wait_status(1, "Available", since=after)


async def test_tc_062_cs_data_transfer_to_a_charge_point(cp: Station) -> None:
    """TC_062_CS Data Transfer to a Charge Point.

    DataTransfer with a vendorId the charge point does not know: answered with a status
    (UnknownVendorId, OCPP 1.6 §5.6) — or, for a charge point without DataTransfer, CALLERROR
    NotSupported."""
    try:
        result = await cp.call(call.DataTransfer(vendor_id="org.example.octt", message_id="Ping", data="{}"))
    except OCPPError as error:
        assert error.code == "NotSupported", error
    else:
        assert result.status == "UnknownVendorId"
