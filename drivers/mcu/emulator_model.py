"""What an emulated safety co-processor does, without any I/O: the rules of
docs/mcu-protocol.md ("What the MCU guarantees") applied to an IEC 61851 EV, a relay with a
mirror contact, an RCM, a lock and a thermal sensor. `receive` answers Borne's lines, `tick`
applies the rules at a moment of the injected clock; both return the lines to send."""
from __future__ import annotations

from dataclasses import dataclass, field

from drivers.mcu import protocol as p
from drivers.mcu.codec import Frame
from hal.types import CpState, PilotMode, PilotOutput

Line = tuple[str, tuple[str, ...]]

STATE_F = PilotOutput(PilotMode.STATE_F, 0.0)
EV_PLATEAU_V = {CpState.A: 12.0, CpState.B: 9.0, CpState.C: 6.0, CpState.D: 3.0, CpState.E: 0.0}
DIODE_LOW_LIMIT_V = -10.0
TEST_OUTCOMES = ("pass", "no-trip", "stuck")
TRIP_AFTER_S = 0.7
RELEASE_AFTER_S = 1.2


@dataclass
class EmulatedEvse:
    ev: CpState = CpState.A  # what the EV (or its absence) does to the pilot
    diode_shorted: bool = False
    pp_ohm: float | None = None  # None: no cable
    allow: bool = False
    allow_at: float = float("-inf")
    pilot: PilotOutput = STATE_F
    drive: bool = False  # relay coil
    weld: bool = False  # main contacts stuck closed
    stuck_open: bool = False  # main contacts never close
    mismatch_since: float | None = None
    not_pwm_since: float | None = None
    rcm_current: bool = False
    rcm_latched: bool = False
    over_temperature: bool = False
    lock_drive: bool = False
    test_started: float | None = None
    test_outcome: str = "pass"
    sent: dict[str, tuple[str, ...]] = field(default_factory=dict)

    @property
    def contacts_closed(self) -> bool:
        return self.weld or (self.drive and not self.stuck_open)

    def cp(self) -> tuple[CpState, float, float, bool]:
        """State, high and low plateau, diode fault: what the MCU measures on its own pilot."""
        if self.pilot.mode is PilotMode.STATE_F:
            return CpState.F, -12.0, -12.0, False
        high = EV_PLATEAU_V[self.ev]
        if self.pilot.mode is not PilotMode.PWM or self.ev is CpState.E:
            return self.ev, high, high, False
        low = high if self.diode_shorted and self.ev.plugged else -12.0
        return self.ev, high, low, low > DIODE_LOW_LIMIT_V


