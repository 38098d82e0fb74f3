"""Footprint of the controller process (`python -m chargepoint run --config ...`, the simulated
board, the CSMS in the peer process), read from /proc:

- CPU at idle: connected, no EV, the 10 ms control loop running; utime + stime from
  /proc/PID/stat over a window (60 s; quick: 3 s), as a share of one core.
- RSS while charging: one EVSE charging, MeterValues every second (MeterValueSampleInterval 1,
  persisted before the start as a CSMS's ChangeConfiguration would leave it); VmRSS from
  /proc/PID/status after a while of charging (VmHWM, the peak, in the detail).

Reference, side by side over the same windows: a bare `python -c "import asyncio; ..."` process
that does nothing but wake every 10 ms (the control period), i.e. the least an idle charge
controller written in Python on asyncio can cost."""
from __future__ import annotations

import asyncio
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

from benchmarks.common import (
    CLK_TCK,
    SUBPROCESS_ENV,
    TAG,
    Figure,
    proc_cpu_s,
    proc_status_kb,
    seed_settings,
    write_config,
)
from benchmarks.context import Context

TARGET_RSS_MB = 40.0
TARGET_IDLE_CPU_PERCENT = 1.0
BARE = "import asyncio\nasync def main():\n    while True:\n        await asyncio.sleep(0.01)\nasyncio.run(main())\n"


async def sim(sock: Path, request: dict[str, Any]) -> dict[str, Any]:
    from hal.jsonl_socket import request as send

    answer = await send(sock, request)
    if not answer.get("ok"):
        raise RuntimeError(f"simulator refused {request}: {answer.get('error')}")
    return answer


async def start_charging(sock: Path, timeout_s: float = 15.0) -> None:
    await sim(sock, {"cmd": "plug", "evse": 1})
    await sim(sock, {"cmd": "tap", "tag": TAG})
    await sim(sock, {"cmd": "ev-state", "evse": 1, "state": "C"})
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        status = (await sim(sock, {"cmd": "status"}))["status"]
        if status["evses"][0]["contactor_closed"]:
            return
        await asyncio.sleep(0.05)
    raise TimeoutError("the EV did not start charging")


def cpu_share(pid: int, since: tuple[float, float]) -> float:
    cpu0, t0 = since
    return 100.0 * (proc_cpu_s(pid) - cpu0) / (time.monotonic() - t0)


def run(ctx: Context) -> list[Figure]:
    peer = ctx.peer
    directory = ctx.directory("footprint")
    config = write_config(directory, peer.csms_url)
    seed_settings(directory / "borne.db", {"MeterValueSampleInterval": "1"})
    window_s, settle_s, charge_s = ctx.n(60, 3), ctx.n(3, 1), ctx.n(15, 2)
    log = open(directory / "controller.log", "wb")
    bare = subprocess.Popen([sys.executable, "-c", BARE], env=SUBPROCESS_ENV)
    peer.drain_boots()
    proc = subprocess.Popen([sys.executable, "-m", "chargepoint", "run", "--config", str(config)],
                            stdout=log, stderr=subprocess.STDOUT, env=SUBPROCESS_ENV, cwd=directory)
    try:
        peer.wait_boot(30)
        time.sleep(settle_s)
        marks = {p.pid: (proc_cpu_s(p.pid), time.monotonic()) for p in (proc, bare)}
        time.sleep(window_s)
        idle_cpu, bare_cpu = cpu_share(proc.pid, marks[proc.pid]), cpu_share(bare.pid, marks[bare.pid])
        idle_rss = proc_status_kb(proc.pid, "VmRSS") / 1024

        asyncio.run(start_charging(directory / "sim.sock"))
        marks = {p.pid: (proc_cpu_s(p.pid), time.monotonic()) for p in (proc, bare)}
        time.sleep(charge_s)
        charging_cpu = cpu_share(proc.pid, marks[proc.pid])
        rss = proc_status_kb(proc.pid, "VmRSS") / 1024
        hwm = proc_status_kb(proc.pid, "VmHWM") / 1024
        bare_rss = proc_status_kb(bare.pid, "VmRSS") / 1024
        threads = proc_status_kb(proc.pid, "Threads")
    finally:
        for p in (proc, bare):
            if p.poll() is None:
                p.send_signal(signal.SIGTERM)
        for p in (proc, bare):
            try:
                p.wait(10)
            except subprocess.TimeoutExpired:
                p.kill()
                p.wait()
        log.close()
    note, bare_ref = "", bare_cpu
    if bare_cpu <= 0:
        # Not one clock tick in the window (a short --quick window on a fast machine): take one
        # tick as the reference, an upper bound, so the ratio is a lower bound.
        bare_ref = 100.0 / CLK_TCK / window_s
        note = "reference < 1 clock tick: ratio is a lower bound"
    return [
        Figure(key="footprint_rss", title="Footprint: RSS, one EVSE charging", value=rss, unit="MB",
               reference=bare_rss, reference_label="bare asyncio process", ratio=rss / bare_rss,
               target=TARGET_RSS_MB, detail={"peak_mb": round(hwm, 1), "idle_mb": round(idle_rss, 1),
                                             "threads": threads, "charging_cpu_percent": round(charging_cpu, 2),
                                             "charged_s": charge_s}),
        Figure(key="footprint_idle_cpu", title="Footprint: CPU at idle (% of one core)", value=idle_cpu, unit="%",
               reference=bare_ref, reference_label="bare asyncio 10 ms loop", ratio=idle_cpu / bare_ref,
               target=TARGET_IDLE_CPU_PERCENT, detail={"window_s": window_s}, note=note),
    ]
