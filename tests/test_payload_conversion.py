"""The remembered payload conversions (chargepoint/ocpp/payload_conversion.py) give exactly what
the ocpp library's own helpers give."""
from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import hypothesis.strategies as st
import ocpp.charge_point
import ocpp.messages
import pytest
from hypothesis import HealthCheck, given, settings
from ocpp.v16 import call, call_result, datatypes, enums

from chargepoint.ocpp import payload_conversion

SCHEMAS = Path(ocpp.messages.__file__).parent / "v16" / "schemas"
HELPERS = ("serialize_as_dict", "snake_to_camel_case", "camel_to_snake_case", "remove_nones")


def _schema_keys() -> list[str]:
    keys: set[str] = set()

    def walk(node: Any) -> None:
        if isinstance(node, dict):
            for name, sub in node.get("properties", {}).items():
                keys.add(name)
                walk(sub)
            for value in node.values():
                walk(value)
        elif isinstance(node, list):
            for value in node:
                walk(value)

    for path in SCHEMAS.glob("*.json"):
        walk(json.loads(path.read_text(encoding="utf-8-sig")))
    return sorted(keys)


CAMEL_KEYS = _schema_keys()


@pytest.fixture(autouse=True)
def installed() -> Iterator[None]:
    was = bool(payload_conversion._library)
    payload_conversion.install()
    yield
    if not was:
        payload_conversion.uninstall()


def both(name: str, value: Any) -> tuple[Any, Any]:
    """(library helper's result, installed helper's result); the library's helpers recurse through
    the module, so they run with nothing installed."""
    payload_conversion.uninstall()
    try:
        expected = getattr(ocpp.charge_point, name)(value)
    finally:
        payload_conversion.install()
    return expected, getattr(ocpp.charge_point, name)(value)


def test_install_replaces_the_helpers_and_uninstall_restores_them() -> None:
    replaced = {name: getattr(ocpp.charge_point, name) for name in HELPERS}
    payload_conversion.uninstall()
    originals = {name: getattr(ocpp.charge_point, name) for name in HELPERS}
    payload_conversion.install()
    payload_conversion.install()
    for name in HELPERS:
        assert originals[name] is not replaced[name]
        assert payload_conversion.library_function(name) is originals[name]


KEYS = st.one_of(st.sampled_from(CAMEL_KEYS), st.sampled_from(CAMEL_KEYS).map(
    lambda k: payload_conversion.library_function("camel_to_snake_case")({k: None}).popitem()[0]),
    st.text(max_size=12))
LEAVES = st.one_of(st.none(), st.booleans(), st.integers(), st.floats(allow_nan=False), st.text(max_size=5),
                   st.sampled_from(list(enums.ChargePointStatus)), st.tuples(st.integers()))
TREES = st.recursive(LEAVES, lambda inner: st.one_of(st.lists(inner, max_size=3),
                                                     st.dictionaries(KEYS, inner, max_size=4)), max_leaves=25)


@settings(max_examples=300, deadline=None, suppress_health_check=list(HealthCheck))
@given(TREES)
def test_key_conversions_match_the_library(tree: Any) -> None:
    for name in ("snake_to_camel_case", "camel_to_snake_case", "remove_nones"):
        expected, actual = both(name, tree)
        assert actual == expected
        assert json.dumps(actual, default=str) == json.dumps(expected, default=str)  # same key order


def test_every_schema_key_round_trips_as_in_the_library() -> None:
    camel = {key: None for key in CAMEL_KEYS}
    expected, actual = both("camel_to_snake_case", camel)
    assert list(actual) == list(expected)
    expected, actual = both("snake_to_camel_case", actual)
    assert list(actual) == list(expected)


def test_a_non_string_key_fails_as_in_the_library() -> None:
    with pytest.raises(AttributeError):
        ocpp.charge_point.camel_to_snake_case({1: "x"})


PAYLOADS: list[Callable[[], Any]] = [
    lambda: call.Heartbeat(),
    lambda: call.MeterValues(connector_id=1, transaction_id=7, meter_value=[
        {"timestamp": "2026-01-01T00:00:00Z", "sampledValue": [
            {"value": "1.5", "measurand": "Voltage", "phase": "L1-N", "unit": "V"}]}]),
    lambda: call.MeterValues(connector_id=1, meter_value=[datatypes.MeterValue(
        timestamp="2026-01-01T00:00:00Z", sampled_value=[
            datatypes.SampledValue(value="2", context=enums.ReadingContext.sample_periodic)])]),
    lambda: call.StatusNotification(connector_id=1, error_code="NoError", status="Available",
                                    timestamp="2026-01-01T00:00:00Z"),
    lambda: call.StopTransaction(meter_stop=10, timestamp="2026-01-01T00:00:00Z", transaction_id=3,
                                 reason="Local", id_tag=None, transaction_data=None),
    lambda: call_result.StartTransaction(transaction_id=4, id_tag_info={"status": "Accepted"}),
    lambda: call_result.StartTransaction(transaction_id=4, id_tag_info=datatypes.IdTagInfo(
        status=enums.AuthorizationStatus.accepted, expiry_date="2027-01-01T00:00:00Z")),
    lambda: call_result.BootNotification(current_time="2026-01-01T00:00:00Z", interval=60,
                                         status=enums.RegistrationStatus.accepted),
    lambda: call_result.GetConfiguration(configuration_key=[datatypes.KeyValue(key="K", readonly=True)],
                                         unknown_key=("X",)),  # type: ignore[arg-type]
    lambda: call_result.GetConfiguration(configuration_key=[{"key": "K", "readonly": False, "value": "1"}]),
]


@pytest.mark.parametrize("make", PAYLOADS)
def test_serialize_as_dict_and_the_sent_payload_match_the_library(make: Callable[[], Any]) -> None:
    payload = make()
    expected, actual = both("serialize_as_dict", payload)
    assert actual == expected
    # What ChargePoint.call puts on the wire.
    payload_conversion.uninstall()
    try:
        wire = ocpp.charge_point.remove_nones(ocpp.charge_point.snake_to_camel_case(
            ocpp.charge_point.serialize_as_dict(payload)))
    finally:
        payload_conversion.install()
    ours = ocpp.charge_point.remove_nones(ocpp.charge_point.snake_to_camel_case(
        ocpp.charge_point.serialize_as_dict(payload)))
    assert json.dumps(ours) == json.dumps(wire)
