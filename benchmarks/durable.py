"""Durable write: committing one transaction event, Store.record_meter_values with a MeterValues
payload (the transaction row updated and the message queued in one SQLite transaction, WAL,
synchronous=FULL: the commit waits for fsync). It runs on the event loop, so its latency is also
how long the control loop can be held up by it.

Reference, interleaved one for one in the same directory (same file system, same disk): a raw
sqlite3 INSERT + COMMIT of a row of the same payload size, with the same pragmas.
Ratio = Store p50 / raw p50 (p99 in the detail). No target: the figure is for information."""
from __future__ import annotations

import json
import sqlite3
import time

from benchmarks.common import Figure, meter_payload, ms, percentile
from benchmarks.context import Context


def run(ctx: Context) -> list[Figure]:
    from chargepoint.store import Store

    n = ctx.n(1000, 50)
    directory = ctx.directory("durable")
    store = Store(directory / "borne.db")
    raw = sqlite3.connect(str(directory / "raw.db"), isolation_level=None)
    try:
        raw.execute("PRAGMA journal_mode=WAL")
        raw.execute("PRAGMA synchronous=FULL")
        raw.execute("CREATE TABLE IF NOT EXISTS t (id INTEGER PRIMARY KEY AUTOINCREMENT, payload TEXT NOT NULL)")
        at = "2026-11-21T10:00:00.000Z"
        payload = meter_payload()
        text = json.dumps(payload, separators=(",", ":"))
        local_id = store.begin_transaction(1, 1, "BENCH-TAG-0001", 0.0, at,
                                           {"evse_id": 1, "connector_id": 1, "id_tag": "BENCH-TAG-0001",
                                            "meter_start_wh": 0.0, "timestamp": at})
        ours, theirs = [], []
        for i in range(n + 10):
            t0 = time.perf_counter()
            store.record_meter_values(local_id, float(i), at, payload)
            t1 = time.perf_counter()
            raw.execute("BEGIN IMMEDIATE")
            raw.execute("INSERT INTO t (payload) VALUES (?)", (text,))
            raw.execute("COMMIT")
            t2 = time.perf_counter()
            if i >= 10:  # warm-up
                ours.append(t1 - t0)
                theirs.append(t2 - t1)
    finally:
        store.close()
        raw.close()
    o, r = ms(ours), ms(theirs)
    p50, ref50 = percentile(o, 50), percentile(r, 50)
    return [Figure(
        key="durable_write", title="Durable write: record_meter_values (p50)", value=p50, unit="ms",
        reference=ref50, reference_label="raw sqlite INSERT+COMMIT", ratio=p50 / ref50, target=None,
        detail={"p99_ms": round(percentile(o, 99), 3), "raw_p99_ms": round(percentile(r, 99), 3),
                "max_ms": round(max(o), 3), "writes": len(o)},
    )]
