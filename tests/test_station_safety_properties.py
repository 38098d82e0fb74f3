"""Safety invariants with the whole policy in the loop: random plugs, EV states, badges, remote
starts and stops, availability changes, CSMS link changes, faults and clock advances, on one and
on two EVSEs. After every 10 ms control step:

- contactor closed => no fault, plugged, CP C, authorised, available, >= 6 A offered and PWM on,
  or the EV is still in C within the 6 s C1 grace after the PWM stopped;
- a fault active for longer than the detection budget => contactor open;
- the lock is never released while the contactor is closed;
- the PWM duty changes at most once per 5 s while the contactor stays closed."""
from __future__ import annotations

import asyncio
import sys
from pathlib import Path

import tempfile

from hypothesis import HealthCheck, settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, initialize, invariant, rule

sys.path.insert(0, str(Path(__file__).resolve().parent))
from test_station import CONFIG, FakeLink, Rig  # noqa: E402

from hal.types import CpState, FaultKind, IdToken  # noqa: E402

FAULT_BUDGET_S = 0.1  # IEC 61851: open within 100 ms
C1_GRACE_S = 6.0
PWM_MIN_INTERVAL_S = 5.0
EPS = 1e-6
INJECTABLE = ["rcm", "diode", "weld", "meter-loss", "pp", "state-e", "over-temperature"]
TAGS = ["TAG-1", "TAG-2", "BLOCKED", "STRANGER", "TECH-1"]

TWO_EVSES = CONFIG.replace("[auth]", "[[evse]]\nid = 2\nmax_current_a = 32\nphases = 1\n\n[[evse.connector]]\nid = 1\n\n[auth]")


class Watch:
    """Per-EVSE history the invariants need."""

    def __init__(self) -> None:
        self.fault_since: float | None = None
        self.pwm_off_since: float | None = None
        self.last_duty: float | None = None
        self.duty_changed_at = float("-inf")


