"""The ocpp-rpc CSMS reports schema failures in every direction it checks, so that the strict
conformance test cannot pass just because a failure went unlogged. A bare WebSocket client
plays a misbehaving charge point."""
from __future__ import annotations

import asyncio
import json

import pytest
from websockets.asyncio.client import connect
from websockets.typing import Subprotocol

from ocpp_rpc_harness import NodeCsms

pytestmark = pytest.mark.timeout(30)


def failures(csms: NodeCsms, origin: str, kind: str) -> list[dict]:
    return [e for e in csms.of("strict_validation_failure") if e["origin"] == origin and e["message_kind"] == kind]


async def test_schema_failures_in_each_direction_are_logged(node_csms: NodeCsms) -> None:
    csms = node_csms
    csms.fail_on_problems = False
    async with connect(f"{csms.url}/PROBE-1", subprotocols=[Subprotocol("ocpp1.6")]) as ws:
        assert ws.subprotocol == "ocpp1.6"

        # A charge point's CALL that breaks the schema is refused with the OCPP-J error.
        await ws.send(json.dumps([2, "m1", "StatusNotification", {"connectorId": "1", "errorCode": "NoError",
                                                                 "status": "Available"}]))
        reply = json.loads(await asyncio.wait_for(ws.recv(), 10))
        assert reply[:3] == [4, "m1", "TypeConstraintViolation"], reply
        [failure] = failures(csms, "charge_point", "call")
        assert failure["action"] == "StatusNotification" and failure["errors"][0]["instancePath"] == "/connectorId"

        # A charge point's answer that breaks the schema fails the CSMS's call.
        pending = asyncio.create_task(csms.call("GetLocalListVersion", {}))
        request = json.loads(await asyncio.wait_for(ws.recv(), 10))
        assert request[0] == 2 and request[2:] == ["GetLocalListVersion", {}], request
        await ws.send(json.dumps([3, request[1], {"listVersion": "two"}]))
        outcome = await pending
        assert outcome.error is not None and outcome.error["cause"] == "strict_validation", outcome
        assert failures(csms, "charge_point", "result")[0]["result"] == {"listVersion": "two"}

        # A CSMS call that breaks the schema is never sent.
        outcome = await csms.call("Reset", {"type": "Gentle"})
        assert outcome.error is not None and outcome.error["cause"] == "strict_validation", outcome
        assert failures(csms, "csms", "call")[0]["params"] == {"type": "Gentle"}
        assert not [e for e in csms.of("sent_call") if e["action"] == "Reset"]

        # A valid exchange is logged as answered, with no new failure.
        pending = asyncio.create_task(csms.call("ClearCache", {}))
        request = json.loads(await asyncio.wait_for(ws.recv(), 10))
        await ws.send(json.dumps([3, request[1], {"status": "Accepted"}]))
        outcome = await pending
        assert outcome.ok and outcome.payload == {"status": "Accepted"}
        assert len(csms.of("strict_validation_failure")) == 3

    # With failures logged, a scenario's next wait fails at once and names them.
    csms.fail_on_problems = True
    with pytest.raises(AssertionError, match="strict_validation_failure"):
        await csms.wait_for("BootNotification", timeout=5)
