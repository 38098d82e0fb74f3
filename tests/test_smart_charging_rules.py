"""SetChargingProfile and ClearChargingProfile rules: every Rejected case, replacement, the clear
filters and their Unknown answer, the capacity limit, and profiles surviving a restart."""
from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from chargepoint.settings import SMART_MAX_PERIODS, SMART_MAX_PROFILES, SMART_MAX_STACK_LEVEL, Settings, core_keys
from chargepoint.smart_charging import SmartCharging, TransactionRef
from chargepoint.smart_charging.model import EvseElectrics, Purpose
from chargepoint.smart_charging.payload import ProfileFormatError, profile_from_ocpp
from chargepoint.store import Store
from chargepoint.store_recovery import recover
from smart_charging_helpers import at, payload

NOW = at("2026-03-02 12:00")
TX = TransactionRef(local_id=5, csms_id=1234, started_at=at("2026-03-02 11:00"))


class Book:
    """A SmartCharging on a real store, as the station builds it."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.store = Store(path)
        self.settings = Settings(core_keys(2, 300), self.store)
        electrics = EvseElectrics(phases=3, voltage_v=230.0, max_current_a=32.0)
        self.smart = SmartCharging(self.store, self.settings, {1: electrics, 2: electrics})

    def set(self, data: dict[str, Any], connector: int = 1, tx: TransactionRef | None = None) -> str | None:
        return self.smart.set_profile(profile_from_ocpp(data, connector), tx, NOW)

    def ids(self) -> list[int]:
        return sorted(p.id for p in self.smart.registry.profiles)

    def reopen(self) -> Book:
        """As after a restart: the same database, everything else built again."""
        self.store.close()
        fresh = Book(self.path)
        self.store, self.settings, self.smart = fresh.store, fresh.settings, fresh.smart
        return self


@pytest.fixture
def book(tmp_path: Path) -> Iterator[Book]:
    b = Book(tmp_path / "borne.db")
    yield b
    b.store.close()


def default(profile_id: int, stack: int = 0, **kw: Any) -> dict[str, Any]:
    return payload(profile_id, "TxDefaultProfile", [(0, 16)], stack=stack, **kw)


# ---- what is Rejected --------------------------------------------------------------------------------

REJECTED: list[tuple[str, dict[str, Any], int, TransactionRef | None]] = [
    ("TxProfile without a transaction", payload(1, "TxProfile", [(0, 10)]), 1, None),
    ("TxProfile naming another transaction", payload(1, "TxProfile", [(0, 10)], transaction_id=999), 1, TX),
    ("TxProfile on connector 0", payload(1, "TxProfile", [(0, 10)]), 0, TX),
    ("ChargePointMaxProfile on a connector", payload(1, "ChargePointMaxProfile", [(0, 10)]), 1, None),
    ("relative ChargePointMaxProfile", payload(1, "ChargePointMaxProfile", [(0, 10)], kind="Relative", start=None),
     0, None),
    ("transactionId on a default profile", payload(1, "TxDefaultProfile", [(0, 10)], transaction_id=1234), 1, TX),
    ("stack level above ChargeProfileMaxStackLevel", default(1, stack=SMART_MAX_STACK_LEVEL + 1), 1, None),
    ("negative stack level", default(1, stack=-1), 1, None),
    ("more periods than ChargingScheduleMaxPeriods",
     payload(1, "TxDefaultProfile", [(60 * i, 16) for i in range(SMART_MAX_PERIODS + 1)]), 1, None),
    ("no period", payload(1, "TxDefaultProfile", []), 1, None),
    ("first period not at 0", payload(1, "TxDefaultProfile", [(60, 16)]), 1, None),
    ("periods out of order", payload(1, "TxDefaultProfile", [(0, 16), (600, 10), (300, 8)]), 1, None),
    ("negative limit", payload(1, "TxDefaultProfile", [(0, -1)]), 1, None),
    ("five phases", payload(1, "TxDefaultProfile", [{"startPeriod": 0, "limit": 10, "numberPhases": 5}]), 1, None),
    ("recurring without recurrencyKind", default(1, kind="Recurring"), 1, None),
    ("recurrencyKind on an absolute profile", default(1, recurrency="Daily"), 1, None),
    ("validTo before validFrom", default(1, valid_from="2026-03-05T00:00:00Z", valid_to="2026-03-04T00:00:00Z"),
     1, None),
    ("negative duration", default(1, duration=-5), 1, None),
    ("negative minChargingRate", default(1, min_rate=-1), 1, None),
]


@pytest.mark.parametrize(("data", "connector", "tx"), [r[1:] for r in REJECTED], ids=[r[0] for r in REJECTED])
def test_rejected_profiles_are_not_installed(book: Book, data: dict[str, Any], connector: int,
                                             tx: TransactionRef | None) -> None:
    assert book.set(data, connector, tx) is not None
    assert book.ids() == []


def test_unit_not_in_the_allowed_units_is_rejected(book: Book, monkeypatch: pytest.MonkeyPatch) -> None:
    real = book.settings.get_list
    monkeypatch.setattr(book.settings, "get_list", lambda name: ["Current"] if name.startswith("ChargingSchedule")
                        else real(name))
    assert book.set(payload(1, "TxDefaultProfile", [(0, 11000)], unit="W")) is not None
    assert book.set(payload(2, "TxDefaultProfile", [(0, 16)], unit="A")) is None
    assert book.ids() == [2]


def test_smart_charging_keys_are_read_only_and_advertised(book: Book) -> None:
    s = book.settings
    assert "SmartCharging" in s.get_list("SupportedFeatureProfiles")
    assert s.get_list("ChargingScheduleAllowedChargingRateUnit") == ["Current", "Power"]
    for key in ("ChargeProfileMaxStackLevel", "ChargingScheduleAllowedChargingRateUnit",
                "ChargingScheduleMaxPeriods", "MaxChargingProfilesInstalled"):
        assert s.change(key, "1").value == "Rejected"


def test_accepted_profiles(book: Book) -> None:
    assert book.set(payload(1, "TxProfile", [(0, 10)], transaction_id=1234), 1, TX) is None
    assert book.set(payload(2, "TxProfile", [(0, 10)], stack=1), 2, TX) is None  # the running one, unnamed
    assert book.set(payload(3, "ChargePointMaxProfile", [(0, 40)]), 0) is None
    assert book.set(payload(4, "TxDefaultProfile", [(0, 16)]), 0) is None
    assert book.set(payload(5, "TxDefaultProfile", [(0, 16)], stack=SMART_MAX_STACK_LEVEL)) is None
    assert book.ids() == [1, 2, 3, 4, 5]
    assert {p.id: p.local_tx for p in book.smart.registry.profiles if p.purpose is Purpose.TX} == {1: 5, 2: 5}


def test_more_than_max_charging_profiles_installed_is_rejected(book: Book) -> None:
    levels = SMART_MAX_STACK_LEVEL + 1
    assert 3 * levels > SMART_MAX_PROFILES  # connectors 0, 1 and 2 have room for one more
    for i in range(SMART_MAX_PROFILES):
        assert book.set(default(100 + i, stack=i % levels), connector=i // levels) is None
    full = SMART_MAX_PROFILES
    assert book.set(default(999, stack=full % levels), connector=full // levels) is not None
    # Replacing one is not adding one.
    assert book.set(default(100, stack=0), connector=0) is None
    assert len(book.ids()) == SMART_MAX_PROFILES


def test_unparseable_profile_is_a_format_error() -> None:
    with pytest.raises(ProfileFormatError):
        profile_from_ocpp({"chargingProfileId": 1, "stackLevel": 0}, 1)
    with pytest.raises(ProfileFormatError):
        profile_from_ocpp(default(1, valid_from="soon"), 1)


# ---- replacement -----------------------------------------------------------------------------------


def test_same_id_replaces_whatever_it_was(book: Book) -> None:
    book.set(default(1, stack=0), connector=1)
    book.set(default(1, stack=4), connector=2)
    [only] = book.smart.registry.profiles
    assert (only.id, only.connector_id, only.stack_level) == (1, 2, 4)


def test_same_stack_level_purpose_and_connector_replaces(book: Book) -> None:
    book.set(default(1, stack=2), connector=1)
    book.set(default(2, stack=2), connector=1)
    assert book.ids() == [2]


def test_same_stack_level_elsewhere_or_for_another_purpose_is_added(book: Book) -> None:
    book.set(default(1, stack=2), connector=1)
    book.set(default(2, stack=2), connector=2)
    book.set(default(3, stack=2), connector=0)
    book.set(payload(4, "TxProfile", [(0, 10)], stack=2), connector=1, tx=TX)
    book.set(payload(5, "ChargePointMaxProfile", [(0, 10)], stack=2), connector=0)
    assert book.ids() == [1, 2, 3, 4, 5]


# ---- clearing --------------------------------------------------------------------------------------


@pytest.fixture
def stocked(book: Book) -> Book:
    book.set(default(1, stack=0), connector=0)
    book.set(default(2, stack=1), connector=0)
    book.set(default(3, stack=0), connector=1)
    book.set(default(4, stack=1), connector=1)
    book.set(payload(5, "TxProfile", [(0, 10)], stack=1), connector=1, tx=TX)
    book.set(payload(6, "ChargePointMaxProfile", [(0, 40)], stack=0), connector=0)
    book.set(default(7, stack=1), connector=2)
    assert book.ids() == [1, 2, 3, 4, 5, 6, 7]
    return book


CLEARS: list[tuple[dict[str, Any], list[int]]] = [
    ({}, []),
    ({"profile_id": 4}, [1, 2, 3, 5, 6, 7]),
    ({"profile_id": 4, "connector_id": 2, "purpose": Purpose.TX}, [1, 2, 3, 5, 6, 7]),  # id alone counts
    ({"connector_id": 1}, [1, 2, 6, 7]),
    ({"connector_id": 0}, [3, 4, 5, 7]),
    ({"purpose": Purpose.TX_DEFAULT}, [5, 6]),
    ({"stack_level": 1}, [1, 3, 6]),
    ({"connector_id": 1, "purpose": Purpose.TX_DEFAULT}, [1, 2, 5, 6, 7]),
    ({"connector_id": 1, "stack_level": 1}, [1, 2, 3, 6, 7]),
    ({"purpose": Purpose.TX_DEFAULT, "stack_level": 1}, [1, 3, 5, 6]),
    ({"connector_id": 1, "purpose": Purpose.TX_DEFAULT, "stack_level": 1}, [1, 2, 3, 5, 6, 7]),
    ({"connector_id": 0, "purpose": Purpose.CHARGE_POINT_MAX}, [1, 2, 3, 4, 5, 7]),
]


@pytest.mark.parametrize(("filters", "left"), CLEARS, ids=[repr(c[0]) for c in CLEARS])
def test_clear_filters(stocked: Book, filters: dict[str, Any], left: list[int]) -> None:
    args = {"profile_id": None, "connector_id": None, "purpose": None, "stack_level": None, **filters}
    assert stocked.smart.clear(**args) is True
    assert stocked.ids() == left
    assert stocked.reopen().ids() == [i for i in left if i != 5]  # and so it stays (5 was a TxProfile)


UNKNOWN: list[dict[str, Any]] = [
    {"profile_id": 42},
    {"connector_id": 2, "purpose": Purpose.TX},
    {"connector_id": 7},
    {"stack_level": 5},
    {"connector_id": 2, "stack_level": 0},
    {"purpose": Purpose.CHARGE_POINT_MAX, "stack_level": 1},
]


@pytest.mark.parametrize("filters", UNKNOWN, ids=[repr(f) for f in UNKNOWN])
def test_clear_without_a_match_is_unknown_and_clears_nothing(stocked: Book, filters: dict[str, Any]) -> None:
    args = {"profile_id": None, "connector_id": None, "purpose": None, "stack_level": None, **filters}
    assert stocked.smart.clear(**args) is False
    assert stocked.ids() == [1, 2, 3, 4, 5, 6, 7]


def test_clear_on_an_empty_charge_point_is_unknown(book: Book) -> None:
    assert book.smart.clear(None, None, None, None) is False


# ---- transactions and persistence ------------------------------------------------------------------


def test_tx_profiles_end_with_their_transaction(book: Book) -> None:
    book.set(payload(1, "TxProfile", [(0, 10)]), connector=1, tx=TX)
    book.set(default(2), connector=1)
    assert book.smart.transaction_ended(TX.local_id) is True
    assert book.ids() == [2]
    assert book.smart.transaction_ended(TX.local_id) is False


def test_profiles_survive_a_restart_as_they_were_sent(book: Book) -> None:
    sent = payload(1, "TxDefaultProfile", [{"startPeriod": 0, "limit": 11000.5, "numberPhases": 1},
                                           {"startPeriod": 3600, "limit": 7400}],
                   unit="W", kind="Recurring", recurrency="Weekly", start="2026-03-02T00:00:00Z",
                   duration=86400, valid_from="2026-03-01T00:00:00Z", valid_to="2027-01-01T00:00:00Z", min_rate=6.5)
    book.set(sent, connector=2)
    book.set(payload(2, "ChargePointMaxProfile", [(0, 40)], start=None), connector=0)
    before = {p.id: p for p in book.smart.registry.profiles}
    after = {p.id: p for p in book.reopen().smart.registry.profiles}
    assert after == before
    assert after[2].installed_at == NOW  # the start of a charge-point-wide schedule without one


def test_tx_profiles_do_not_outlive_a_restart(book: Book) -> None:
    book.set(payload(1, "TxProfile", [(0, 10)]), connector=1, tx=TX)
    book.set(default(2), connector=1)
    reopened = book.reopen()
    assert reopened.ids() == [2]
    assert [r.profile_id for r in reopened.store.load_charging_profiles()] == [2]


def test_remote_start_profile_rules(book: Book) -> None:
    ok = profile_from_ocpp(payload(1, "TxProfile", [(0, 10)], kind="Relative", start=None), 1)
    assert book.smart.remote_start_reason(ok) is None
    for bad in (payload(1, "TxDefaultProfile", [(0, 10)]),  # must be a TxProfile
                payload(1, "TxProfile", [(0, 10)], transaction_id=5),  # errata 3.41
                payload(1, "TxProfile", [(0, 10)], stack=SMART_MAX_STACK_LEVEL + 1)):
        assert book.smart.remote_start_reason(profile_from_ocpp(bad, 1)) is not None
    book.smart.transaction_started(1, TX, ok, NOW)
    [installed] = book.smart.registry.profiles
    assert (installed.local_tx, installed.connector_id) == (TX.local_id, 1)
    # Errata 3.42: a SetChargingProfile for the transaction at the same stack level replaces it.
    assert book.set(payload(2, "TxProfile", [(0, 16)], transaction_id=TX.csms_id), connector=1, tx=TX) is None
    assert book.ids() == [2]


def test_profiles_are_kept_by_a_database_recovery(book: Book) -> None:
    book.set(default(1), connector=2)
    book.store.close()
    report = recover(book.path)
    assert report.rows["charging_profiles"] == 1
    assert book.reopen().ids() == [1]
