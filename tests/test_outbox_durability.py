"""Which outbox acknowledgements survive a power cut. Start and Stop acks are fsynced before the
next message goes, because a StartTransaction sent twice opens a second transaction at the
CSMS. A MeterValues ack commits without waiting for the disk: a process that is killed keeps
it, a power cut before the next fsync sends the message again (a duplicate the CSMS tolerates),
and the link makes it durable within ACK_SYNC_S.

A power cut is simulated from SQLite's own durability rules: the disk holds the database and
its WAL as they were at the last fsync, that is after the last commit made with
synchronous=FULL that wrote something, or after the last checkpoint. `PowerCutDisk` watches the
store's connection and copies the files at exactly those moments."""
from __future__ import annotations

import asyncio
import shutil
import sqlite3
from pathlib import Path
from typing import Any

import pytest

from chargepoint.ocpp.v16.link import ACK_SYNC_S, V16Link
from chargepoint.store import Store
from hal.clock import ManualClock

T0 = "2026-01-01T00:00:00.000Z"
T1 = "2026-01-01T00:01:00.000Z"
T2 = "2026-01-01T00:02:00.000Z"
CSMS_TX_ID = 4711


class PowerCutDisk:
    """Stands between a Store and its connection; keeps a copy of the files as the disk holds
    them after each fsync, and reopens that copy as the next boot would see it."""

    def __init__(self, store: Store, scratch: Path) -> None:
        self._db: sqlite3.Connection = store._db
        self._path = store.path
        self._disk = scratch / "disk"
        self._changes_at_begin = 0
        self.fsyncs = 0
        store._db = self  # type: ignore[assignment]
        self._save()  # everything so far was committed with synchronous=FULL

    def __getattr__(self, name: str) -> Any:
        return getattr(self._db, name)

    def execute(self, sql: str, *args: Any) -> sqlite3.Cursor:
        statement = sql.strip().upper()
        level = self._db.execute("PRAGMA synchronous").fetchone()[0]
        cursor = self._db.execute(sql, *args)
        if statement.startswith("BEGIN"):
            self._changes_at_begin = self._db.total_changes
        elif statement == "COMMIT" and level >= 2 and self._db.total_changes != self._changes_at_begin:
            self._save()  # FULL: the commit fsynced the WAL, and with it every frame before
        elif statement.startswith("PRAGMA WAL_CHECKPOINT"):
            row = cursor.fetchone()
            if row[0] == 0 and row[2] == row[1]:
                self._save()
            return self._db.execute("SELECT ?, ?, ?", tuple(row))  # the caller reads the result too
        return cursor

    def _save(self) -> None:
        self.fsyncs += 1
        shutil.rmtree(self._disk, ignore_errors=True)
        self._disk.mkdir(parents=True)
        for suffix in ("", "-wal"):
            source = Path(f"{self._path}{suffix}")
            if source.exists():
                shutil.copyfile(source, self._disk / (self._path.name + suffix))

    def boot_after_power_cut(self, scratch: Path) -> Store:
        """The database as the disk holds it (the -shm index is rebuilt from the WAL)."""
        target = scratch / "after-cut"
        shutil.copytree(self._disk, target)
        return Store(target / self._path.name)


@pytest.fixture
def store(tmp_path: Path):  # type: ignore[no-untyped-def]
    s = Store(tmp_path / "borne.db")
    yield s
    s.close()


def one_session(store: Store) -> int:
    """A transaction with two MeterValues queued between its start and its stop."""
    local_id = store.begin_transaction(1, 1, "TAG1", 100.0, T0, {"kind": "start"})
    store.record_meter_values(local_id, 150.0, T1, {"kind": "meter", "n": 1})
    store.record_meter_values(local_id, 180.0, T1, {"kind": "meter", "n": 2})
    store.end_transaction(local_id, 200.0, T2, "Local", {"kind": "stop"})
    return local_id


def ack_next(store: Store) -> str:
    head = store.outbox_head()
    assert head is not None
    store.outbox_ack(head.seq, csms_id=CSMS_TX_ID if head.kind == "start" else None)
    return head.kind


def queued(store: Store) -> list[tuple[str, Any]]:
    return [(item.kind, item.payload.get("n")) for item in store.outbox_batch(100)]


