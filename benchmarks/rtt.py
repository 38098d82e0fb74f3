"""OCPP call round trip, as the controller makes its calls: V16Link._call -> V16Session.call (the
ocpp library, schema validation on, ocpp.messages.ASYNC_VALIDATION False as the app sets it),
racing the receive task, over the controller's own WebSocket to the CSMS in the peer process.
The controller runs (control loop included) but is idle: no EV.

Reference, side by side: a raw WebSocket client on the same event loop sends a frame of the same
size to an echo server in the same peer process and waits for it to come back. The two are
interleaved in blocks, so drift in machine load hits both alike. Medians; ratio = OCPP / raw."""
from __future__ import annotations

import time
from typing import Any

from benchmarks.common import (
    Figure,
    connect_raw,
    median,
    ms,
    ocpp_frame,
    percentile,
    proc_run_ns,
    raw_round_trips,
    running_controller,
    three_phase_meter_values,
)
from benchmarks.context import Context

TARGET_RATIO = 2.0
BLOCK = 25


async def ocpp_round_trips(controller: Any, make: Any, count: int) -> list[float]:
    link = controller.link
    out = []
    for _ in range(count):
        payload = make()
        t0 = time.perf_counter()
        await link._call(payload)
        out.append(time.perf_counter() - t0)
    return out


async def measure(controller: Any, peer_pid: int, echo_url: str, make: Any, n: int,
                  warmup: int) -> tuple[list[float], list[float], int, float, float]:
    """Interleaved blocks of OCPP calls and raw round trips. Also returns the CPU time per OCPP
    call of this process (the controller, its idle control loop included) and of the CSMS."""
    frame = ocpp_frame(make())
    own_cpu = csms_ns = 0.0
    async with connect_raw(echo_url) as ws:
        await ocpp_round_trips(controller, make, warmup)
        await raw_round_trips(ws, frame, warmup)
        ocpp, raw = [], []
        while len(ocpp) < n:
            k = min(BLOCK, n - len(ocpp))
            c0, p0 = time.process_time(), proc_run_ns(peer_pid)
            ocpp += await ocpp_round_trips(controller, make, k)
            own_cpu += time.process_time() - c0
            csms_ns += proc_run_ns(peer_pid) - p0
            raw += await raw_round_trips(ws, frame, k)
    return ocpp, raw, len(frame), own_cpu / len(ocpp), csms_ns / 1e9 / len(ocpp)


async def run(ctx: Context) -> list[Figure]:
    from ocpp.v16 import call

    n, warmup = ctx.n(1000, 30), ctx.n(50, 5)
    figures = []
    async with running_controller(ctx.directory("rtt"), ctx.peer.csms_url, sim_files=ctx.sim_files) as controller:
        cases = [
            ("rtt_heartbeat", "OCPP round trip: Heartbeat (median)", call.Heartbeat),
            ("rtt_meter_values", "OCPP round trip: MeterValues 3-phase (median)", three_phase_meter_values),
        ]
        for key, title, make in cases:
            ocpp, raw, size, own_cpu, csms_cpu = await measure(controller, ctx.peer.proc.pid, ctx.peer.echo_url,
                                                               make, n, warmup)
            o, r = ms(ocpp), ms(raw)
            value, ref = median(o), median(r)
            figures.append(Figure(
                key=key, title=title, value=value, unit="ms", reference=ref,
                reference_label="raw WebSocket echo", ratio=value / ref, target=TARGET_RATIO, target_on="ratio",
                detail={"p99_ms": round(percentile(o, 99), 3), "raw_p99_ms": round(percentile(r, 99), 3),
                        "cp_cpu_ms": round(own_cpu * 1e3, 3), "csms_cpu_ms": round(csms_cpu * 1e3, 3),
                        "frame_bytes": size, "calls": len(o)},
                note="CSMS in a separate process",
            ))
    return figures
