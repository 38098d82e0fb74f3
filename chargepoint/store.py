"""Durable state in SQLite: transactions, the outbox of transaction messages, configuration
overrides, availability, the authorisation cache, reservations,
charging profiles and queued security events.

Every state change and the message that reports it are written in one database transaction
(WAL, synchronous=FULL): after a crash either both exist or neither does. Messages are stored
in a protocol-neutral form; the OCPP adapter renders them when it sends them. The one write
that does not wait for the disk is the acknowledgement of a MeterValues message (see
`outbox_ack`)."""
from __future__ import annotations

import json
import sqlite3
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

SCHEMA_VERSION = 5

_MIGRATIONS: dict[int, str] = {
    1: """
    CREATE TABLE settings (key TEXT PRIMARY KEY, value TEXT NOT NULL);
    CREATE TABLE availability (evse_id INTEGER PRIMARY KEY, available INTEGER NOT NULL);
    CREATE TABLE transactions (
        local_id INTEGER PRIMARY KEY AUTOINCREMENT,
        evse_id INTEGER NOT NULL,
        connector_id INTEGER NOT NULL,
        id_tag TEXT NOT NULL,
        started_at TEXT NOT NULL,
        meter_start_wh REAL NOT NULL,
        csms_id INTEGER,
        last_meter_wh REAL NOT NULL,
        last_meter_at TEXT NOT NULL,
        stopped_at TEXT,
        meter_stop_wh REAL,
        stop_reason TEXT
    );
    CREATE INDEX transactions_open ON transactions(stopped_at) WHERE stopped_at IS NULL;
    CREATE TABLE outbox (
        seq INTEGER PRIMARY KEY AUTOINCREMENT,
        kind TEXT NOT NULL CHECK (kind IN ('start', 'meter', 'stop')),
        local_tx INTEGER NOT NULL REFERENCES transactions(local_id),
        payload TEXT NOT NULL,
        created_at TEXT NOT NULL,
        attempts INTEGER NOT NULL DEFAULT 0
    );
    CREATE TABLE auth_cache (
        id_tag TEXT PRIMARY KEY,
        status TEXT NOT NULL,
        expiry TEXT,
        parent_id_tag TEXT,
        updated_seq INTEGER NOT NULL
    );
    """,
    2: """
    CREATE INDEX outbox_kind ON outbox(kind, seq);
    CREATE TABLE meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
    CREATE TABLE local_list (
        id_tag TEXT PRIMARY KEY COLLATE NOCASE,
        status TEXT NOT NULL,
        expiry TEXT,
        parent_id_tag TEXT
    );
    """,
    3: """
    CREATE TABLE charging_profiles (
        profile_id INTEGER PRIMARY KEY,
        connector_id INTEGER NOT NULL,
        local_tx INTEGER,
        installed_at TEXT NOT NULL,
        payload TEXT NOT NULL
    );
    """,
    4: """
    CREATE TABLE reservations (
        reservation_id INTEGER PRIMARY KEY,
        connector_id INTEGER NOT NULL,
        id_tag TEXT NOT NULL,
        parent_id_tag TEXT,
        expiry TEXT NOT NULL
    );
    """,
    5: """
    CREATE TABLE notifications (
        seq INTEGER PRIMARY KEY AUTOINCREMENT,
        kind TEXT NOT NULL,
        payload TEXT NOT NULL,
        created_at TEXT NOT NULL,
        attempts INTEGER NOT NULL DEFAULT 0
    );
    CREATE INDEX notifications_kind ON notifications(kind, seq);
    """,
}

AUTH_CACHE_MAX_ENTRIES = 1000
# A month offline at one sample a minute on two EVSEs fits; beyond, the oldest periodic samples
# go first. Start and Stop messages are never dropped.
MAX_QUEUED_METER_VALUES = 100_000
# Once the queue has overflowed, it counts as full again only after it drained below this share.
METER_QUEUE_REARM = 0.9


class StoreError(Exception):
    """The database cannot be used; the message says which file and what to do."""


