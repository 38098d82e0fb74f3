"""Start: `python -m chargepoint run --config ...` launched -> its BootNotification received by the
CSMS in the peer process. Both ends read CLOCK_MONOTONIC (time.monotonic(), one clock for every
process on Linux). A first, unmeasured start creates the database and fills the bytecode cache;
the measured starts are restarts of an installed device (database present). Median of the runs.

Reference, alternated with the measured starts: `python -c pass` from launch to exit, the
interpreter's own start-up."""
from __future__ import annotations

import signal
import subprocess
import sys
import time

from benchmarks.common import SUBPROCESS_ENV, Figure, median, write_config
from benchmarks.context import Context

TARGET_S = 1.0


def one_start(config: str, peer: object, log: object) -> float:
    peer.drain_boots()
    t0 = time.monotonic()
    proc = subprocess.Popen([sys.executable, "-m", "chargepoint", "run", "--config", config],
                            stdout=log, stderr=subprocess.STDOUT, env=SUBPROCESS_ENV)
    try:
        booted = peer.wait_boot(30)
    finally:
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
    return booted - t0


def bare_start() -> float:
    t0 = time.monotonic()
    subprocess.run([sys.executable, "-c", "pass"], env=SUBPROCESS_ENV, check=True)
    return time.monotonic() - t0


def run(ctx: Context) -> list[Figure]:
    peer = ctx.peer
    directory = ctx.directory("start")
    config = str(write_config(directory, peer.csms_url))
    runs = ctx.n(7, 2)
    starts, bare = [], []
    with open(directory / "controller.log", "wb") as log:
        one_start(config, peer, log)  # first boot: database created, bytecode cached
        bare_start()
        for _ in range(runs):
            bare.append(bare_start())
            starts.append(one_start(config, peer, log))
    value, ref = median(starts), median(bare)
    return [Figure(
        key="start", title="Start: launch -> BootNotification at the CSMS (median)", value=value, unit="s",
        reference=ref, reference_label="python -c pass", ratio=value / ref, target=TARGET_S,
        detail={"min_s": round(min(starts), 3), "max_s": round(max(starts), 3), "runs": runs},
    )]
