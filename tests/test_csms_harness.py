"""Self-tests of the end-to-end CSMS harness.

A tiny charge point built on the ocpp library stands in for the firmware,
so a harness bug cannot be mistaken for a firmware bug later.
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import json
from collections.abc import AsyncIterator
from datetime import timezone

import pytest
from ocpp.exceptions import GenericError, InternalError, NotImplementedError as OcppNotImplemented
from ocpp.routing import on
from ocpp.v16 import ChargePoint, call, call_result
from ocpp.v16.enums import Action, RemoteStartStopStatus
from websockets.asyncio.client import ClientConnection, connect
from websockets.exceptions import ConnectionClosed, InvalidStatus

from csms import NO_REPLY, TestCsms, assert_utc_z

pytestmark = pytest.mark.timeout(30)

TAGS = {"TAG-OK": "Accepted", "TAG-BLOCKED": "Blocked"}


class TinyCp(ChargePoint):
    """Minimal charge point: answers RemoteStartTransaction, slow on GetConfiguration."""

    @on(Action.remote_start_transaction)
    def on_remote_start(self, id_tag: str, **kwargs: object) -> call_result.RemoteStartTransaction:
        return call_result.RemoteStartTransaction(status=RemoteStartStopStatus.accepted)

    @on(Action.get_configuration)
    async def on_get_configuration(self, **kwargs: object) -> call_result.GetConfiguration:
        await asyncio.sleep(2)
        return call_result.GetConfiguration(configuration_key=[])

    async def boot(self) -> call_result.BootNotification:
        return await self.call(
            call.BootNotification(charge_point_model="Tiny", charge_point_vendor="Borne"),
            suppress=False,
        )


@contextlib.asynccontextmanager
async def tiny_cp(
    url: str, cp_id: str = "CP-1", response_timeout: float = 5
) -> AsyncIterator[TinyCp]:
    async with connect(f"{url}/{cp_id}", subprotocols=["ocpp1.6"]) as ws:
        cp = TinyCp(cp_id, ws, response_timeout=response_timeout)
        cp.ws = ws
        cp.task = asyncio.create_task(cp.start())
        try:
            yield cp
        finally:
            cp.task.cancel()
            with contextlib.suppress(BaseException):
                await cp.task


@contextlib.asynccontextmanager
async def raw_client(url: str, cp_id: str = "CP-RAW") -> AsyncIterator[ClientConnection]:
    async with connect(f"{url}/{cp_id}", subprotocols=["ocpp1.6"]) as ws:
        yield ws


@pytest.fixture
async def csms() -> AsyncIterator[TestCsms]:
    server = TestCsms(tags=TAGS)
    await server.start()
    try:
        yield server
    finally:
        await server.stop()


async def test_url_and_connection_details(csms: TestCsms) -> None:
    assert csms.url == f"ws://127.0.0.1:{csms.port}/ocpp"
    async with tiny_cp(csms.url, "CP-42"):
        assert await csms.wait_connected(timeout=5) == "CP-42"
        assert csms.connected
        assert csms.subprotocol == "ocpp1.6"
        assert csms.headers is not None
        assert "ocpp1.6" in csms.headers["Sec-WebSocket-Protocol"]
        assert csms.connection.path == "/ocpp/CP-42"


async def test_boot_accepted(csms: TestCsms) -> None:
    async with tiny_cp(csms.url) as cp:
        result = await cp.boot()
    assert result.status == "Accepted"
    assert result.interval == 300
    assert_utc_z(result.current_time).tzinfo == timezone.utc
    assert csms.messages("BootNotification") == [
        {"chargePointModel": "Tiny", "chargePointVendor": "Borne"}
    ]


async def test_boot_pending_then_accepted_last_repeats() -> None:
    async with TestCsms(boot_statuses=["Pending", "Pending", "Accepted"], boot_interval=7) as csms:
        async with tiny_cp(csms.url) as cp:
            statuses = [(await cp.boot()).status for _ in range(4)]
            assert (await cp.boot()).interval == 7
    assert statuses == ["Pending", "Pending", "Accepted", "Accepted"]


async def test_recording_order_and_frames(csms: TestCsms) -> None:
    async with tiny_cp(csms.url) as cp:
        await cp.boot()
        await cp.call(
            call.StatusNotification(connector_id=1, error_code="NoError", status="Available")
        )
        await cp.call(call.Heartbeat())
        await cp.call(call.Authorize(id_tag="TAG-OK"))

    assert [r.action for r in csms.received] == [
        "BootNotification",
        "StatusNotification",
        "Heartbeat",
        "Authorize",
    ]
    assert csms.messages("StatusNotification") == [
        {"connectorId": 1, "errorCode": "NoError", "status": "Available"}
    ]
    assert len(csms.messages()) == 4
    times = [r.at for r in csms.received]
    assert times == sorted(times) and all(t.tzinfo is not None for t in times)
    for record in csms.received:
        assert json.loads(record.raw) == [2, record.unique_id, record.action, record.payload]

    assert [d for d, _ in csms.frames] == ["in", "out"] * 4
    for (_, request), (_, reply) in zip(csms.frames[::2], csms.frames[1::2]):
        assert json.loads(reply)[:2] == [3, json.loads(request)[1]]
    assert csms.call_errors_sent() == []


async def test_default_answers(csms: TestCsms) -> None:
    async with tiny_cp(csms.url) as cp:
        heartbeat = await cp.call(call.Heartbeat(), suppress=False)
        assert_utc_z(heartbeat.current_time)

        ok = await cp.call(call.Authorize(id_tag="TAG-OK"), suppress=False)
        blocked = await cp.call(call.Authorize(id_tag="TAG-BLOCKED"), suppress=False)
        unknown = await cp.call(call.Authorize(id_tag="NOPE"), suppress=False)
        assert [ok.id_tag_info, blocked.id_tag_info, unknown.id_tag_info] == [
            {"status": "Accepted"},
            {"status": "Blocked"},
            {"status": "Invalid"},
        ]

        start = call.StartTransaction(
            connector_id=1, id_tag="TAG-OK", meter_start=0, timestamp="2024-01-01T00:00:00Z"
        )
        first = await cp.call(start, suppress=False)
        second = await cp.call(start, suppress=False)
        assert (first.transaction_id, second.transaction_id) == (1, 2)
        assert first.id_tag_info == {"status": "Accepted"}

        stop_with_tag = await cp.call(
            call.StopTransaction(
                meter_stop=10, timestamp="2024-01-01T01:00:00Z", transaction_id=1, id_tag="NOPE"
            ),
            suppress=False,
        )
        assert stop_with_tag.id_tag_info == {"status": "Invalid"}
        stop_without_tag = await cp.call(
            call.StopTransaction(meter_stop=10, timestamp="2024-01-01T01:00:00Z", transaction_id=2),
            suppress=False,
        )
        assert stop_without_tag.id_tag_info is None

        data = await cp.call(call.DataTransfer(vendor_id="acme"), suppress=False)
        assert data.status == "UnknownVendorId"
        meter = await cp.call(
            call.MeterValues(
                connector_id=1,
                meter_value=[
                    {
                        "timestamp": "2024-01-01T00:00:00Z",
                        "sampled_value": [{"value": "12", "measurand": "Energy.Active.Import.Register"}],
                    }
                ],
            ),
            suppress=False,
        )
        assert meter is not None
    assert csms.messages("MeterValues")[0]["meterValue"][0]["sampledValue"][0]["value"] == "12"


async def test_handler_override_and_queued_replies(csms: TestCsms) -> None:
    csms.handlers["Authorize"] = lambda payload: {
        "idTagInfo": {"status": "Expired", "parentIdTag": payload["idTag"]}
    }
    csms.queue_replies("DataTransfer", {"status": "Accepted", "data": "x"}, GenericError("nope"))

    async def slow_heartbeat(payload: dict) -> dict:
        await asyncio.sleep(0.05)
        return {"currentTime": "2030-01-01T00:00:00Z"}

    csms.handlers["Heartbeat"] = slow_heartbeat
    async with tiny_cp(csms.url, response_timeout=0.5) as cp:
        auth = await cp.call(call.Authorize(id_tag="T1"), suppress=False)
        assert auth.id_tag_info == {"status": "Expired", "parent_id_tag": "T1"}
        assert json.loads(csms.frames[-1][1])[2] == {
            "idTagInfo": {"status": "Expired", "parentIdTag": "T1"}
        }

        assert (await cp.call(call.DataTransfer(vendor_id="v"), suppress=False)).data == "x"
        with pytest.raises(GenericError):
            await cp.call(call.DataTransfer(vendor_id="v"), suppress=False)
        assert (await cp.call(call.DataTransfer(vendor_id="v"), suppress=False)).status == (
            "UnknownVendorId"
        )

        assert (await cp.call(call.Heartbeat(), suppress=False)).current_time == (
            "2030-01-01T00:00:00Z"
        )
        csms.queue_replies("Heartbeat", NO_REPLY)
        with pytest.raises(asyncio.TimeoutError):
            await cp.call(call.Heartbeat(), suppress=False)
        assert len(csms.messages("Heartbeat")) == 2


async def test_broken_handler_answers_internal_error(csms: TestCsms) -> None:
    csms.handlers["Heartbeat"] = lambda payload: 1 / 0
    del csms.handlers["FirmwareStatusNotification"]
    async with tiny_cp(csms.url) as cp:
        with pytest.raises(InternalError):
            await cp.call(call.Heartbeat(), suppress=False)
        with pytest.raises(OcppNotImplemented):
            await cp.call(call.FirmwareStatusNotification(status="Idle"), suppress=False)
    assert len(csms.handler_errors) == 1
    assert isinstance(csms.handler_errors[0], ZeroDivisionError)


async def test_schema_invalid_call_is_rejected_but_recorded(csms: TestCsms) -> None:
    async with raw_client(csms.url) as ws:
        await ws.send('[2,"b1","BootNotification",{"chargePointVendor":"Borne"}]')
        reply = json.loads(await asyncio.wait_for(ws.recv(), 5))
        assert reply[:3] == [4, "b1", "ProtocolError"]  # the library's code for "required"

        await ws.send('[2,"b3","Heartbeat",{"extra":1}]')
        reply = json.loads(await asyncio.wait_for(ws.recv(), 5))
        assert reply[:3] == [4, "b3", "FormatViolation"]

        await ws.send('[2,"b2","FooBar",{}]')
        reply = json.loads(await asyncio.wait_for(ws.recv(), 5))
        assert reply[:3] == [4, "b2", "NotSupported"]

    assert [r.unique_id for r in csms.received] == ["b1", "b3", "b2"]
    assert [e[1] for e in csms.call_errors_sent()] == ["b1", "b3", "b2"]


async def test_wait_for_with_predicate(csms: TestCsms) -> None:
    async with tiny_cp(csms.url) as cp:
        await cp.call(call.StatusNotification(connector_id=0, error_code="NoError", status="Available"))

        already = await csms.wait_for("StatusNotification", timeout=1)
        assert already.payload["connectorId"] == 0

        async def later() -> None:
            await asyncio.sleep(0.1)
            for connector, status in [(1, "Available"), (1, "Preparing"), (2, "Available")]:
                await cp.call(
                    call.StatusNotification(
                        connector_id=connector, error_code="NoError", status=status
                    )
                )

        mark = csms.mark()
        sender = asyncio.create_task(later())
        record = await csms.wait_for(
            "StatusNotification",
            lambda p: p["connectorId"] == 1 and p["status"] == "Preparing",
            timeout=5,
        )
        assert record.payload == {"connectorId": 1, "errorCode": "NoError", "status": "Preparing"}
        await sender

        fresh = await csms.wait_for("StatusNotification", timeout=1, since=mark)
        assert fresh.payload["connectorId"] == 1 and fresh.payload["status"] == "Available"

        with pytest.raises(TimeoutError, match="StartTransaction"):
            await csms.wait_for("StartTransaction", timeout=0.2)
        with pytest.raises(TimeoutError):
            await csms.wait_for("StatusNotification", lambda p: p["connectorId"] == 3, timeout=0.2)


async def test_call_csms_to_cp(csms: TestCsms) -> None:
    async with tiny_cp(csms.url):
        await csms.wait_connected(timeout=5)
        result = await csms.call(call.RemoteStartTransaction(id_tag="TAG-OK", connector_id=1))
        assert result.status == "Accepted"

        with pytest.raises(OcppNotImplemented):
            await csms.call(call.Reset(type="Soft"))

        with pytest.raises(TimeoutError):
            await csms.call(call.GetConfiguration(), timeout=0.2)

    sent = [json.loads(t) for d, t in csms.frames if d == "out"]
    assert [f[2] for f in sent if f[0] == 2] == ["RemoteStartTransaction", "Reset", "GetConfiguration"]


async def test_call_without_connection_fails_fast(csms: TestCsms) -> None:
    with pytest.raises(RuntimeError):
        await csms.call(call.Reset(type="Soft"))


async def test_send_raw_gets_callerror(csms: TestCsms) -> None:
    async with tiny_cp(csms.url):
        await csms.wait_connected(timeout=5)
        reply = await csms.send_raw('[2,"x1","Foo",{}]', timeout=5)
        assert reply[:3] == [4, "x1", "NotSupported"]

        reply = await csms.send_raw('[2,"x2","Reset",{"type":"Sideways"}]', timeout=5)
        assert reply[0] == 4 and reply[1] == "x2"

        reply = await csms.send_raw(
            '[2,"x3","RemoteStartTransaction",{"idTag":"TAG-OK"}]', timeout=5
        )
        assert reply == [3, "x3", {"status": "Accepted"}]

        # Library-owned calls still get their own replies afterwards.
        result = await csms.call(call.RemoteStartTransaction(id_tag="TAG-OK"))
        assert result.status == "Accepted"

        assert await csms.send_raw("[3,\"nobody-asked\",{}]", expect_reply=False) is None
        with pytest.raises(TimeoutError):
            await csms.send_raw("[3,\"nobody-asked\",{}]", timeout=0.2)
    assert ("out", '[2,"x1","Foo",{}]') in csms.frames
    assert [r[1] for r in csms.raw_replies] == ["x1", "x2", "x3"]


async def test_drop_connection_and_reconnect(csms: TestCsms) -> None:
    async with tiny_cp(csms.url) as cp:
        await csms.wait_connected(timeout=5)
        await csms.drop_connection()
        assert not csms.connected
        with pytest.raises(ConnectionClosed):
            await asyncio.wait_for(cp.task, 5)
        assert cp.ws.close_code == 1001

    async with tiny_cp(csms.url, "CP-1") as cp:
        assert await csms.wait_connected(timeout=5) == "CP-1"
        await cp.boot()
        await csms.drop_connection(abrupt=True)
        await csms.wait_disconnected(timeout=5)
        with pytest.raises(ConnectionClosed):
            await asyncio.wait_for(cp.task, 5)

    assert len(csms.connections) == 2
    with pytest.raises(RuntimeError):
        await csms.drop_connection()


async def test_restart_on_same_port(csms: TestCsms) -> None:
    url, port = csms.url, csms.port
    start = call.StartTransaction(
        connector_id=1, id_tag="TAG-OK", meter_start=0, timestamp="2024-01-01T00:00:00Z"
    )
    for round_ in range(3):
        async with tiny_cp(url) as cp:
            await csms.wait_connected(timeout=5)
            result = await cp.call(start, suppress=False)
            assert result.transaction_id == round_ + 1
            await csms.stop()
            await csms.wait_disconnected(timeout=5)
            with pytest.raises(ConnectionClosed):
                await asyncio.wait_for(cp.task, 5)
        with pytest.raises(OSError):
            async with tiny_cp(url):
                pass
        assert await csms.start(port=port) == url

    assert len(csms.messages("StartTransaction")) == 3
    await csms.stop()
    assert await csms.start() == url  # default reuses the previous port


async def test_basic_auth_and_headers() -> None:
    async with TestCsms(basic_auth_credentials={"CP-1": "s3cret"}) as csms:
        with pytest.raises(InvalidStatus) as rejected:
            async with tiny_cp(csms.url):
                pass
        assert rejected.value.response.status_code == 401

        authed = csms.url.replace("ws://", "ws://CP-1:s3cret@")
        async with tiny_cp(authed):
            await csms.wait_connected(timeout=5)
            expected = "Basic " + base64.b64encode(b"CP-1:s3cret").decode()
            assert csms.headers["Authorization"] == expected
        assert len(csms.requests) == 2


async def test_client_without_subprotocol_is_rejected(csms: TestCsms) -> None:
    with pytest.raises(InvalidStatus) as rejected:
        async with connect(f"{csms.url}/CP-1"):
            pass
    assert rejected.value.response.status_code == 400
    assert not csms.connections


@pytest.mark.parametrize(
    "good", ["2024-01-01T00:00:00Z", "2024-01-01T00:00:00.123Z", "2024-02-29T23:59:59.5Z"]
)
def test_assert_utc_z_accepts(good: str) -> None:
    assert assert_utc_z(good).tzinfo == timezone.utc


@pytest.mark.parametrize(
    "bad",
    [
        "2024-01-01T00:00:00+00:00",
        "2024-01-01T00:00:00",
        "2024-01-01 00:00:00Z",
        "2024-13-01T00:00:00Z",
        "2024-01-01T00:00Z",
        "20240101T000000Z",
        "",
        None,
        1704067200,
    ],
)
def test_assert_utc_z_rejects(bad: object) -> None:
    with pytest.raises(AssertionError):
        assert_utc_z(bad)  # type: ignore[arg-type]