@dataclass(frozen=True)
class TransactionRecord:
    local_id: int
    evse_id: int
    connector_id: int
    id_tag: str
    started_at: str
    meter_start_wh: float
    csms_id: int | None
    last_meter_wh: float
    last_meter_at: str
    stopped_at: str | None = None
    meter_stop_wh: float | None = None
    stop_reason: str | None = None


@dataclass(frozen=True)
class OutboxItem:
    seq: int
    kind: str  # 'start' | 'meter' | 'stop'
    local_tx: int
    payload: dict[str, Any]
    created_at: str
    attempts: int
    csms_id: int | None  # the CSMS's id of the transaction, once known


@dataclass(frozen=True)
class CachedAuth:
    id_tag: str
    status: str
    expiry: str | None
    parent_id_tag: str | None


@dataclass(frozen=True)
class StoredReservation:
    reservation_id: int
    connector_id: int
    id_tag: str
    parent_id_tag: str | None
    expiry: str  # ISO 8601 UTC


@dataclass(frozen=True)
class StoredProfile:
    profile_id: int
    connector_id: int
    local_tx: int | None  # the transaction a TxProfile belongs to
    installed_at: str  # ISO 8601 UTC
    payload: dict[str, Any]  # the profile as OCPP 1.6 JSON


@dataclass(frozen=True)
class Notification:
    """A queued message that belongs to no transaction (a security event)."""

    seq: int
    kind: str
    payload: dict[str, Any]
    created_at: str
    attempts: int