def test_a_meter_ack_not_yet_durable_is_sent_again_after_a_power_cut(store: Store, tmp_path: Path) -> None:
    local_id = one_session(store)
    disk = PowerCutDisk(store, tmp_path)
    assert ack_next(store) == "start"
    assert ack_next(store) == "meter"
    assert store.unsynced

    rebooted = disk.boot_after_power_cut(tmp_path)
    try:
        # The MeterValues goes again; the StartTransaction does not, and its id is kept.
        assert queued(rebooted) == [("meter", 1), ("meter", 2), ("stop", None)]
        head = rebooted.outbox_head()
        assert head is not None and head.csms_id == CSMS_TX_ID
        assert rebooted.transaction(local_id).csms_id == CSMS_TX_ID  # type: ignore[union-attr]
    finally:
        rebooted.close()


def test_a_killed_process_keeps_its_meter_acks(store: Store, tmp_path: Path) -> None:
    one_session(store)
    ack_next(store)
    ack_next(store)
    assert store.unsynced
    # Another process opening the files the killed one left (the operating system still has
    # every write): nothing is sent again.
    restarted = Store(store.path)
    try:
        assert queued(restarted) == [("meter", 2), ("stop", None)]
    finally:
        restarted.close()


@pytest.mark.parametrize("acked", [1, 4])
def test_start_and_stop_acks_are_never_sent_again_after_a_power_cut(store: Store, tmp_path: Path,
                                                                    acked: int) -> None:
    one_session(store)
    disk = PowerCutDisk(store, tmp_path)
    kinds = [ack_next(store) for _ in range(acked)]
    assert kinds == ["start", "meter", "meter", "stop"][:acked]
    assert not store.unsynced  # the last ack, a Start or a Stop, was fsynced

    rebooted = disk.boot_after_power_cut(tmp_path)
    try:
        if acked == 1:
            assert queued(rebooted) == [("meter", 1), ("meter", 2), ("stop", None)]
        else:  # the Stop's fsync carried the MeterValues acks before it as well
            assert queued(rebooted) == []
    finally:
        rebooted.close()


def test_sync_makes_meter_acks_durable(store: Store, tmp_path: Path) -> None:
    one_session(store)
    disk = PowerCutDisk(store, tmp_path)
    ack_next(store)
    ack_next(store)
    fsyncs = disk.fsyncs
    store.sync()
    assert not store.unsynced and disk.fsyncs == fsyncs + 1
    store.sync()  # nothing left to make durable: no disk work
    assert disk.fsyncs == fsyncs + 1

    rebooted = disk.boot_after_power_cut(tmp_path)
    try:
        assert queued(rebooted) == [("meter", 2), ("stop", None)]
    finally:
        rebooted.close()


def test_close_makes_meter_acks_durable(tmp_path: Path) -> None:
    store = Store(tmp_path / "borne.db")
    one_session(store)
    disk = PowerCutDisk(store, tmp_path)
    ack_next(store)
    ack_next(store)
    store.close()
    rebooted = disk.boot_after_power_cut(tmp_path)
    try:
        assert queued(rebooted) == [("meter", 2), ("stop", None)]
    finally:
        rebooted.close()


async def test_the_link_makes_meter_acks_durable_within_a_second(store: Store, tmp_path: Path) -> None:
    one_session(store)
    disk = PowerCutDisk(store, tmp_path)
    link = V16Link.__new__(V16Link)
    link.store = store
    link.clock = clock = ManualClock()
    link._ack_sync_due = asyncio.Event()
    syncer = asyncio.create_task(link._sync_acks())
    try:
        for _ in range(2):
            head = store.outbox_head()
            assert head is not None
            link._ack(head.seq, csms_id=CSMS_TX_ID if head.kind == "start" else None)
        assert store.unsynced
        await settle()
        clock.advance(ACK_SYNC_S * 0.9)
        await settle()
        assert store.unsynced
        clock.advance(ACK_SYNC_S * 0.1)
        await settle()
        assert not store.unsynced and not link._ack_sync_due.is_set()
    finally:
        syncer.cancel()
    rebooted = disk.boot_after_power_cut(tmp_path)
    try:
        assert queued(rebooted) == [("meter", 2), ("stop", None)]
    finally:
        rebooted.close()


async def settle() -> None:
    """Let woken tasks run to their next wait (a few loop turns, no time passes)."""
    for _ in range(5):
        await asyncio.sleep(0)
