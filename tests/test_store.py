"""The SQLite store: durability settings, atomic state+message writes, the outbox, the auth cache."""
from __future__ import annotations

import sqlite3
from pathlib import Path

import pytest

import chargepoint.store as store_module
from chargepoint.store import SCHEMA_VERSION, Store, StoreError

T0 = "2026-01-01T00:00:00.000Z"
T1 = "2026-01-01T00:05:00.000Z"
T2 = "2026-01-01T00:10:00.000Z"


@pytest.fixture
def db_path(tmp_path: Path) -> Path:
    return tmp_path / "run" / "borne.db"


@pytest.fixture
def store(db_path: Path):  # type: ignore[no-untyped-def]
    s = Store(db_path)
    yield s
    s.close()


def begin(store: Store, evse_id: int = 1, tag: str = "TAG1", at: str = T0, meter: float = 100.0) -> int:
    return store.begin_transaction(evse_id, 1, tag, meter, at, {"kind": "start", "evse": evse_id, "tag": tag})


def drain(store: Store) -> list[tuple[str, int, dict]]:  # type: ignore[type-arg]
    items = []
    while (head := store.outbox_head()) is not None:
        items.append((head.kind, head.local_tx, head.payload))
        store.outbox_ack(head.seq)
    return items


def count(store: Store, table: str) -> int:
    return store._db.execute(f"SELECT COUNT(*) FROM {table}").fetchone()[0]


# --- opening --------------------------------------------------------------------------------


def test_new_database_is_wal_and_synchronous_full(store: Store, db_path: Path) -> None:
    assert db_path.exists()  # parent directory created as needed
    assert store._db.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
    assert store._db.execute("PRAGMA synchronous").fetchone()[0] == 2  # FULL
    assert store._db.execute("PRAGMA user_version").fetchone()[0] == SCHEMA_VERSION
    # WAL mode is a property of the file: another connection sees it too.
    other = sqlite3.connect(str(db_path))
    try:
        assert other.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
    finally:
        other.close()


def test_newer_schema_version_is_refused_with_a_clear_message(db_path: Path) -> None:
    db_path.parent.mkdir(parents=True)
    conn = sqlite3.connect(str(db_path))
    conn.execute(f"PRAGMA user_version={SCHEMA_VERSION + 1}")
    conn.commit()
    conn.close()
    with pytest.raises(StoreError) as info:
        Store(db_path)
    message = str(info.value)
    assert str(db_path) in message
    assert f"schema version {SCHEMA_VERSION + 1}" in message
    assert "newer" in message


def test_a_file_that_is_not_a_database_names_the_path(db_path: Path) -> None:
    db_path.parent.mkdir(parents=True)
    db_path.write_bytes(b"this is not an SQLite database, just some text\n" * 100)
    with pytest.raises(StoreError) as info:
        Store(db_path)
    assert str(db_path) in str(info.value)
    assert "not a database" in str(info.value)


def test_reopening_keeps_the_schema(db_path: Path) -> None:
    Store(db_path).close()
    s = Store(db_path)
    try:
        assert s._db.execute("PRAGMA user_version").fetchone()[0] == SCHEMA_VERSION
    finally:
        s.close()


# --- transactions and their messages -------------------------------------------------------


def test_begin_transaction_writes_the_transaction_and_its_start_message(store: Store) -> None:
    local_id = begin(store)
    tx = store.transaction(local_id)
    assert tx is not None
    assert (tx.evse_id, tx.id_tag, tx.meter_start_wh, tx.started_at) == (1, "TAG1", 100.0, T0)
    assert tx.last_meter_wh == 100.0 and tx.csms_id is None and tx.stopped_at is None
    head = store.outbox_head()
    assert head is not None
    assert (head.kind, head.local_tx, head.payload, head.created_at, head.attempts) == (
        "start", local_id, {"kind": "start", "evse": 1, "tag": "TAG1"}, T0, 0)


