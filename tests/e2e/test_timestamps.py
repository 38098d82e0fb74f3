"""Every timestamp the charge point writes is ISO 8601 UTC with 'Z' (BootNotification has none)."""
from __future__ import annotations

import pytest

from csms import assert_utc_z
from e2e_harness import WAIT, E2E

pytestmark = pytest.mark.timeout(60)


async def test_all_timestamps_utc_z(ready: E2E) -> None:
    e2e, csms = ready, ready.csms
    assert await e2e.change_configuration("MeterValueSampleInterval", "5") == "Accepted"
    assert await e2e.change_configuration(
        "StopTxnSampledData", "Energy.Active.Import.Register,Power.Active.Import") == "Accepted"
    tx_id, _ = await e2e.start_transaction()
    await csms.wait_for("MeterValues", lambda p: p.get("transactionId") == tx_id, timeout=WAIT)
    mark = csms.mark()
    await e2e.sim_ok("tap", "TAG-OK")
    stop = await csms.wait_for("StopTransaction", timeout=WAIT, since=mark)
    await e2e.sim_ok("unplug", 1)
    await e2e.wait_status(1, "Available", since=mark)

    # transactionData: the Transaction.Begin and Transaction.End readings, each timestamped.
    data = stop.payload["transactionData"]
    contexts = {sv.get("context") for mv in data for sv in mv["sampledValue"]}
    assert {"Transaction.Begin", "Transaction.End"} <= contexts
    begin = assert_utc_z(data[0]["timestamp"])
    end = assert_utc_z(data[-1]["timestamp"])
    assert begin <= end

    seen = set()
    for record in csms.received:
        p = record.payload
        if record.action == "BootNotification":
            assert "timestamp" not in p
        elif record.action == "StatusNotification":
            assert_utc_z(p["timestamp"])  # the firmware always timestamps its statuses
        elif record.action in ("StartTransaction", "StopTransaction"):
            assert_utc_z(p["timestamp"])
            for mv in p.get("transactionData", []):
                assert_utc_z(mv["timestamp"])
        elif record.action == "MeterValues":
            assert p["meterValue"]
            for mv in p["meterValue"]:
                assert_utc_z(mv["timestamp"])
        seen.add(record.action)
    assert {"BootNotification", "StatusNotification", "Authorize", "StartTransaction", "MeterValues",
            "StopTransaction"} <= seen
    start = csms.messages("StartTransaction")[0]
    assert assert_utc_z(start["timestamp"]) <= assert_utc_z(stop.payload["timestamp"])
