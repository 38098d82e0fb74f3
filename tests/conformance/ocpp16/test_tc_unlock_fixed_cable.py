"""OCA OCPP 1.6 compliance cases, Charge Point side: UnlockConnector with a fixed cable
(TC_017_2_CS, TC_018_2_CS). The module's controller has a tethered cable (Type2Cable)."""
from __future__ import annotations

import pytest
from ocpp.v16 import call

from oca16 import Station, charging, stop_and_unplug

pytestmark = [pytest.mark.asyncio(loop_scope="module"), pytest.mark.timeout(60)]

CONNECTOR_TYPE = "Type2Cable"


async def test_tc_017_2_cs_unlock_connector_no_charging_session_fixed_cable(cp: Station) -> None:
    """TC_017_2_CS Unlock connector - no charging session running (Fixed cable).

    UnlockConnector: NotSupported."""
    assert (await cp.call(call.UnlockConnector(connector_id=1))).status == "NotSupported"


async def test_tc_018_2_cs_unlock_connector_with_charging_session_fixed_cable(cp: Station) -> None:
    """TC_018_2_CS Unlock Connector - With Charging Session (Fixed cable).

    Charging; UnlockConnector: NotSupported."""
    tx_id, _ = await charging(cp)
    assert (await cp.call(call.UnlockConnector(connector_id=1))).status == "NotSupported"
    await stop_and_unplug(cp, tx_id)
