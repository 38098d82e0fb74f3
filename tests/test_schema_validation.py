"""Compiled schema validation (chargepoint/ocpp/schema_validation.py): validation stays on in both
directions, the verdicts and errors are jsonschema's, and the cache keeps every (message type,
action) apart."""
from __future__ import annotations

import asyncio
import decimal
import json
from collections.abc import Iterator
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import hypothesis.strategies as st
import ocpp.messages
import pytest
from hypothesis import HealthCheck, given, settings
from jsonschema import Draft4Validator
from ocpp.exceptions import ProtocolError, TypeConstraintViolationError
from ocpp.messages import MessageType
from ocpp.v16 import call

from chargepoint.ocpp import schema_validation
from chargepoint.ocpp.schema_validation import CompiledValidator, compile_validator
from chargepoint.ocpp.v16.session import V16Session

SCHEMAS = Path(ocpp.messages.__file__).parent / "v16" / "schemas"
# The charging-profile schemas use multipleOf on Decimal numbers: left to jsonschema alone.
JSONSCHEMA_ONLY = {(MessageType.Call, "SetChargingProfile"), (MessageType.Call, "RemoteStartTransaction"),
                   (MessageType.CallResult, "GetCompositeSchedule")}


def all_v16_schemas() -> list[tuple[int, str]]:
    out = []
    for path in sorted(SCHEMAS.glob("*.json")):
        name = path.stem
        if name.endswith("Response"):
            out.append((MessageType.CallResult, name[: -len("Response")]))
        else:
            out.append((MessageType.Call, name))
    return out


@pytest.fixture(autouse=True)
def compiled() -> Iterator[None]:
    was = schema_validation.installed()
    schema_validation.install()
    yield
    if not was:
        schema_validation.uninstall()


def first_error(validator: Any, instance: Any) -> tuple[str, str, list[Any]] | None:
    try:
        validator.validate(instance)
    except Exception as exc:  # jsonschema.ValidationError, compared field by field
        return (exc.validator, exc.message, list(exc.path))  # type: ignore[attr-defined]
    return None


# ---- the verdicts are jsonschema's -----------------------------------------------------------------

JUNK_VALUES: list[Any] = [None, True, False, 0, -1, 7, 1.5, "", "x", "Accepted", [], {}, [1], {"a": 1}]


def valid(schema: dict[str, Any], root: dict[str, Any], depth: int = 0) -> st.SearchStrategy[Any]:
    """Values of the schema's shape, strings up to and at their maxLength."""
    if "$ref" in schema:
        target: Any = root
        for part in schema["$ref"][2:].split("/"):
            target = target[part]
        return valid(target, root, depth)
    if "enum" in schema:
        return st.sampled_from(schema["enum"])
    kind = schema.get("type")
    if kind == "string":
        limit = schema.get("maxLength", 10)
        return st.one_of(st.text(max_size=min(limit, 10)), st.just("s" * limit))
    if kind == "integer":
        return st.integers(-3, 3)
    if kind == "number":
        return st.one_of(st.integers(-3, 3), st.floats(-5, 5))
    if kind == "boolean":
        return st.booleans()
    if kind == "array" and depth < 5:
        low = schema.get("minItems", 0)
        return st.lists(valid(schema.get("items", {}), root, depth + 1), min_size=low, max_size=low + 2)
    if kind == "object" and depth < 5:
        props = schema.get("properties", {})
        required = schema.get("required", [])
        return st.fixed_dictionaries(
            {p: valid(props[p], root, depth + 1) for p in required if p in props},
            optional={p: valid(sub, root, depth + 1) for p, sub in props.items() if p not in required},
        )
    return st.sampled_from(JUNK_VALUES)


def mutate(value: Any, rnd: Any) -> Any:
    """One change at one random place: a wrong value, a key dropped or added, a string too long."""
    if isinstance(value, (dict, list)) and value and rnd.random() < 0.6:
        key = rnd.choice(list(value) if isinstance(value, dict) else range(len(value)))
        value[key] = mutate(value[key], rnd)
        return value
    choice = rnd.randrange(4)
    if choice == 0 and isinstance(value, dict) and value:
        value.pop(rnd.choice(list(value)))
        return value
    if choice == 1 and isinstance(value, dict):
        value["extraKey"] = rnd.choice(JUNK_VALUES)
        return value
    if choice == 2 and isinstance(value, str):
        return value + "x" * rnd.choice([1, 21, 51, 256, 501, 2600])
    return rnd.choice(JUNK_VALUES)


def instances(schema: dict[str, Any]) -> st.SearchStrategy[Any]:
    shaped = valid(schema, schema)
    return st.one_of(shaped, st.builds(mutate, shaped, st.randoms(use_true_random=False)))


