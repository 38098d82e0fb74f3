"""The hold debouncer shared by the readers."""
from __future__ import annotations

import pytest

from drivers.rfid.debounce import HoldDebouncer


def test_polled_card_held_is_reported_once() -> None:
    d = HoldDebouncer(1.0)
    assert d.observe(["A"], 0.0, silence_is_absence=False) == ["A"]
    for k in range(1, 50):
        assert d.observe(["A"], k * 0.2, silence_is_absence=False) == []
    assert d.held == {"A"}


def test_polled_release_needs_absence_for_hold_time() -> None:
    d = HoldDebouncer(1.0)
    d.observe(["A"], 0.0, silence_is_absence=False)
    assert d.observe([], 0.5, silence_is_absence=False) == []
    assert d.observe(["A"], 0.7, silence_is_absence=False) == []  # back within the hold: same tap
    assert d.observe([], 1.2, silence_is_absence=False) == []
    assert d.held == {"A"}
    assert d.observe([], 1.7, silence_is_absence=False) == []
    assert d.held == frozenset()
    assert d.observe(["A"], 1.9, silence_is_absence=False) == ["A"]


def test_polled_failed_polls_do_not_release() -> None:
    # No observation for a long time (errors, port gone), then the card is still there.
    d = HoldDebouncer(1.0)
    d.observe(["A"], 0.0, silence_is_absence=False)
    assert d.observe(["A"], 30.0, silence_is_absence=False) == []


def test_polled_other_card_is_reported_at_once() -> None:
    d = HoldDebouncer(1.0)
    d.observe(["A"], 0.0, silence_is_absence=False)
    assert d.observe(["B"], 0.2, silence_is_absence=False) == ["B"]


def test_streamed_silence_releases() -> None:
    d = HoldDebouncer(1.0)
    assert d.observe(["A"], 0.0, silence_is_absence=True) == ["A"]
    assert d.observe(["A"], 0.9, silence_is_absence=True) == []
    assert d.observe(["A"], 1.8, silence_is_absence=True) == []
    assert d.observe(["A"], 2.9, silence_is_absence=True) == ["A"]


def test_negative_hold_rejected() -> None:
    with pytest.raises(ValueError):
        HoldDebouncer(-1)