def test_begin_transaction_is_all_or_nothing(store: Store, monkeypatch: pytest.MonkeyPatch) -> None:
    def broken_enqueue(*args: object) -> None:
        raise sqlite3.OperationalError("disk I/O error")

    monkeypatch.setattr(store, "_enqueue", broken_enqueue)
    with pytest.raises(sqlite3.OperationalError):
        begin(store)
    assert count(store, "transactions") == 0
    assert count(store, "outbox") == 0
    assert store.open_transactions() == []
    monkeypatch.undo()
    # The store stays usable after the rollback.
    local_id = begin(store)
    assert [t.local_id for t in store.open_transactions()] == [local_id]


def test_end_transaction_is_all_or_nothing(store: Store, monkeypatch: pytest.MonkeyPatch) -> None:
    local_id = begin(store)
    drain(store)

    def broken_enqueue(*args: object) -> None:
        raise sqlite3.OperationalError("disk full")

    monkeypatch.setattr(store, "_enqueue", broken_enqueue)
    with pytest.raises(sqlite3.OperationalError):
        store.end_transaction(local_id, 200.0, T1, "Local", {"kind": "stop"})
    tx = store.transaction(local_id)
    assert tx is not None and tx.stopped_at is None  # the stop was rolled back with its message
    assert store.outbox_head() is None


def test_outbox_is_fifo_across_two_transactions(store: Store) -> None:
    a = begin(store, evse_id=1, tag="A")
    b = begin(store, evse_id=2, tag="B")
    store.record_meter_values(a, 150.0, T1, {"kind": "meter", "tx": "A"})
    store.record_meter_values(b, 250.0, T1, None)  # persisted, nothing to send
    store.record_meter_values(b, 260.0, T1, {"kind": "meter", "tx": "B"})
    store.end_transaction(b, 300.0, T2, "EVDisconnected", {"kind": "stop", "tx": "B"})
    store.end_transaction(a, 200.0, T2, "Local", {"kind": "stop", "tx": "A"})
    assert [(kind, tx) for kind, tx, _ in drain(store)] == [
        ("start", a), ("start", b), ("meter", a), ("meter", b), ("stop", b), ("stop", a),
    ]
    assert store.outbox_stats() == (0, None)


def test_record_meter_values_updates_the_last_reading(store: Store) -> None:
    local_id = begin(store)
    store.record_meter_values(local_id, 123.5, T1, None)
    tx = store.transaction(local_id)
    assert tx is not None and (tx.last_meter_wh, tx.last_meter_at) == (123.5, T1)
    assert store.outbox_stats() == (1, T0)  # only the start message


def test_outbox_ack_records_the_csms_id_for_later_messages(store: Store) -> None:
    local_id = begin(store)
    store.record_meter_values(local_id, 150.0, T1, {"kind": "meter"})
    store.end_transaction(local_id, 200.0, T2, "Local", {"kind": "stop"})
    start = store.outbox_head()
    assert start is not None and start.kind == "start" and start.csms_id is None
    store.outbox_ack(start.seq, csms_id=4711)
    meter = store.outbox_head()
    assert meter is not None and meter.kind == "meter" and meter.csms_id == 4711
    store.outbox_ack(meter.seq)  # acking without an id keeps the known one
    stop = store.outbox_head()
    assert stop is not None and stop.kind == "stop" and stop.csms_id == 4711
    tx = store.transaction_by_csms_id(4711)
    assert tx is not None and tx.local_id == local_id


def test_outbox_ack_of_an_unknown_seq_is_ignored(store: Store) -> None:
    begin(store)
    store.outbox_ack(999, csms_id=1)
    head = store.outbox_head()
    assert head is not None and head.csms_id is None


def test_outbox_attempted_counts(store: Store) -> None:
    begin(store)
    head = store.outbox_head()
    assert head is not None
    assert store.outbox_attempted(head.seq) == 1
    assert store.outbox_attempted(head.seq) == 2
    assert store.outbox_attempted(head.seq) == 3
    again = store.outbox_head()
    assert again is not None and again.attempts == 3
    assert store.outbox_attempted(12345) == 0  # gone (acked) or never there


def test_end_transaction_twice_raises(store: Store) -> None:
    local_id = begin(store)
    store.end_transaction(local_id, 200.0, T1, "Local", {"kind": "stop"})
    with pytest.raises(StoreError, match=f"transaction {local_id} is not open"):
        store.end_transaction(local_id, 210.0, T2, "Local", {"kind": "stop"})
    # the failed second stop queued nothing
    assert [kind for kind, _, _ in drain(store)] == ["start", "stop"]


