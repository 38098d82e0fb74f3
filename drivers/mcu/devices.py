"""The hal/ devices of one EVSE on a safety co-processor board. Every call is synchronous and
cheap: commands change the link's wanted state (the link thread sends them), readings come from
the MCU's latest reports. None of them waits for the serial line."""
from __future__ import annotations

from drivers.mcu import protocol as p
from drivers.mcu.link import McuLink
from drivers.pilot.proximity import classify_pp
from hal.clock import Clock
from hal.types import CpReading, CpState, PilotMode, PilotOutput, ProximityReading

SELF_TEST_TIMEOUT_S = 5.0
_POLL_S = 0.01


class McuContactor:
    """hal.contracts.Contactor. `set_closed(True)` is Borne's allow: the MCU closes the relay
    only while it sees C or D and the allow is fresh, so the feedback may lag the command by
    the relay's switching time, or stay open when the MCU refuses."""

    # The relay follows the allow only while the EV asks for energy (tools such as the doctor
    # read this to know a close with no EV cannot be observed).
    closes_only_with_ev = True

    def __init__(self, link: McuLink, evse: int) -> None:
        self.link, self.evse = link, evse

    def set_closed(self, closed: bool) -> None:
        self.link.set_allow(self.evse, closed)

    @property
    def commanded_closed(self) -> bool:
        return self.link.view(self.evse).allow

    def feedback_closed(self) -> bool | None:
        """The mirror contact as the MCU last reported it; None while the link is lost, so a
        stale report is never judged as a weld or a failure to close."""
        if self.link.lost():
            return None
        relay = self.link.view(self.evse).relay
        return relay.feedback if relay is not None else None


class McuPilot:
    """hal.contracts.ControlPilot. The MCU generates the signal and classifies the plateaus."""

    def __init__(self, link: McuLink, evse: int) -> None:
        self.link, self.evse = link, evse

    def set_pwm(self, duty_percent: float) -> None:
        self.link.set_pilot(self.evse, PilotOutput(PilotMode.PWM, float(duty_percent)))

    def set_constant_high(self) -> None:
        self.link.set_pilot(self.evse, PilotOutput(PilotMode.CONSTANT_HIGH, 100.0))

    def set_state_f(self) -> None:
        self.link.set_pilot(self.evse, PilotOutput(PilotMode.STATE_F, 0.0))

    @property
    def output(self) -> PilotOutput:
        return self.link.view(self.evse).pilot

    def read(self) -> CpReading:
        """The MCU's latest classification. -12 V is only ever the EVSE's own signal: while
        Borne does not command F, a report taken under F belongs to a command still on its way,
        and the last state seen from the EV stands."""
        view = self.link.view(self.evse)
        report = view.cp if view.pilot.mode is PilotMode.STATE_F else view.cp_ev
        if report is None:
            return CpReading(CpState.F if view.pilot.mode is PilotMode.STATE_F else CpState.A)
        return CpReading(report.state, report.diode_fault)

    def plateaus(self) -> tuple[float, float] | None:
        """High and low plateau voltages of the latest report (diagnostics)."""
        cp = self.link.view(self.evse).cp
        return (cp.high_v, cp.low_v) if cp is not None else None


class McuProximity:
    """hal.contracts.ProximityPilot from the MCU's PP resistance, classified like the ADC driver."""

    def __init__(self, link: McuLink, evse: int) -> None:
        self.link, self.evse = link, evse

    def read(self) -> ProximityReading:
        pp = self.link.view(self.evse).pp
        if pp is None or pp.ohm is None:
            return ProximityReading(ampacity_a=None)
        return classify_pp(pp.ohm)


class McuRcm:
    """hal.contracts.ResidualCurrentMonitor. The MCU opens the relay on a trip by itself and
    latches it until RCMRESET; `tripped` follows its reports, except between `reset()` and the
    MCU's answer (a report sent before the reset must not re-latch the core)."""

    def __init__(self, link: McuLink, evse: int, clock: Clock, timeout_s: float = SELF_TEST_TIMEOUT_S) -> None:
        self.link, self.evse, self.clock, self.timeout_s = link, evse, clock, timeout_s
        self.last_self_test: str = ""

    def tripped(self) -> bool:
        return self.link.view(self.evse).rcm_tripped

    def reset(self) -> None:
        self.link.rcm_reset(self.evse)

    async def self_test(self) -> bool:
        """Ask the MCU to run its test and wait (on the clock) for the result; no result
        within `timeout_s` counts as a failure."""
        number = self.link.start_self_test(self.evse)
        deadline = self.clock.monotonic() + self.timeout_s
        while True:
            test = self.link.self_test(self.evse, number)
            if test is not None and test.phase == "done":
                self.last_self_test = f"{'passed' if test.passed else 'failed'}: {test.detail}"
                return bool(test.passed)
            if self.clock.monotonic() >= deadline:
                self.last_self_test = f"failed: no result within {self.timeout_s:g} s"
                return False
            await self.clock.sleep(_POLL_S)


class McuSocketLock:
    """hal.contracts.SocketLock driven by the MCU (pulses and feedback are its business)."""

    def __init__(self, link: McuLink, evse: int) -> None:
        self.link, self.evse = link, evse

    def set_locked(self, locked: bool) -> None:
        self.link.set_lock(self.evse, locked)

    @property
    def commanded_locked(self) -> bool:
        return self.link.view(self.evse).lock

    def feedback_locked(self) -> bool | None:
        if self.link.lost():
            return None
        report = self.link.view(self.evse).lock_report
        return report.feedback if report is not None else None


class McuOverTemperature:
    """hal.contracts.FaultInput: the MCU's over-temperature report (it opens the relay itself)."""

    def __init__(self, link: McuLink, evse: int) -> None:
        self.link, self.evse = link, evse

    def active(self) -> bool:
        return p.F_TEMP in self.link.view(self.evse).faults


class McuLinkFault:
    """hal.contracts.FaultInput, active while the MCU is silent or not in a session with Borne
    (it then holds every relay open and the pilot in F by itself)."""

    def __init__(self, link: McuLink) -> None:
        self.link = link

    def active(self) -> bool:
        return self.link.lost()