class Store:
    def __init__(self, path: Path) -> None:
        self.path = Path(path)
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            self._unsynced = False
            self._db = sqlite3.connect(str(self.path), isolation_level=None)
            self._db.row_factory = sqlite3.Row
            self._db.execute("PRAGMA journal_mode=WAL")
            self._db.execute("PRAGMA synchronous=FULL")
            self._db.execute("PRAGMA foreign_keys=ON")
            check = self._db.execute("PRAGMA quick_check").fetchone()[0]
            if check != "ok":
                raise sqlite3.DatabaseError(f"integrity check failed: {check}")
            self._migrate()
            # Kept in step with every insert and delete, so bounding the queue costs no scan.
            self._queued_meter = self._db.execute("SELECT COUNT(*) FROM outbox WHERE kind = 'meter'").fetchone()[0]
            self._meter_overflowing = False
            # Told once per overflow (the oldest queued MeterValues start to go): MemoryExhaustion.
            self.on_meter_overflow: Callable[[int], None] | None = None
        except (sqlite3.DatabaseError, OSError) as exc:
            raise StoreError(
                f"cannot open the database {self.path}: {exc}. Check the path in [storage] path "
                f"and its permissions; if the file is damaged, run `chargepoint storage recover` "
                f"(it moves the file aside and keeps every row that can still be read)."
            ) from exc

    def close(self) -> None:
        try:
            self.sync()
        finally:
            self._db.close()

    @contextmanager
    def _tx(self, durable: bool = True) -> Iterator[sqlite3.Connection]:
        """One database transaction. `durable=False` commits with synchronous=NORMAL: in WAL mode
        the commit survives the process being killed but not a power cut, until the next fsync
        of the WAL (any durable commit that writes, or `sync`)."""
        if not durable:
            self._db.execute("PRAGMA synchronous=NORMAL")  # refused inside a transaction
        changes = self._db.total_changes
        try:
            self._db.execute("BEGIN IMMEDIATE")
            try:
                yield self._db
            except BaseException:
                self._db.execute("ROLLBACK")
                raise
            self._db.execute("COMMIT")
        finally:
            if not durable:
                self._db.execute("PRAGMA synchronous=FULL")
        if not durable:
            self._unsynced = True
        elif self._db.total_changes != changes:
            self._unsynced = False  # this commit's fsync carried every WAL frame written before it

    @property
    def unsynced(self) -> bool:
        """Whether commits made with `durable=False` may still be lost to a power cut."""
        return self._unsynced

    def sync(self) -> None:
        """Make every commit so far durable: a checkpoint fsyncs the WAL before copying it into the
        database file (and the file after)."""
        if not self._unsynced:
            return
        busy, wal_frames, copied = self._db.execute("PRAGMA wal_checkpoint(PASSIVE)").fetchone()
        # A reader in another process can hold frames back from the copy; then try again later.
        self._unsynced = bool(busy) or copied < wal_frames

    def _migrate(self) -> None:
        version = self._db.execute("PRAGMA user_version").fetchone()[0]
        if version > SCHEMA_VERSION:
            raise StoreError(
                f"the database {self.path} has schema version {version}, newer than this firmware "
                f"understands ({SCHEMA_VERSION}); install the newer firmware again or move the file aside"
            )
        for target in range(version + 1, SCHEMA_VERSION + 1):
            with self._tx() as db:
                for statement in filter(str.strip, _MIGRATIONS[target].split(";")):
                    db.execute(statement)
                db.execute(f"PRAGMA user_version={target}")

    # ---- settings and availability ---------------------------------------------------------

    def load_settings(self) -> dict[str, str]:
        return {r["key"]: r["value"] for r in self._db.execute("SELECT key, value FROM settings")}

    def save_setting(self, key: str, value: str) -> None:
        with self._tx() as db:
            db.execute("INSERT OR REPLACE INTO settings(key, value) VALUES (?, ?)", (key, value))

    def load_availability(self) -> dict[int, bool]:
        rows = self._db.execute("SELECT evse_id, available FROM availability")
        return {r["evse_id"]: bool(r["available"]) for r in rows}

    def save_availability(self, evse_id: int, available: bool) -> None:
        with self._tx() as db:
            db.execute(
                "INSERT OR REPLACE INTO availability(evse_id, available) VALUES (?, ?)",
                (evse_id, int(available)),
            )

    # ---- transactions and their messages ---------------------------------------------------

    def begin_transaction(self, evse_id: int, connector_id: int, id_tag: str, meter_start_wh: float,
                          started_at: str, payload: dict[str, Any], ends_reservation: int | None = None) -> int:
        """`ends_reservation`: the reservation this transaction uses up, gone in the same commit."""
        with self._tx() as db:
            cur = db.execute(
                "INSERT INTO transactions(evse_id, connector_id, id_tag, started_at, meter_start_wh,"
                " last_meter_wh, last_meter_at) VALUES (?, ?, ?, ?, ?, ?, ?)",
                (evse_id, connector_id, id_tag, started_at, meter_start_wh, meter_start_wh, started_at),
            )
            local_id = int(cur.lastrowid or 0)
            self._enqueue(db, "start", local_id, payload, started_at)
            if ends_reservation is not None:
                db.execute("DELETE FROM reservations WHERE reservation_id = ?", (ends_reservation,))
        return local_id

    def record_meter_values(self, local_id: int, energy_wh: float, at: str, payload: dict[str, Any] | None) -> None:
        """Persist the latest reading of a transaction; queue a MeterValues message if given."""
        with self._tx() as db:
            db.execute(
                "UPDATE transactions SET last_meter_wh = ?, last_meter_at = ? WHERE local_id = ?",
                (energy_wh, at, local_id),
            )
            excess = 0
            if payload is not None:
                self._enqueue(db, "meter", local_id, payload, at)
                excess = self._queued_meter + 1 - MAX_QUEUED_METER_VALUES
                if excess > 0:
                    db.execute(
                        "DELETE FROM outbox WHERE seq IN (SELECT seq FROM outbox WHERE kind = 'meter'"
                        " ORDER BY seq LIMIT ?)", (excess,),
                    )
        if payload is not None:
            self._queued_meter += 1 - max(0, excess)
            self._note_meter_overflow(excess > 0)

    def _note_meter_overflow(self, dropped: bool) -> None:
        if dropped and not self._meter_overflowing:
            self._meter_overflowing = True
            if self.on_meter_overflow is not None:
                self.on_meter_overflow(MAX_QUEUED_METER_VALUES)
        elif self._queued_meter < MAX_QUEUED_METER_VALUES * METER_QUEUE_REARM:
            self._meter_overflowing = False

    def end_transaction(self, local_id: int, meter_stop_wh: float, stopped_at: str, reason: str,
                        payload: dict[str, Any]) -> None:
        with self._tx() as db:
            cur = db.execute(
                "UPDATE transactions SET stopped_at = ?, meter_stop_wh = ?, stop_reason = ?,"
                " last_meter_wh = ?, last_meter_at = ? WHERE local_id = ? AND stopped_at IS NULL",
                (stopped_at, meter_stop_wh, reason, meter_stop_wh, stopped_at, local_id),
            )
            if cur.rowcount != 1:
                raise StoreError(f"transaction {local_id} is not open")
            self._enqueue(db, "stop", local_id, payload, stopped_at)
            # Stopped transactions whose messages are all delivered are history; keep them bounded.
            db.execute(
                "DELETE FROM transactions WHERE stopped_at IS NOT NULL AND local_id NOT IN"
                " (SELECT local_tx FROM outbox) AND local_id <= (SELECT MAX(local_id) - 100 FROM transactions)"
            )

    def open_transactions(self) -> list[TransactionRecord]:
        rows = self._db.execute("SELECT * FROM transactions WHERE stopped_at IS NULL ORDER BY local_id")
        return [TransactionRecord(**dict(r)) for r in rows]

    def transaction(self, local_id: int) -> TransactionRecord | None:
        row = self._db.execute("SELECT * FROM transactions WHERE local_id = ?", (local_id,)).fetchone()
        return TransactionRecord(**dict(row)) if row else None

    def transaction_by_csms_id(self, csms_id: int) -> TransactionRecord | None:
        row = self._db.execute(
            "SELECT * FROM transactions WHERE csms_id = ? ORDER BY local_id DESC LIMIT 1", (csms_id,)
        ).fetchone()
        return TransactionRecord(**dict(row)) if row else None

    @staticmethod
    def _enqueue(db: sqlite3.Connection, kind: str, local_tx: int, payload: dict[str, Any], at: str) -> None:
        db.execute(
            "INSERT INTO outbox(kind, local_tx, payload, created_at) VALUES (?, ?, ?, ?)",
            (kind, local_tx, json.dumps(payload, separators=(",", ":")), at),
        )

    # ---- outbox ------------------------------------------------------------------------------

    def outbox_head(self) -> OutboxItem | None:
        batch = self.outbox_batch(1)
        return batch[0] if batch else None

    def outbox_batch(self, limit: int) -> list[OutboxItem]:
        """The next `limit` messages in order, with the CSMS transaction id known now: one query
        for many messages when a backlog drains."""
        rows = self._db.execute(
            "SELECT o.*, t.csms_id FROM outbox o JOIN transactions t ON t.local_id = o.local_tx"
            " ORDER BY o.seq LIMIT ?", (limit,)
        ).fetchall()
        return [OutboxItem(seq=row["seq"], kind=row["kind"], local_tx=row["local_tx"],
                           payload=json.loads(row["payload"]), created_at=row["created_at"],
                           attempts=row["attempts"], csms_id=row["csms_id"]) for row in rows]

    def outbox_ack(self, seq: int, csms_id: int | None = None) -> None:
        """The CSMS has the message: drop it, and remember the transaction id it gave us.

        A Start or Stop ack is durable before this returns: a StartTransaction sent again opens a
        second transaction at the CSMS. A MeterValues ack is not (`_tx(durable=False)`): it
        survives the process being killed, and a power cut before the next fsync only sends the
        message again, a duplicate the CSMS tolerates. The adapter calls `sync` within a second."""
        row = self._db.execute("SELECT local_tx, kind FROM outbox WHERE seq = ?", (seq,)).fetchone()
        if row is None:
            return
        with self._tx(durable=row["kind"] != "meter") as db:
            if csms_id is not None:
                db.execute("UPDATE transactions SET csms_id = ? WHERE local_id = ?", (csms_id, row["local_tx"]))
            db.execute("DELETE FROM outbox WHERE seq = ?", (seq,))
        if row["kind"] == "meter":
            self._queued_meter -= 1

    def outbox_attempted(self, seq: int) -> int:
        with self._tx() as db:
            db.execute("UPDATE outbox SET attempts = attempts + 1 WHERE seq = ?", (seq,))
            row = db.execute("SELECT attempts FROM outbox WHERE seq = ?", (seq,)).fetchone()
        return int(row["attempts"]) if row else 0

    def outbox_stats(self) -> tuple[int, str | None]:
        """Queue length and the time of the message that goes next (the oldest in order)."""
        n = self._db.execute("SELECT COUNT(*) FROM outbox").fetchone()[0]
        head = self._db.execute("SELECT created_at FROM outbox ORDER BY seq LIMIT 1").fetchone()
        return int(n), head["created_at"] if head else None

    # ---- authorisation cache ---------------------------------------------------------------

    def cache_put(self, id_tag: str, status: str, expiry: str | None, parent_id_tag: str | None) -> None:
        with self._tx() as db:
            seq = db.execute("SELECT COALESCE(MAX(updated_seq), 0) + 1 FROM auth_cache").fetchone()[0]
            db.execute(
                "INSERT OR REPLACE INTO auth_cache(id_tag, status, expiry, parent_id_tag, updated_seq)"
                " VALUES (?, ?, ?, ?, ?)",
                (id_tag, status, expiry, parent_id_tag, seq),
            )
            # Bounded: when full, drop invalid entries first, then the least recently updated.
            excess = db.execute("SELECT COUNT(*) FROM auth_cache").fetchone()[0] - AUTH_CACHE_MAX_ENTRIES
            if excess > 0:
                db.execute(
                    "DELETE FROM auth_cache WHERE id_tag IN (SELECT id_tag FROM auth_cache"
                    " ORDER BY status = 'Accepted', updated_seq LIMIT ?)",
                    (excess,),
                )

    def cache_get(self, id_tag: str) -> CachedAuth | None:
        row = self._db.execute(
            "SELECT id_tag, status, expiry, parent_id_tag FROM auth_cache WHERE id_tag = ? COLLATE NOCASE",
            (id_tag,),
        ).fetchone()
        return CachedAuth(**dict(row)) if row else None

    def cache_clear(self) -> None:
        with self._tx() as db:
            db.execute("DELETE FROM auth_cache")

    # ---- reservations ------------------------------------------------------------------------

    def load_reservations(self) -> list[StoredReservation]:
        rows = self._db.execute("SELECT * FROM reservations ORDER BY reservation_id")
        return [StoredReservation(**dict(r)) for r in rows]

    def save_reservation(self, reservation: StoredReservation) -> None:
        with self._tx() as db:
            db.execute(
                "INSERT OR REPLACE INTO reservations(reservation_id, connector_id, id_tag, parent_id_tag, expiry)"
                " VALUES (?, ?, ?, ?, ?)",
                (reservation.reservation_id, reservation.connector_id, reservation.id_tag,
                 reservation.parent_id_tag, reservation.expiry),
            )

    def delete_reservation(self, reservation_id: int) -> None:
        with self._tx() as db:
            db.execute("DELETE FROM reservations WHERE reservation_id = ?", (reservation_id,))

    # ---- charging profiles -------------------------------------------------------------------

    def load_charging_profiles(self) -> list[StoredProfile]:
        rows = self._db.execute("SELECT * FROM charging_profiles ORDER BY profile_id")
        return [StoredProfile(r["profile_id"], r["connector_id"], r["local_tx"], r["installed_at"],
                              json.loads(r["payload"])) for r in rows]

    def save_charging_profile(self, profile: StoredProfile, replaced: list[int]) -> None:
        """Install a profile and remove those it replaces, in one database transaction."""
        with self._tx() as db:
            db.executemany("DELETE FROM charging_profiles WHERE profile_id = ?", [(i,) for i in replaced])
            db.execute(
                "INSERT OR REPLACE INTO charging_profiles(profile_id, connector_id, local_tx, installed_at, payload)"
                " VALUES (?, ?, ?, ?, ?)",
                (profile.profile_id, profile.connector_id, profile.local_tx, profile.installed_at,
                 json.dumps(profile.payload, separators=(",", ":"))),
            )

    def delete_charging_profiles(self, profile_ids: list[int]) -> None:
        with self._tx() as db:
            db.executemany("DELETE FROM charging_profiles WHERE profile_id = ?", [(i,) for i in profile_ids])

    # ---- local authorisation list ------------------------------------------------------------

    def local_list_version(self) -> int:
        row = self._db.execute("SELECT value FROM meta WHERE key = 'local_list_version'").fetchone()
        return int(row["value"]) if row else 0

    def local_list_count(self) -> int:
        return int(self._db.execute("SELECT COUNT(*) FROM local_list").fetchone()[0])

    def local_list_get(self, id_tag: str) -> CachedAuth | None:
        row = self._db.execute(
            "SELECT id_tag, status, expiry, parent_id_tag FROM local_list WHERE id_tag = ?", (id_tag,)
        ).fetchone()
        return CachedAuth(**dict(row)) if row else None

    def local_list_update(self, version: int, full: bool, upserts: list[CachedAuth], deletes: list[str],
                          max_entries: int) -> bool:
        """Apply an update atomically; False (and nothing changed) when the result would exceed
        `max_entries`."""
        with self._tx() as db:
            if full:
                db.execute("DELETE FROM local_list")
            for tag in deletes:
                db.execute("DELETE FROM local_list WHERE id_tag = ?", (tag,))
            db.executemany(
                "INSERT OR REPLACE INTO local_list(id_tag, status, expiry, parent_id_tag) VALUES (?, ?, ?, ?)",
                [(e.id_tag, e.status, e.expiry, e.parent_id_tag) for e in upserts],
            )
            count = db.execute("SELECT COUNT(*) FROM local_list").fetchone()[0]
            if count > max_entries:
                raise _TooLarge()
            db.execute("INSERT OR REPLACE INTO meta(key, value) VALUES ('local_list_version', ?)", (str(version),))
        return True


    # ---- notifications (security events): delivered in order, each until acknowledged ---------

    def notification_enqueue(self, kind: str, payload: dict[str, Any], at: str, max_queued: int) -> None:
        """Queue a message that belongs to no transaction; beyond `max_queued` of its kind the
        oldest go, so a long outage cannot fill the disk."""
        with self._tx() as db:
            db.execute("INSERT INTO notifications(kind, payload, created_at) VALUES (?, ?, ?)",
                       (kind, json.dumps(payload, separators=(",", ":")), at))
            db.execute(
                "DELETE FROM notifications WHERE kind = ? AND seq NOT IN"
                " (SELECT seq FROM notifications WHERE kind = ? ORDER BY seq DESC LIMIT ?)",
                (kind, kind, max_queued),
            )

    def notification_head(self, kind: str) -> Notification | None:
        row = self._db.execute(
            "SELECT * FROM notifications WHERE kind = ? ORDER BY seq LIMIT 1", (kind,)
        ).fetchone()
        if row is None:
            return None
        return Notification(row["seq"], row["kind"], json.loads(row["payload"]), row["created_at"], row["attempts"])

    def notification_ack(self, seq: int) -> None:
        with self._tx() as db:
            db.execute("DELETE FROM notifications WHERE seq = ?", (seq,))

    def notification_attempted(self, seq: int) -> int:
        with self._tx() as db:
            db.execute("UPDATE notifications SET attempts = attempts + 1 WHERE seq = ?", (seq,))
            row = db.execute("SELECT attempts FROM notifications WHERE seq = ?", (seq,)).fetchone()
        return int(row["attempts"]) if row else 0


class _TooLarge(Exception):
    """Raised inside a store transaction to roll back an update that would overflow the list."""