class McuModel:
    def __init__(self, evses: int = 1, *, caps: tuple[str, ...] = (p.CAP_PP, p.CAP_LOCK, p.CAP_TEMP),
                 heartbeat_s: float = p.HEARTBEAT_MS / 1000, firmware: str = "borne-mcu-emulator/1") -> None:
        self.evses = {i: EmulatedEvse() for i in range(1, evses + 1)}
        self.caps = tuple(caps)
        self.heartbeat_s = heartbeat_s
        self.firmware = firmware
        self.timeout_s = p.SILENCE_TIMEOUT_MS / 1000
        self.mode, self.why = p.SAFE, p.WHY_BOOT
        self.last_rx = float("-inf")
        self._next_broadcast = float("-inf")
        self._mode_sent: tuple[str, ...] = ()

    # ---- power-up and the session ----------------------------------------------------------

    def boot(self) -> list[Line]:
        """Power-up (or reset): safe, waiting for HELLO. Physical facts (EV, weld, residual
        current) survive; what lived in RAM does not."""
        for e in self.evses.values():
            e.allow, e.pilot, e.drive, e.rcm_latched, e.test_started = False, STATE_F, False, False, None
            e.sent.clear()
        self.mode, self.why = p.SAFE, p.WHY_BOOT
        self._next_broadcast = float("-inf")
        return [self._hello_line()]

    def _hello_line(self) -> Line:
        caps = ",".join(self.caps) or "-"
        return p.HELLO, (str(p.VERSION), f"evses={len(self.evses)}", f"caps={caps}", f"fw={self.firmware}")

    def _go_safe(self, why: str) -> None:
        self.mode, self.why = p.SAFE, why
        for e in self.evses.values():
            e.allow, e.drive, e.pilot = False, False, STATE_F

    # ---- Borne's lines ---------------------------------------------------------------------

    def receive(self, frame: Frame, now: float) -> list[Line]:
        out: list[Line] = []
        ack: Line = (p.ACK, (str(frame.seq),))

        def nak(reason: str) -> list[Line]:
            return [(p.NAK, (str(frame.seq), reason))]

        if frame.verb == p.HELLO:
            return self._session(frame, now)
        if frame.verb not in p.COMMANDS:
            return nak(p.UNKNOWN)
        if self.mode != p.RUN:
            return nak(p.SESSION)
        self.last_rx = now
        if frame.verb == p.HB:
            return [ack]
        pos = frame.positional
        evse_id = p.parse_evse(pos[0]) if pos else None
        if not pos:
            return nak(p.SYNTAX)
        if evse_id is None or evse_id not in self.evses:
            return nak(p.NO_EVSE)
        e, args = self.evses[evse_id], pos[1:]
        if frame.verb in (p.POWER, p.LOCK):
            if args not in (("ON",), ("OFF",)):
                return nak(p.SYNTAX)
            if frame.verb == p.LOCK:
                if p.CAP_LOCK not in self.caps:
                    return nak(p.CAPABILITY)
                e.lock_drive = args == ("ON",)
            else:
                e.allow = args == ("ON",)
                e.allow_at = now if e.allow else float("-inf")
        elif frame.verb == p.PILOT:
            pilot = p.parse_pilot(args)
            if pilot is None:
                return nak(p.RANGE if args[:1] == ("PWM",) and len(args) == 2 else p.SYNTAX)
            e.pilot = pilot
        elif frame.verb == p.RCMRESET:
            if e.rcm_current:
                return nak(p.ACTIVE)
            e.rcm_latched = False
        elif frame.verb == p.RCMTEST:
            if e.test_started is not None:
                return nak(p.BUSY)
            if e.rcm_latched or e.rcm_current:
                return nak(p.ACTIVE)
            if e.drive:
                return nak(p.ENERGISED)
            e.test_started = now
        out.append(ack)
        return out + self.tick(now)

    def _session(self, frame: Frame, now: float) -> list[Line]:
        pos = frame.positional
        if not pos or not pos[0].isdigit():
            return [(p.NAK, (str(frame.seq), p.SYNTAX))]
        if int(pos[0]) != p.VERSION:
            return [(p.NAK, (str(frame.seq), p.BAD_VERSION)), self._hello_line()]
        timeout = frame.param("timeout", str(p.SILENCE_TIMEOUT_MS))
        if not (timeout and timeout.isdigit() and p.SILENCE_TIMEOUT_MIN_MS <= int(timeout) <= p.SILENCE_TIMEOUT_MAX_MS):
            return [(p.NAK, (str(frame.seq), p.RANGE))]
        self.timeout_s = int(timeout) / 1000
        self.mode, self.why, self.last_rx = p.RUN, None, now
        for e in self.evses.values():
            e.allow, e.allow_at = False, float("-inf")
            e.sent.clear()
        self._next_broadcast = float("-inf")
        return [(p.ACK, (str(frame.seq),)), self._hello_line(), *self.tick(now)]

    # ---- the rules, applied at `now` -------------------------------------------------------

    def tick(self, now: float) -> list[Line]:
        out: list[Line] = []
        if self.mode == p.RUN and now - self.last_rx > self.timeout_s:
            self._go_safe(p.WHY_WATCHDOG)
        for evse_id, e in self.evses.items():
            out += self._test_step(evse_id, e, now)
            if e.rcm_current and e.test_started is None:
                e.rcm_latched = True
            self._relay_step(e, now)
        broadcast = now >= self._next_broadcast
        if broadcast:
            self._next_broadcast = now + self.heartbeat_s
        mode = (self.mode,) if self.why is None else (self.mode, self.why)
        if broadcast or mode != self._mode_sent:
            out.append((p.HB, mode))
            self._mode_sent = mode
        for evse_id, e in self.evses.items():
            for verb, args in self._reports(evse_id, e, now):
                if broadcast or e.sent.get(verb) != args:
                    e.sent[verb] = args
                    out.append((verb, args))
        return out

    def _relay_step(self, e: EmulatedEvse, now: float) -> None:
        fresh = e.allow and now - e.allow_at <= self.timeout_s
        hold = (self.mode == p.RUN and fresh and e.cp()[0] in (CpState.C, CpState.D) and not e.rcm_latched
                and not e.over_temperature and e.test_started is None)
        if e.pilot.mode is PilotMode.PWM or not e.drive:
            e.not_pwm_since = None
        elif e.not_pwm_since is None:
            e.not_pwm_since = now
        if e.not_pwm_since is not None and now - e.not_pwm_since >= p.C1_BACKSTOP_MS / 1000:
            hold = False  # the EV kept drawing without PWM: Borne should have withdrawn the allow
        if not hold:
            e.drive = False
        elif not e.drive and e.pilot.mode is PilotMode.PWM and not e.contacts_closed:
            e.drive = True  # never onto contacts that are closed with the coil off: a weld
        if e.drive == e.contacts_closed:
            e.mismatch_since = None
        elif e.mismatch_since is None:
            e.mismatch_since = now

    def _faults(self, e: EmulatedEvse, now: float) -> list[str]:
        codes = []
        if e.rcm_latched:
            codes.append(p.F_RCM)
        if e.mismatch_since is not None and now - e.mismatch_since > p.FEEDBACK_MISMATCH_MS / 1000:
            codes.append(p.F_NOCLOSE if e.drive else p.F_WELD)
        if e.over_temperature:
            codes.append(p.F_TEMP)
        return codes

    def _reports(self, evse_id: int, e: EmulatedEvse, now: float) -> list[Line]:
        state, high, low, diode = e.cp()
        n = str(evse_id)
        lines: list[Line] = [
            (p.CP, (n, state.value, f"hi={high:.2f}", f"lo={low:.2f}", f"diode={int(diode)}",
                    f"pilot={p.pilot_word(e.pilot)}")),
            (p.RELAY, (n, f"drive={int(e.drive)}", f"fb={int(e.contacts_closed)}")),
            (p.FAULT, (n, ",".join(self._faults(e, now)) or "-")),
        ]
        if p.CAP_PP in self.caps:
            lines.append((p.PP, (n, "ohm=open" if e.pp_ohm is None else f"ohm={round(e.pp_ohm)}")))
        if p.CAP_LOCK in self.caps:
            lines.append((p.LOCK, (n, f"drive={int(e.lock_drive)}", f"fb={int(e.lock_drive)}")))
        return lines

    def _test_step(self, evse_id: int, e: EmulatedEvse, now: float) -> list[Line]:
        if e.test_started is None:
            return []
        elapsed = now - e.test_started
        n = str(evse_id)
        trip_ms, release_ms = round(TRIP_AFTER_S * 1000), round(RELEASE_AFTER_S * 1000)
        if e.test_outcome == "pass" and elapsed >= RELEASE_AFTER_S:
            result: Line = (p.TEST, (n, "PASS", f"trip_ms={trip_ms}", f"release_ms={release_ms}"))
        elif e.test_outcome == "no-trip" and elapsed >= p.RCM_TRIP_WITHIN_MS / 1000:
            result = (p.TEST, (n, "FAIL", "trip_ms=-", "release_ms=-"))
        elif e.test_outcome == "stuck" and elapsed >= p.RCM_RELEASE_WITHIN_MS / 1000:
            result = (p.TEST, (n, "FAIL", f"trip_ms={trip_ms}", "release_ms=-"))
            e.rcm_latched = True  # an output that never clears is a trip
        else:
            return []
        e.test_started = None
        return [result]
