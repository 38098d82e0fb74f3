"""Offline replay: transaction messages queued while the CSMS was unreachable, drained after the
connection comes back.

The Store's outbox is filled before the controller starts: one transaction whose
StartTransaction the CSMS has already acknowledged (it has a CSMS id), N MeterValues rows of
that transaction (three-phase samples, as Transactions.sample stores them) and its
StopTransaction. Then the controller is built and connected to the CSMS in the peer process.
The clock runs from the moment the BootNotification is accepted to the acknowledgement of the
last queued message (V16Link._replay_outbox: read the rows a batch at a time, then for each
render, call and delete the row, one call at a time as OCPP-J requires). The last message is
the StopTransaction, whose acknowledgement is fsynced, so the drain ends with every
acknowledgement durable.

Reference, measured right after in the same process with the controller still running (idle):
N sequential raw WebSocket round trips of a frame of the same size to the echo server in the
peer process. Ratio = replay rate / raw rate. With one call at a time the ratio cannot exceed
the raw round trip over the validated OCPP call (`V16Link._call`, timed during the drain):
that is the detail `ceiling`."""
from __future__ import annotations

import asyncio
import math
import time
from pathlib import Path
from typing import Any

from benchmarks.common import (
    CycleProbe,
    Figure,
    connect_raw,
    meter_payload,
    ocpp_frame,
    raw_round_trips,
    running_controller,
    three_phase_meter_values,
)
from benchmarks.context import Context
from benchmarks.safety import FaultLog

TARGET_RATIO = 0.7
CSMS_TX_ID = 4711


def fill_outbox(db: Path, n: int) -> int:
    """An acknowledged start, `n` meter values and a stop; returns how many messages are queued."""
    from chargepoint.store import Store

    store = Store(db)
    try:
        at = "2026-11-21T10:00:00.000Z"
        start = {"evse_id": 1, "connector_id": 1, "id_tag": "BENCH-TAG-0001", "meter_start_wh": 1000.0,
                 "timestamp": at}
        local_id = store.begin_transaction(1, 1, "BENCH-TAG-0001", 1000.0, at, start)
        head = store.outbox_head()
        assert head is not None and head.kind == "start"
        store.outbox_ack(head.seq, csms_id=CSMS_TX_ID)
        payload = meter_payload()
        # One database transaction for the whole backlog (the same rows record_meter_values
        # writes one by one while offline; filling is not what is measured).
        with store._tx() as tx:
            for _ in range(n):
                store._enqueue(tx, "meter", local_id, payload, at)
        stop = {"meter_stop_wh": 2000.0, "timestamp": at, "reason": "Local", "id_tag": None,
                "transaction_data": []}
        store.end_transaction(local_id, 2000.0, at, "Local", stop)
        queued, _ = store.outbox_stats()
        return queued
    finally:
        store.close()


async def run(ctx: Context) -> list[Figure]:
    n = ctx.n(10_000, 200)
    state: dict[str, Any] = {"queued": 0, "acked": 0, "t_accepted": math.nan, "t_empty": math.nan, "ack_s": 0.0,
                             "call_s": 0.0, "calls": 0}
    drained = asyncio.Event()

    def before_build(db: Path) -> None:
        state["queued"] = fill_outbox(db, n)

    def on_built(controller: Any) -> None:
        link, store = controller.link, controller.store
        set_state, ack, call = link._set_state, store.outbox_ack, link._call

        def timed_set_state(s: str) -> None:
            set_state(s)
            if s == "accepted" and math.isnan(state["t_accepted"]):
                state["t_accepted"] = time.perf_counter()

        def counting_ack(seq: int, csms_id: int | None = None) -> None:
            t0 = time.perf_counter()
            ack(seq, csms_id)
            state["ack_s"] += time.perf_counter() - t0
            state["acked"] += 1
            if state["acked"] == state["queued"]:
                state["t_empty"] = time.perf_counter()
                drained.set()

        async def timed_call(payload: Any) -> Any:
            t0 = time.perf_counter()
            result = await call(payload)
            if math.isnan(state["t_empty"]):
                state["call_s"] += time.perf_counter() - t0
                state["calls"] += 1
            return result

        link._set_state = timed_set_state
        store.outbox_ack = counting_ack
        link._call = timed_call
        state["cycles"] = CycleProbe.of(controller)
        state["faults"] = FaultLog(controller)

    async with running_controller(ctx.directory("replay"), ctx.peer.csms_url, before_build=before_build,
                                  sim_files=ctx.sim_files,
                                  on_built=on_built, wait_accepted=False) as controller:
        await asyncio.wait_for(drained.wait(), 30 + n * 0.05)
        assert controller.store.outbox_stats()[0] == 0
        elapsed = state["t_empty"] - state["t_accepted"]
        replay_rate = state["queued"] / elapsed
        frame = ocpp_frame(three_phase_meter_values(CSMS_TX_ID))
        async with connect_raw(ctx.peer.echo_url) as ws:
            await raw_round_trips(ws, frame, min(100, n))
            t0 = time.perf_counter()
            await raw_round_trips(ws, frame, n)
            raw_elapsed = time.perf_counter() - t0
    raw_rate = n / raw_elapsed
    call_mean = state["call_s"] / state["calls"]
    return [Figure(
        key="offline_replay", title="Offline replay (queued messages drained)", value=replay_rate, unit="msg/s",
        reference=raw_rate, reference_label="raw WebSocket round trips", ratio=replay_rate / raw_rate,
        target=TARGET_RATIO, target_on="ratio", op=">=",
        detail={"messages": state["queued"], "replay_s": round(elapsed, 3), "raw_s": round(raw_elapsed, 3),
                "ack_ms_mean": round(state["ack_s"] / state["acked"] * 1e3, 3),
                "call_ms_mean": round(call_mean * 1e3, 3),
                "ceiling": round(raw_elapsed / n / call_mean, 3),
                "of_ceiling": round(replay_rate / raw_rate / (raw_elapsed / n / call_mean), 2),
                "per_message_ms": round(elapsed / state["queued"] * 1e3, 3), "frame_bytes": len(frame),
                **state["cycles"].summary(),
                **({"unexpected_faults": state["faults"].raised} if state["faults"].raised else {})},
        note="CSMS in a separate process",
    )]