def test_end_of_an_unknown_transaction_raises(store: Store) -> None:
    with pytest.raises(StoreError):
        store.end_transaction(42, 0.0, T1, "Local", {})


def test_data_persists_across_close_and_reopen(db_path: Path) -> None:
    s = Store(db_path)
    a = begin(s, evse_id=1, tag="A")
    b = begin(s, evse_id=2, tag="B")
    s.record_meter_values(a, 150.0, T1, None)
    s.end_transaction(b, 300.0, T2, "Local", {"kind": "stop"})
    s.save_setting("HeartbeatInterval", "120")
    s.save_availability(2, False)
    s.cache_put("TAG9", "Accepted", None, None)
    s.close()

    s = Store(db_path)
    try:
        open_txs = s.open_transactions()
        assert [(t.local_id, t.id_tag, t.last_meter_wh) for t in open_txs] == [(a, "A", 150.0)]
        stopped = s.transaction(b)
        assert stopped is not None and stopped.stop_reason == "Local" and stopped.meter_stop_wh == 300.0
        assert [kind for kind, _, _ in drain(s)] == ["start", "start", "stop"]
        assert s.load_settings() == {"HeartbeatInterval": "120"}
        assert s.load_availability() == {2: False}
        cached = s.cache_get("TAG9")
        assert cached is not None and cached.status == "Accepted"
    finally:
        s.close()


def test_settings_and_availability_overwrite(store: Store) -> None:
    store.save_setting("K", "1")
    store.save_setting("K", "2")
    store.save_availability(1, False)
    store.save_availability(1, True)
    assert store.load_settings() == {"K": "2"}
    assert store.load_availability() == {1: True}


# --- authorisation cache --------------------------------------------------------------------


def test_cache_put_and_get(store: Store) -> None:
    store.cache_put("TAG1", "Accepted", T2, "PARENT")
    cached = store.cache_get("TAG1")
    assert cached is not None
    assert (cached.id_tag, cached.status, cached.expiry, cached.parent_id_tag) == ("TAG1", "Accepted", T2, "PARENT")
    store.cache_put("TAG1", "Blocked", None, None)
    cached = store.cache_get("TAG1")
    assert cached is not None and cached.status == "Blocked" and cached.expiry is None
    assert store.cache_get("OTHER") is None
    store.cache_clear()
    assert store.cache_get("TAG1") is None


def test_auth_cache_is_bounded_and_drops_non_accepted_first(
        store: Store, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(store_module, "AUTH_CACHE_MAX_ENTRIES", 3)
    store.cache_put("OLD-OK", "Accepted", None, None)
    store.cache_put("BLOCKED", "Blocked", None, None)
    store.cache_put("NEW-OK", "Accepted", None, None)
    store.cache_put("NEWEST-OK", "Accepted", None, None)
    # Full: the invalid entry goes first, although it is not the oldest.
    assert store.cache_get("BLOCKED") is None
    assert all(store.cache_get(t) is not None for t in ("OLD-OK", "NEW-OK", "NEWEST-OK"))
    store.cache_put("EXPIRED", "Expired", None, None)
    # Only Accepted entries and a new non-Accepted one: the non-Accepted one is dropped.
    assert store.cache_get("EXPIRED") is None
    store.cache_put("LATEST-OK", "Accepted", None, None)
    # All Accepted: the least recently updated goes.
    assert store.cache_get("OLD-OK") is None
    assert [t for t in ("NEW-OK", "NEWEST-OK", "LATEST-OK") if store.cache_get(t)] == ["NEW-OK", "NEWEST-OK", "LATEST-OK"]
    assert count(store, "auth_cache") == 3


def test_auth_cache_update_refreshes_recency(store: Store, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(store_module, "AUTH_CACHE_MAX_ENTRIES", 2)
    store.cache_put("A", "Accepted", None, None)
    store.cache_put("B", "Accepted", None, None)
    store.cache_put("A", "Accepted", T2, None)  # A is now the most recent
    store.cache_put("C", "Accepted", None, None)
    assert store.cache_get("B") is None
    assert store.cache_get("A") is not None and store.cache_get("C") is not None
