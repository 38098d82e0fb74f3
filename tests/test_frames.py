"""OCPP-J frame checks: every malformed frame gets the right CALLERROR (or none, for results)."""
from __future__ import annotations

import json

import pytest

from chargepoint.ocpp.frames import CALL, CALLERROR, CALLRESULT, Frame, FrameError, error_frame, parse_frame


def error(raw: str | bytes) -> FrameError:
    result = parse_frame(raw)
    assert isinstance(result, FrameError), f"expected an error for {raw!r}, got {result!r}"
    return result


# --- valid frames -----------------------------------------------------------------------------


def test_call() -> None:
    frame = parse_frame('[2, "abc-1", "Heartbeat", {}]')
    assert frame == Frame(CALL, "abc-1", action="Heartbeat", payload={})


def test_call_with_payload_from_bytes() -> None:
    raw = json.dumps([2, "42", "RemoteStartTransaction", {"idTag": "TÄG", "connectorId": 1}]).encode()
    frame = parse_frame(raw)
    assert isinstance(frame, Frame)
    assert frame.action == "RemoteStartTransaction"
    assert frame.payload == {"idTag": "TÄG", "connectorId": 1}


def test_callresult() -> None:
    frame = parse_frame('[3, "abc-1", {"currentTime": "2026-01-01T00:00:00Z"}]')
    assert frame == Frame(CALLRESULT, "abc-1", payload={"currentTime": "2026-01-01T00:00:00Z"})


def test_callerror() -> None:
    frame = parse_frame('[4, "abc-1", "NotImplemented", "no such action", {"x": 1}]')
    assert frame == Frame(CALLERROR, "abc-1", error_code="NotImplemented", error_description="no such action",
                          error_details={"x": 1})


def test_id_of_exactly_36_characters_is_fine() -> None:
    uid = "x" * 36
    frame = parse_frame(json.dumps([2, uid, "Heartbeat", {}]))
    assert isinstance(frame, Frame) and frame.unique_id == uid


# --- unreadable frames ------------------------------------------------------------------------


@pytest.mark.parametrize("raw", ["", "not json", "[2, \"a\", ", "{'a': 1}", "[2, 'a', 'B', {}]"])
def test_not_json_is_a_format_violation_with_id_minus_1(raw: str) -> None:
    err = error(raw)
    assert (err.unique_id, err.code, err.reply) == ("-1", "FormatViolation", True)


def test_deeply_nested_json_does_not_crash() -> None:
    err = error("[" * 100_000 + "]" * 100_000)
    assert err.unique_id == "-1"


def test_bytes_that_are_not_utf8() -> None:
    err = error(b"\xff\xfe[2, \"a\", \"Heartbeat\", {}]")
    assert (err.unique_id, err.code) == ("-1", "FormatViolation")


@pytest.mark.parametrize("raw", ['{"a": 1}', '"text"', "42", "null", "[]"])
def test_not_an_array_or_empty_is_a_protocol_error(raw: str) -> None:
    err = error(raw)
    assert (err.unique_id, err.code, err.reply) == ("-1", "ProtocolError", True)


@pytest.mark.parametrize("type_id", [5, 1, 0, "2", True, 2.0, None, [2]])
def test_bad_message_type_id_is_a_protocol_error(type_id: object) -> None:
    err = error(json.dumps([type_id, "msg-7", "Heartbeat", {}]))
    assert err.code == "ProtocolError"
    assert err.unique_id == "msg-7"  # the id could be read, so the error refers to it
    assert repr(type_id) in err.description


@pytest.mark.parametrize("uid", ["x" * 37, "", 17, None, ["a"]])
def test_unreadable_message_id_answers_with_minus_1(uid: object) -> None:
    err = error(json.dumps([2, uid, "Heartbeat", {}]))
    assert (err.unique_id, err.code, err.reply) == ("-1", "ProtocolError", True)


def test_call_without_id() -> None:
    err = error("[2]")
    assert (err.unique_id, err.code) == ("-1", "ProtocolError")


@pytest.mark.parametrize("msg", [[2, "id-3", "Heartbeat"], [2, "id-3", "Heartbeat", {}, {}]])
def test_call_with_wrong_number_of_elements(msg: list[object]) -> None:
    err = error(json.dumps(msg))
    assert (err.unique_id, err.code, err.reply) == ("id-3", "ProtocolError", True)


@pytest.mark.parametrize("action", [1, None, "", {"a": 1}, ["Heartbeat"]])
def test_call_action_must_be_a_non_empty_string(action: object) -> None:
    err = error(json.dumps([2, "id-4", action, {}]))
    assert (err.unique_id, err.code) == ("id-4", "ProtocolError")


@pytest.mark.parametrize("payload", [[], "x", 1, None, [{"a": 1}]])
def test_call_payload_not_an_object_is_a_format_violation(payload: object) -> None:
    err = error(json.dumps([2, "id-5", "Authorize", payload]))
    assert (err.unique_id, err.code, err.reply) == ("id-5", "FormatViolation", True)


# --- malformed answers are reported, never answered -----------------------------------------


@pytest.mark.parametrize(
    "msg",
    [
        [3, "id-6"],
        [3, "id-6", []],
        [3, "id-6", "text"],
        [3, "id-6", {}, {}],
        [4, "id-6", "GenericError", "desc"],
        [4, "id-6", 1, "desc", {}],
        [4, "id-6", "GenericError", None, {}],
        [4, "id-6", "GenericError", "desc", {}, {}],
    ],
)
def test_malformed_results_and_errors_are_not_answered(msg: list[object]) -> None:
    err = error(json.dumps(msg))
    assert err.reply is False
    assert err.unique_id == "id-6"


@pytest.mark.parametrize("type_id", [CALLRESULT, CALLERROR])
def test_unreadable_id_of_an_answer_is_not_answered(type_id: int) -> None:
    err = error(json.dumps([type_id, "y" * 37, {}]))
    assert (err.unique_id, err.reply) == ("-1", False)


# --- rendering CALLERRORs -----------------------------------------------------------------------


def test_error_frame_shape() -> None:
    assert json.loads(error_frame("abc", "NotImplemented", "nope")) == [4, "abc", "NotImplemented", "nope", {}]


def test_error_frame_truncates_the_description_to_255_characters() -> None:
    frame = json.loads(error_frame("abc", "GenericError", "é" * 300))
    assert frame[3] == "é" * 255
    assert frame[4] == {}


def test_frame_error_to_json() -> None:
    err = error("[2, \"id-5\", \"Authorize\", []]")
    assert json.loads(err.to_json()) == [4, "id-5", "FormatViolation", err.description, {}]
