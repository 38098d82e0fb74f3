"""A damaged database is refused with a clear message, and recovery keeps what can be read."""
from __future__ import annotations

from pathlib import Path

import pytest

from chargepoint.store import Store, StoreError
from chargepoint.store_recovery import recover


def _filled(path: Path) -> None:
    store = Store(path)
    store.save_setting("HeartbeatInterval", "120")
    for n in range(50):
        local = store.begin_transaction(1, 1, f"TAG{n}", 100.0 * n, "2026-01-01T00:00:00.000Z", {"n": n})
        store.end_transaction(local, 100.0 * n + 5, "2026-01-01T01:00:00.000Z", "Local", {"n": n})
    store.close()


def test_damaged_file_is_refused_naming_the_file_and_the_way_out(tmp_path: Path) -> None:
    path = tmp_path / "borne.db"
    _filled(path)
    data = bytearray(path.read_bytes())
    page = int.from_bytes(data[16:18], "big")
    data[page * 2:] = b"\xa5" * (len(data) - page * 2)  # every page after the second is garbage
    path.write_bytes(bytes(data))
    with pytest.raises(StoreError) as err:
        Store(path)
    assert str(path) in str(err.value) and "chargepoint storage recover" in str(err.value)


def test_recovery_keeps_what_can_be_read_and_moves_the_file_aside(tmp_path: Path) -> None:
    path = tmp_path / "borne.db"
    _filled(path)
    report = recover(path)
    assert report.damaged_copy.exists()
    assert report.rows["outbox"] == 100  # a start and a stop per transaction
    store = Store(path)
    assert store.load_settings() == {"HeartbeatInterval": "120"}
    assert store.outbox_head().payload == {"n": 0}
    store.close()


def test_queued_meter_values_are_bounded_but_starts_and_stops_are_not(tmp_path: Path, monkeypatch) -> None:
    import chargepoint.store as store_module

    monkeypatch.setattr(store_module, "MAX_QUEUED_METER_VALUES", 5)
    store = Store(tmp_path / "borne.db")
    local = store.begin_transaction(1, 1, "TAG", 0.0, "t0", {"start": True})
    for n in range(12):
        store.record_meter_values(local, float(n), f"t{n}", {"n": n})
    store.end_transaction(local, 12.0, "t13", "Local", {"stop": True})
    kinds = [r[0] for r in store._db.execute("SELECT kind FROM outbox ORDER BY seq")]
    assert kinds == ["start"] + ["meter"] * 5 + ["stop"]
    kept = [r[0] for r in store._db.execute("SELECT payload FROM outbox WHERE kind='meter' ORDER BY seq")]
    assert kept == [f'{{"n":{n}}}' for n in range(7, 12)]
    store.close()


def test_recovery_of_a_damaged_file_yields_a_usable_database(tmp_path: Path) -> None:
    path = tmp_path / "borne.db"
    _filled(path)
    data = bytearray(path.read_bytes())
    page = int.from_bytes(data[16:18], "big")
    data[page * 3:] = b"\xa5" * (len(data) - page * 3)
    path.write_bytes(bytes(data))
    report = recover(path)
    assert report.lost  # something could not be read, and the report says where
    store = Store(path)  # the rebuilt database opens and passes its integrity check
    store.close()
