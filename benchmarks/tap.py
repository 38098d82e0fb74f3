"""Tap to energise: the EV waits in C, a badge on the Local Authorization List is tapped
(LocalPreAuthorize true: no Authorize round trip) -> the contactor-close command.

The path: reader queue -> Station.present_token -> Authorizer (local list, SQLite) -> the
transaction row and its StartTransaction written durably (fsync) -> EvseController.authorise ->
the next control step turns PWM on -> the EV shows C -> 20 ms debounce -> contactor closed.
Each session is ended by badging out, with the same OCPP traffic as the safety benchmark.

Reference, measured in the same run, interleaved: EvseController.authorise() called directly
(no reader, no policy, no database) -> contactor closed: the floor the control loop and the CP
debounce set. The ratio is what the policy path costs on top of it."""
from __future__ import annotations

import random
import time

from benchmarks.common import TAG, ContactorProbe, CycleProbe, Figure, ms, percentile, running_controller, until
from benchmarks.context import Context
from benchmarks.safety import TRAFFIC, FaultLog, _random_phase, prepare

TARGET_P99_MS = 50.0


async def run(ctx: Context) -> list[Figure]:
    from drivers.sim.board import sim_board_of

    n = ctx.n(200, 5)
    rng = random.Random(1234)
    async with running_controller(ctx.directory("tap"), ctx.peer.csms_url, TRAFFIC,
                                  sim_files=ctx.sim_files) as controller:
        await prepare(controller)
        sim = sim_board_of(controller.board)
        probe = ContactorProbe(sim.evses[1].contactor)
        ctl = controller.controllers[1]
        s = controller.station.sessions[1]
        sim.plug(1, max_current_a=32, phases=3)
        sim.set_ev_state(1, "C")
        await until(lambda: ctl.plugged, 2.0, "the EV seen plugged")
        cycles, faults = CycleProbe.of(controller), FaultLog(controller)
        taps, direct, refused = [], [], 0
        for _ in range(n):
            # The driver taps; the contactor closes; the driver taps out.
            await until(lambda: not ctl.faults, 10.0, "no fault active")
            await _random_phase(rng)
            t0 = time.perf_counter()
            sim.tap(TAG)
            try:
                taps.append(await probe.wait(True, 3.0) - t0)
            except TimeoutError:
                refused += 1  # e.g. a fault was raised meanwhile: the badge was turned down
            if s.tx is not None or s.pending is not None:
                await probe.wait(True, 10.0)
                await _random_phase(rng)
                sim.tap(TAG)
                await probe.wait(False, 5.0)
            await until(lambda: s.tx is None and s.pending is None, 10.0, "the session ended")
            # The floor: the controller authorised directly.
            await until(lambda: not ctl.faults, 10.0, "no fault active")
            await _random_phase(rng)
            t0 = time.perf_counter()
            ctl.authorise()
            direct.append(await probe.wait(True, 5.0) - t0)
            ctl.deauthorise()
            await probe.wait(False, 5.0)
            await until(lambda: not ctl.snapshot().pilot.pwm_on, 2.0, "PWM off")
    tap_ms, direct_ms = ms(taps), ms(direct)
    p99, ref99 = percentile(tap_ms, 99), percentile(direct_ms, 99)
    return [Figure(
        key="tap_to_energise", title="Tap to energise (p99)", value=p99, unit="ms",
        reference=ref99, reference_label="direct authorise p99", ratio=p99 / ref99, target=TARGET_P99_MS,
        detail={"p50_ms": round(percentile(tap_ms, 50), 3), "max_ms": round(max(tap_ms), 3),
                "ref_p50_ms": round(percentile(direct_ms, 50), 3), "sessions": len(tap_ms),
                **({"refused": refused} if refused else {}), **cycles.summary(),
                **({"unexpected_faults": faults.raised} if faults.raised else {})},
    )]
