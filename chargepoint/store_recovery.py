"""Recovery of a damaged database: the file is moved aside and a new one is built from every row
that can still be read, table by table, so queued transaction messages survive where possible."""
from __future__ import annotations

import sqlite3
import time
from dataclasses import dataclass, field
from pathlib import Path

from chargepoint.store import Store

# In dependency order: outbox rows refer to transactions.
TABLES = ("meta", "settings", "availability", "transactions", "outbox", "auth_cache", "local_list", "reservations",
          "charging_profiles", "notifications")


@dataclass
class RecoveryReport:
    damaged_copy: Path
    rows: dict[str, int] = field(default_factory=dict)
    lost: dict[str, str] = field(default_factory=dict)  # table -> why reading stopped


def recover(path: Path) -> RecoveryReport:
    path = Path(path)
    aside = path.with_name(f"{path.name}.damaged-{time.strftime('%Y%m%dT%H%M%S')}")
    path.rename(aside)
    for suffix in ("-wal", "-shm"):
        side = path.with_name(path.name + suffix)
        if side.exists():
            side.rename(aside.with_name(aside.name + suffix))
    report = RecoveryReport(aside)
    fresh = Store(path)
    fresh.close()
    try:
        old = sqlite3.connect(f"file:{aside}?mode=ro", uri=True)
    except sqlite3.DatabaseError as exc:
        report.lost["*"] = str(exc)
        return report
    new = sqlite3.connect(str(path), isolation_level=None)
    try:
        for table in TABLES:
            report.rows[table] = _copy(old, new, table, report)
    finally:
        old.close()
        new.close()
    return report


def _copy(old: sqlite3.Connection, new: sqlite3.Connection, table: str, report: RecoveryReport) -> int:
    copied = 0
    try:
        columns = [r[1] for r in new.execute(f"PRAGMA table_info({table})")]
        cursor = old.execute(f"SELECT {', '.join(columns)} FROM {table}")
    except sqlite3.DatabaseError as exc:
        report.lost[table] = str(exc)
        return 0
    placeholders = ", ".join("?" for _ in columns)
    new.execute("BEGIN")
    try:
        while True:
            try:
                row = cursor.fetchone()
            except sqlite3.DatabaseError as exc:
                report.lost[table] = f"stopped after {copied} rows: {exc}"
                break
            if row is None:
                break
            try:
                new.execute(f"INSERT OR REPLACE INTO {table} ({', '.join(columns)}) VALUES ({placeholders})", row)
            except sqlite3.DatabaseError:
                continue  # a row that no longer fits (e.g. an outbox row whose transaction was lost)
            copied += 1
    finally:
        new.execute("COMMIT")
    return copied