@pytest.mark.parametrize("message_type, action", all_v16_schemas(), ids=lambda x: str(x))
def test_compiled_checks_agree_with_jsonschema_on_every_v16_schema(message_type: int, action: str) -> None:
    # The library asks for the charging-profile schemas with Decimal numbers (exact multipleOf).
    decimals = (message_type, action) in JSONSCHEMA_ONLY
    validator = ocpp.messages.get_validator(message_type, action, "1.6",
                                            parse_float=decimal.Decimal if decimals else float)
    assert isinstance(validator, CompiledValidator)
    full = validator.full
    assert type(full) is Draft4Validator
    if (message_type, action) in JSONSCHEMA_ONLY:
        assert validator.accepts is None
    else:
        assert validator.accepts is not None, "an OCPP 1.6 schema fell back to jsonschema"

    @settings(max_examples=60, deadline=None, suppress_health_check=list(HealthCheck))
    @given(instances(full.schema))
    def agree(instance: Any) -> None:
        if decimals:
            # ... and parses these payloads' numbers as Decimal before validating them.
            instance = json.loads(json.dumps(instance), parse_float=decimal.Decimal)
        if validator.accepts is not None:
            # Never more lenient than jsonschema, and not stricter either for plain JSON values.
            assert validator.accepts(instance) == full.is_valid(instance), instance
        assert first_error(validator, instance) == first_error(full, instance), instance

    agree()


def test_values_that_are_not_plain_json_types_go_to_jsonschema() -> None:
    from ocpp.v16.enums import RegistrationStatus

    validator = ocpp.messages.get_validator(MessageType.CallResult, "BootNotification", "1.6")
    payload = {"status": RegistrationStatus.accepted, "currentTime": "2026-01-01T00:00:00Z", "interval": 60}
    assert validator.accepts is not None and not validator.accepts(payload)
    validator.validate(payload)  # valid all the same, as jsonschema says
    assert first_error(validator, {**payload, "interval": True}) == first_error(validator.full,
                                                                             {**payload, "interval": True})
    assert first_error(validator, {**payload, "interval": True}) is not None


# ---- the cache keeps schemas apart ------------------------------------------------------------------


def test_cache_keeps_actions_and_directions_apart() -> None:
    get = ocpp.messages.get_validator
    hb_request = get(MessageType.Call, "Heartbeat", "1.6")
    hb_response = get(MessageType.CallResult, "Heartbeat", "1.6")
    mv_request = get(MessageType.Call, "MeterValues", "1.6")
    mv_response = get(MessageType.CallResult, "MeterValues", "1.6")
    assert len({id(v) for v in (hb_request, hb_response, mv_request, mv_response)}) == 4
    assert [v.schema["title"] for v in (hb_request, hb_response, mv_request, mv_response)] == [
        "HeartbeatRequest", "HeartbeatResponse", "MeterValuesRequest", "MeterValuesResponse"]
    now = {"currentTime": "2026-01-01T00:00:00Z"}
    meter = {"connectorId": 1, "meterValue": [{"timestamp": "2026-01-01T00:00:00Z",
                                               "sampledValue": [{"value": "1"}]}]}
    # Interleaved, each payload only passes its own schema.
    for _ in range(2):
        assert hb_request.is_valid({}) and not hb_request.is_valid(now)
        assert hb_response.is_valid(now) and not hb_response.is_valid({})
        assert mv_request.is_valid(meter) and not mv_request.is_valid({}) and not mv_request.is_valid(now)
        assert mv_response.is_valid({}) and not mv_response.is_valid(meter)
    # Later look-ups return the same compiled validators.
    assert get(MessageType.Call, "Heartbeat", "1.6") is hb_request
    assert get(MessageType.CallResult, "Heartbeat", "1.6") is hb_response


def test_unknown_action_is_still_not_implemented() -> None:
    message = ocpp.messages.Call("u1", "NoSuchAction", {})
    with pytest.raises(ocpp.exceptions.NotImplementedError):
        ocpp.messages._validate_payload(message, "1.6")


def test_install_is_idempotent_and_reversible() -> None:
    schema_validation.install()
    schema_validation.install()
    assert schema_validation.installed()
    schema_validation.uninstall()
    assert not schema_validation.installed()
    validator = ocpp.messages.get_validator(MessageType.Call, "Heartbeat", "1.6")
    assert type(validator) is Draft4Validator
    schema_validation.install()
    assert isinstance(ocpp.messages.get_validator(MessageType.Call, "Heartbeat", "1.6"), CompiledValidator)


def test_compile_leaves_unknown_keywords_to_jsonschema() -> None:
    validator = compile_validator(Draft4Validator({"type": "object", "properties": {
        "a": {"type": "string", "pattern": "^x"}}}))
    assert validator.accepts is None
    assert first_error(validator, {"a": "y"}) is not None


# ---- validation is on in a real session, both directions ---------------------------------------------


