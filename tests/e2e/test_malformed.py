"""Malformed frames from the CSMS get the CALLERROR OCPP-J prescribes, and the controller keeps
serving the same connection afterwards."""
from __future__ import annotations

import json

import pytest
from ocpp.v16 import call

from e2e_harness import WAIT, E2E

pytestmark = pytest.mark.timeout(60)

# OCPP-J 1.6 §4.2.3 error codes.
OCPP_J_CODES = {
    "NotImplemented", "NotSupported", "InternalError", "ProtocolError", "SecurityError",
    "FormationViolation", "FormatViolation", "PropertyConstraintViolation",
    "OccurenceConstraintViolation", "OccurrenceConstraintViolation", "TypeConstraintViolation",
    "GenericError",
}


def assert_call_error(frame: list, unique_id: str, code: str | set[str]) -> None:
    assert isinstance(frame, list) and len(frame) == 5, frame
    assert frame[0] == 4, frame
    assert frame[1] == unique_id, frame
    codes = {code} if isinstance(code, str) else code
    assert frame[2] in codes, frame
    assert isinstance(frame[3], str) and len(frame[3]) <= 255
    assert isinstance(frame[4], dict)


async def still_serving(e2e: E2E) -> None:
    """The same connection still answers a normal call."""
    result = await e2e.csms.call(call.GetConfiguration(key=["NumberOfConnectors"]), timeout=WAIT)
    assert result.configuration_key[0]["value"] == "1"
    assert e2e.csms.connected
    assert len(e2e.csms.connections) == 1, "the controller reconnected"
    assert e2e.cp.running


# Framing errors: (case, frame text, expected message id in the CALLERROR, expected code(s)).
FRAMING_CASES = [
    ("not-json", "this is not json", "-1", "FormatViolation"),
    ("truncated-json", '[2, "abc", "GetConfiguration", {', "-1", "FormatViolation"),
    ("object-not-array", '{"messageTypeId": 2}', "-1", "ProtocolError"),
    ("empty-array", "[]", "-1", "ProtocolError"),
    ("json-string", '"just a string"', "-1", "ProtocolError"),
    ("unknown-message-type", '[7, "mt-7", "GetConfiguration", {}]', "mt-7", "ProtocolError"),
    ("message-type-as-string", '["2", "mt-str", "GetConfiguration", {}]', "mt-str", "ProtocolError"),
    ("numeric-message-id", '[2, 12345, "GetConfiguration", {}]', "-1", "ProtocolError"),
    ("message-id-too-long", json.dumps([2, "x" * 37, "GetConfiguration", {}]), "-1", "ProtocolError"),
    ("call-without-payload", '[2, "no-payload", "GetConfiguration"]', "no-payload",
     {"ProtocolError", "FormatViolation"}),
    ("call-with-list-payload", '[2, "list-payload", "GetConfiguration", []]', "list-payload",
     {"ProtocolError", "FormatViolation"}),
    ("action-not-string", '[2, "num-action", 5, {}]', "num-action", "ProtocolError"),
]

# RemoteStartTransaction payloads that break its schema: (case, payload, expected code(s)).
NOT_CALLABLE = {"NotImplemented", "NotSupported", "InternalError"}
SCHEMA_CASES = [
    ("missing-idTag", {}, OCPP_J_CODES),  # the ocpp library maps "required" to ProtocolError
    ("extra-property", {"idTag": "TAG-OK", "bogus": 1}, "FormatViolation"),
    ("wrong-type", {"idTag": 123}, "TypeConstraintViolation"),
    ("wrong-type-connector", {"idTag": "TAG-OK", "connectorId": "one"}, "TypeConstraintViolation"),
    ("idTag-too-long", {"idTag": "X" * 21}, OCPP_J_CODES - NOT_CALLABLE),
]

# Known OCPP 1.6 actions the firmware does not support, with schema-valid payloads.
# Every operation the CSMS may call is implemented; what a charge point sends (and so never
# handles) is known to OCPP 1.6 but not supported in this direction.
UNSUPPORTED_CASES = [
    ("Heartbeat", {}),
    ("BootNotification", {"chargePointVendor": "X", "chargePointModel": "Y"}),
    ("StartTransaction", {"connectorId": 1, "idTag": "TAG-OK", "meterStart": 0, "timestamp": "2030-01-01T00:00:00Z"}),
]


async def test_malformed_frames_answered(ready: E2E, subtests: pytest.Subtests) -> None:
    """One controller, every framing error in turn: each is answered and the link survives."""
    for case, text, unique_id, code in FRAMING_CASES:
        with subtests.test(msg=case):
            reply = await ready.csms.send_raw(text, timeout=WAIT)
            assert_call_error(reply, unique_id, code)
            await still_serving(ready)


async def test_unknown_action_not_implemented(ready: E2E) -> None:
    reply = await ready.csms.send_raw('[2, "foo-1", "FooBar", {}]', timeout=WAIT)
    assert_call_error(reply, "foo-1", "NotImplemented")
    await still_serving(ready)


async def test_known_but_unsupported_actions_not_supported(ready: E2E, subtests: pytest.Subtests) -> None:
    for n, (action, payload) in enumerate(UNSUPPORTED_CASES):
        with subtests.test(msg=action):
            reply = await ready.csms.send_raw(json.dumps([2, f"ns-{n}", action, payload]), timeout=WAIT)
            assert_call_error(reply, f"ns-{n}", "NotSupported")
            await still_serving(ready)


async def test_schema_violations_answered(ready: E2E, subtests: pytest.Subtests) -> None:
    e2e, csms = ready, ready.csms
    for n, (case, payload, code) in enumerate(SCHEMA_CASES):
        with subtests.test(msg=case):
            mark = csms.mark()
            reply = await csms.send_raw(json.dumps([2, f"schema-{n}", "RemoteStartTransaction", payload]),
                                        timeout=WAIT)
            assert_call_error(reply, f"schema-{n}", code)
            await still_serving(e2e)
            # A refused request does nothing.
            assert "Authorize" not in e2e.actions(mark) and e2e.statuses(1, mark) == []


async def test_enum_violation_answered(ready: E2E) -> None:
    reply = await ready.csms.send_raw('[2, "enum-1", "Reset", {"type": "Medium"}]', timeout=WAIT)
    assert_call_error(reply, "enum-1", OCPP_J_CODES - NOT_CALLABLE)
    await still_serving(ready)  # and it did not reset


async def test_unsolicited_results_are_ignored(ready: E2E) -> None:
    csms = ready.csms
    before = len(csms.raw_replies)
    await csms.send_raw('[3, "never-sent", {}]', expect_reply=False)
    await csms.send_raw('[4, "never-sent-2", "GenericError", "x", {}]', expect_reply=False)
    await csms.send_raw('[3, "bad-result"]', expect_reply=False)
    await still_serving(ready)
    assert len(csms.raw_replies) == before  # a result is never answered
    # The charge point's own calls still get matched with their answers.
    mark = csms.mark()
    await ready.sim_ok("plug", 1)
    await ready.sim_ok("tap", "TAG-OK")
    await csms.wait_for("StartTransaction", timeout=WAIT, since=mark)
    await ready.wait_status(1, "SuspendedEV", since=mark)


async def test_many_malformed_frames_in_a_row(ready: E2E) -> None:
    for n in range(20):
        reply = await ready.csms.send_raw(f"garbage {n}", timeout=WAIT)
        assert_call_error(reply, "-1", "FormatViolation")
    await still_serving(ready)
