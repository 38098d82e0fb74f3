"""Rendering between core records and OCPP 1.6 payloads."""
from __future__ import annotations

from chargepoint.ocpp.v16.render import decision_from


def test_id_tag_info_as_the_library_hands_it_over() -> None:
    """Nested objects of a call result arrive with snake_case keys."""
    decision = decision_from({"status": "Accepted", "parent_id_tag": "FLEET", "expiry_date": "2030-01-01T00:00:00Z"})
    assert (decision.status, decision.parent_id_tag, decision.expiry) == ("Accepted", "FLEET", "2030-01-01T00:00:00Z")


def test_id_tag_info_in_wire_form() -> None:
    decision = decision_from({"status": "Blocked", "parentIdTag": "FLEET", "expiryDate": "2030-01-01T00:00:00Z"})
    assert (decision.status, decision.parent_id_tag, decision.expiry) == ("Blocked", "FLEET", "2030-01-01T00:00:00Z")


def test_missing_id_tag_info_is_invalid() -> None:
    assert decision_from(None).status == "Invalid"