class StationSafety(RuleBasedStateMachine):
    config_text = CONFIG

    def __init__(self) -> None:
        super().__init__()
        self.loop = asyncio.new_event_loop()
        self.tmp = Path(tempfile.mkdtemp(prefix="bss"))
        link = FakeLink(decisions={"TAG-1": "Accepted", "TAG-2": "Accepted", "BLOCKED": "Blocked"})
        self.rig = self._rig(link)
        self.watch = {e: Watch() for e in self.rig.c.controllers}
        self.loop.run_until_complete(self.rig.start())

    def _rig(self, link: FakeLink) -> Rig:
        rig = Rig.__new__(Rig)
        (self.tmp / "firmware.toml").write_text(self.config_text, encoding="utf-8")
        Rig.__init__(rig, self.tmp, link)
        return rig

    def teardown(self) -> None:
        self.loop.run_until_complete(self.rig.stop())
        self.rig.c.store.close()
        self.loop.close()

    # ---- stepping -----------------------------------------------------------------------------

    def advance(self, seconds: float) -> None:
        steps = max(1, round(seconds / 0.01))

        async def go() -> None:
            for _ in range(steps):
                await self.rig.run(0.01)
                self.check()

        self.loop.run_until_complete(go())

    def command(self, call) -> None:
        """A CSMS command, issued as the adapter does: from inside the running loop."""

        async def go() -> None:
            call()

        self.loop.run_until_complete(go())

    def run_task(self, coro) -> None:
        """Run a policy coroutine while time goes on (it may wait on the clock)."""

        async def go() -> None:
            task = asyncio.ensure_future(coro)
            while not task.done():
                await self.rig.run(0.01)
                self.check()
            task.result()

        self.loop.run_until_complete(go())

    # ---- rules --------------------------------------------------------------------------------

    evse = st.integers(min_value=1, max_value=2)

    def pick(self, n: int) -> int:
        """Map a drawn number onto this machine's EVSEs (one or two)."""
        ids = sorted(self.rig.c.controllers)
        return ids[(n - 1) % len(ids)]

    def csms_acknowledges(self) -> None:
        """The CSMS answers every queued message; Starts get transaction id 1000 + local id."""
        store = self.rig.c.store
        while (head := store.outbox_head()) is not None:
            store.outbox_ack(head.seq, csms_id=1000 + head.local_tx if head.kind == "start" else None)

    @rule(evse=evse, data=st.data())
    def plug(self, evse: int, data) -> None:
        evse = self.pick(evse)
        if not self.rig.sim.evses[evse].ev.plugged:
            self.rig.sim.plug(evse, max_current_a=data.draw(st.sampled_from([10.0, 16.0, 32.0])))

    @rule(evse=evse, tag=st.sampled_from(["TAG-1", "TAG-2", "TECH-1"]))
    def start_charging(self, evse: int, tag: str) -> None:
        """Plug, badge and EV ready in one step, so energised EVSEs are common in the search."""
        evse = self.pick(evse)
        if not self.rig.sim.evses[evse].ev.plugged:
            self.rig.sim.plug(evse)
        self.advance(0.05)
        self.run_task(self.rig.c.station.present_token(IdToken(tag, evse_id=evse)))
        self.rig.sim.set_ev_state(evse, "C")
        self.advance(0.1)

    @rule(evse=evse)
    def unplug(self, evse: int) -> None:
        evse = self.pick(evse)
        if self.rig.sim.evses[evse].ev.plugged:
            self.rig.sim.unplug(evse)

    @rule(evse=evse, state=st.sampled_from(["B", "C", "D"]))
    def ev_state(self, evse: int, state: str) -> None:
        evse = self.pick(evse)
        if self.rig.sim.evses[evse].ev.plugged:
            self.rig.sim.set_ev_state(evse, state)

    @rule(tag=st.sampled_from(TAGS))
    def tap(self, tag: str) -> None:
        self.run_task(self.rig.c.station.present_token(IdToken(tag)))

    @rule(tag=st.sampled_from(TAGS), evse=st.one_of(st.none(), evse))
    def remote_start(self, tag: str, evse: int | None) -> None:
        self.command(lambda: self.rig.c.station.remote_start(tag, None if evse is None else self.pick(evse)))

    @rule(evse=evse)
    def remote_stop(self, evse: int) -> None:
        evse = self.pick(evse)
        self.csms_acknowledges()
        tx = self.rig.c.station.sessions[evse].tx
        if tx is not None:
            self.command(lambda: self.rig.c.station.remote_stop(1000 + tx.local_id))

    @rule(evse=st.one_of(st.just(0), evse), operative=st.booleans())
    def availability(self, evse: int, operative: bool) -> None:
        self.command(lambda: self.rig.c.station.change_availability(evse and self.pick(evse), operative))

    @rule(online=st.booleans())
    def link(self, online: bool) -> None:
        self.rig.link.online = online

    @rule(evse=evse, kind=st.sampled_from(INJECTABLE))
    def inject(self, evse: int, kind: str) -> None:
        evse = self.pick(evse)
        self.rig.sim.inject_fault(evse, kind)

    @rule(evse=evse, kind=st.sampled_from(INJECTABLE))
    def clear(self, evse: int, kind: str) -> None:
        evse = self.pick(evse)
        self.rig.sim.clear_fault(evse, kind)

    @rule(evse=evse)
    def technician_clears(self, evse: int) -> None:
        evse = self.pick(evse)
        self.rig.c.controllers[evse].clear_latched_faults()

    @rule(seconds=st.sampled_from([0.01, 0.05, 0.2, 1.0, 3.0, 7.0]))
    def wait(self, seconds: float) -> None:
        self.advance(seconds)

    # ---- invariants ---------------------------------------------------------------------------

    def check(self) -> None:
        now = self.rig.clock.monotonic()
        for evse_id, ctl in self.rig.c.controllers.items():
            w = self.watch[evse_id]
            snap = ctl.snapshot()
            where = f"EVSE {evse_id} at {now:.2f}"
            faults = snap.faults
            if faults:
                w.fault_since = w.fault_since if w.fault_since is not None else now
            else:
                w.fault_since = None
            if snap.pilot.pwm_on:
                w.pwm_off_since = None
            elif w.pwm_off_since is None:
                w.pwm_off_since = now
            if snap.contactor_closed:
                assert not faults or now - w.fault_since <= FAULT_BUDGET_S + EPS, (
                    f"{where}: closed with {set(faults)} for {now - w.fault_since:.2f} s")
                assert snap.plugged and snap.cp_state in (CpState.C, CpState.D), f"{where}: closed in {snap.cp_state}"
                if snap.pilot.pwm_on:
                    assert snap.cp_state is CpState.C, f"{where}: closed in D without ventilation"
                    assert snap.authorised and snap.available and snap.offered_current_a >= 6, (
                        f"{where}: closed without authorisation/availability/6 A: {snap}")
                else:
                    assert w.pwm_off_since is not None and now - w.pwm_off_since <= C1_GRACE_S + EPS, (
                        f"{where}: closed {now - (w.pwm_off_since or now):.2f} s after the PWM stopped")
                lock = ctl.devices.lock
                assert lock is None or lock.commanded_locked, f"{where}: lock released while energised"
                if snap.pilot.pwm_on:
                    duty = snap.pilot.duty_percent
                    if w.last_duty is not None and abs(duty - w.last_duty) > 1e-9:
                        assert now - w.duty_changed_at >= PWM_MIN_INTERVAL_S - EPS, (
                            f"{where}: duty changed after {now - w.duty_changed_at:.2f} s while charging")
                        w.duty_changed_at = now
                    w.last_duty = duty
            else:
                w.last_duty = None
                w.duty_changed_at = float("-inf")

    @invariant()
    def holds(self) -> None:
        """Commands only set intentions; the controller acts on them at its next cycle, so the
        invariants are checked after one (advance checks after every step it takes)."""
        self.advance(0.01)


class StationSafetyTwoEvses(StationSafety):
    config_text = TWO_EVSES


for machine in (StationSafety, StationSafetyTwoEvses):
    machine.TestCase.settings = settings(
        max_examples=25, stateful_step_count=30, deadline=None,
        suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much],
    )

TestStationSafetyOneEvse = StationSafety.TestCase
TestStationSafetyTwoEvses = StationSafetyTwoEvses.TestCase