class FakeSocket:
    """The WebSocket the session talks to: records what it sends, answers CALLs from `replies`."""

    def __init__(self, replies: dict[str, dict[str, Any]] | None = None) -> None:
        self.sent: list[list[Any]] = []
        self.incoming: asyncio.Queue[str] = asyncio.Queue()
        self.replies = replies or {}

    async def send(self, text: str) -> None:
        frame = json.loads(text)
        self.sent.append(frame)
        if frame[0] == 2 and frame[2] in self.replies:
            self.incoming.put_nowait(json.dumps([3, frame[1], self.replies[frame[2]]]))

    async def recv(self) -> str:
        return await self.incoming.get()


class FakeSettings:
    def __init__(self, values: dict[str, str]) -> None:
        self.values = values

    def names(self) -> list[str]:
        return list(self.values)

    def spec(self, name: str) -> Any:
        return SimpleNamespace(name=name, writable=True, write_only=False) if name in self.values else None

    def get_int(self, name: str) -> int:
        assert name == "GetConfigurationMaxKeys"
        return 100

    def raw(self, name: str) -> str:
        return self.values[name]


async def session_with(socket: FakeSocket, settings_values: dict[str, str] | None = None) -> tuple[V16Session, asyncio.Task[Any]]:
    link = SimpleNamespace(accepted=True, settings=FakeSettings(settings_values or {}), station=None)
    session = V16Session("CP-1", socket, link, response_timeout_s=2)  # type: ignore[arg-type]
    return session, asyncio.create_task(session.start())


async def reply_to(socket: FakeSocket, frame: list[Any]) -> list[Any]:
    before = len(socket.sent)
    socket.incoming.put_nowait(json.dumps(frame))
    for _ in range(200):
        if len(socket.sent) > before:
            return socket.sent[-1]
        await asyncio.sleep(0.005)
    raise AssertionError(f"no answer to {frame}")


async def test_invalid_outgoing_request_is_refused_before_sending() -> None:
    socket = FakeSocket()
    session, task = await session_with(socket)
    try:
        bad = call.MeterValues(connector_id="one", meter_value=[  # type: ignore[arg-type]
            {"timestamp": "2026-01-01T00:00:00Z", "sampledValue": [{"value": "1"}]}])
        with pytest.raises(TypeConstraintViolationError):
            await session.call(bad, suppress=False)
        with pytest.raises(ProtocolError):  # status missing: the library maps "required" to ProtocolError
            await session.call(call.StatusNotification(connector_id=1, error_code="NoError", status=None),  # type: ignore[arg-type]
                               suppress=False)
        assert socket.sent == []
    finally:
        task.cancel()


async def test_invalid_incoming_response_is_refused() -> None:
    socket = FakeSocket({"Heartbeat": {}})  # currentTime is required
    session, task = await session_with(socket)
    try:
        with pytest.raises(ProtocolError):
            await session.call(call.Heartbeat(), suppress=False)
        socket.replies["Heartbeat"] = {"currentTime": 20260101}
        with pytest.raises(TypeConstraintViolationError):
            await session.call(call.Heartbeat(), suppress=False)
        socket.replies["Heartbeat"] = {"currentTime": "2026-01-01T00:00:00Z"}
        result = await session.call(call.Heartbeat(), suppress=False)
        assert result.current_time == "2026-01-01T00:00:00Z"
    finally:
        task.cancel()


@pytest.mark.parametrize("payload, code", [
    ({"key": 5, "value": "1"}, "TypeConstraintViolation"),
    ({"key": "HeartbeatInterval"}, "ProtocolError"),  # value missing: the library's code for "required"
    ({"key": "HeartbeatInterval", "value": "1", "extra": 1}, "FormatViolation"),
    ({"key": "K" * 51, "value": "1"}, "TypeConstraintViolation"),  # maxLength 50
])
async def test_invalid_incoming_request_gets_the_callerror(payload: dict[str, Any], code: str) -> None:
    socket = FakeSocket()
    session, task = await session_with(socket)
    try:
        answer = await reply_to(socket, [2, "in-1", "ChangeConfiguration", payload])
        assert answer[:3] == [4, "in-1", code]
    finally:
        task.cancel()


async def test_invalid_outgoing_response_is_replaced_by_a_callerror() -> None:
    # A configuration value longer than the 500 characters GetConfiguration.conf allows.
    socket = FakeSocket()
    session, task = await session_with(socket, {"Short": "1", "TooLong": "x" * 501})
    try:
        answer = await reply_to(socket, [2, "out-1", "GetConfiguration", {"key": ["TooLong"]}])
        assert answer[:3] == [4, "out-1", "TypeConstraintViolation"]
        answer = await reply_to(socket, [2, "out-2", "GetConfiguration", {"key": ["Short"]}])
        assert answer[:2] == [3, "out-2"]
        assert answer[2]["configurationKey"] == [{"key": "Short", "readonly": False, "value": "1"}]
    finally:
        task.cancel()
