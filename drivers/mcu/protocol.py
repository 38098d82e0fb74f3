"""The vocabulary of the safety co-processor protocol (docs/mcu-protocol.md): verbs, reasons,
timing defaults, and the typed reports the MCU sends. Framing lives in codec.py."""
from __future__ import annotations

import math
from dataclasses import dataclass

from drivers.mcu.codec import Frame
from hal.types import CpState, PilotMode, PilotOutput

VERSION = 1

# Borne -> MCU commands (each answered by ACK or NAK).
HELLO = "HELLO"
HB = "HB"
POWER = "POWER"
PILOT = "PILOT"
LOCK = "LOCK"
RCMRESET = "RCMRESET"
RCMTEST = "RCMTEST"
COMMANDS = (HELLO, HB, POWER, PILOT, LOCK, RCMRESET, RCMTEST)

# MCU -> Borne reports (HELLO, HB and LOCK are shared names, told apart by direction).
ACK = "ACK"
NAK = "NAK"
CP = "CP"
RELAY = "RELAY"
FAULT = "FAULT"
PP = "PP"
TEST = "TEST"

# NAK reasons.
SYNTAX = "SYNTAX"  # arguments missing or malformed
UNKNOWN = "UNKNOWN"  # verb not known
NO_EVSE = "EVSE"  # no such EVSE
RANGE = "RANGE"  # value out of range
SESSION = "SESSION"  # no session: HELLO first
BAD_VERSION = "VERSION"  # protocol version not spoken
BUSY = "BUSY"  # a self-test is running
ACTIVE = "ACTIVE"  # residual current still flowing
ENERGISED = "ENERGISED"  # self-test refused with the relay closed
CAPABILITY = "CAPABILITY"  # the board lacks the feature (PP, lock)
NAK_REASONS = (SYNTAX, UNKNOWN, NO_EVSE, RANGE, SESSION, BAD_VERSION, BUSY, ACTIVE, ENERGISED, CAPABILITY)

# MCU modes in its heartbeat, and its reasons for being safe.
RUN = "RUN"
SAFE = "SAFE"
WHY_BOOT = "BOOT"
WHY_WATCHDOG = "WATCHDOG"
WHY_INTERNAL = "INTERNAL"

# Per-EVSE fault codes.
F_RCM = "RCM"
F_WELD = "WELD"
F_NOCLOSE = "NOCLOSE"
F_TEMP = "TEMP"
FAULT_CODES = (F_RCM, F_WELD, F_NOCLOSE, F_TEMP)

# Capabilities announced in HELLO.
CAP_PP = "pp"
CAP_LOCK = "lock"
CAP_TEMP = "temp"

# Timing (milliseconds), see "Timing" in the protocol document.
HEARTBEAT_MS = 100
SILENCE_TIMEOUT_MS = 500
SILENCE_TIMEOUT_MIN_MS = 100
SILENCE_TIMEOUT_MAX_MS = 2000
FEEDBACK_MISMATCH_MS = 250
C1_BACKSTOP_MS = 6000
RCM_TEST_PULSE_MS = 250
RCM_TRIP_WITHIN_MS = 800
RCM_RELEASE_WITHIN_MS = 1500


def pilot_args(output: PilotOutput) -> tuple[str, ...]:
    """The arguments after `PILOT <evse>` for an output."""
    if output.mode is PilotMode.PWM:
        return ("PWM", f"{output.duty_percent:.2f}")
    return ("HIGH",) if output.mode is PilotMode.CONSTANT_HIGH else ("F",)


def parse_pilot(words: tuple[str, ...]) -> PilotOutput | None:
    """The inverse of pilot_args; None when malformed or out of range (0 < duty < 100)."""
    if words == ("HIGH",):
        return PilotOutput(PilotMode.CONSTANT_HIGH)
    if words == ("F",):
        return PilotOutput(PilotMode.STATE_F, 0.0)
    if len(words) == 2 and words[0] == "PWM":
        duty = parse_float(words[1])
        if duty is not None and 0.0 < duty < 100.0:
            return PilotOutput(PilotMode.PWM, duty)
    return None


def pilot_word(output: PilotOutput) -> str:
    """The pilot as one word, as the MCU reports what it drives: HIGH, F or the duty."""
    return " ".join(pilot_args(output)).replace("PWM ", "")


def parse_pilot_word(word: str | None) -> PilotOutput | None:
    if word in ("HIGH", "F"):
        return parse_pilot((word,))
    return parse_pilot(("PWM", word)) if word else None


def parse_float(text: str | None) -> float | None:
    try:
        value = float(text) if text is not None else math.nan
    except ValueError:
        return None
    return value if math.isfinite(value) else None


def parse_flag(text: str | None) -> bool | None:
    """`1`/`0`, or None for `-` (not fitted) and anything else."""
    return {"1": True, "0": False}.get(text or "")


def parse_evse(text: str) -> int | None:
    return int(text) if text.isdigit() and len(text) <= 2 and int(text) >= 1 else None


# ---- typed MCU reports ---------------------------------------------------------------------


@dataclass(frozen=True)
class Hello:
    version: int
    evses: int
    caps: frozenset[str]
    firmware: str


@dataclass(frozen=True)
class Heartbeat:
    mode: str  # RUN or SAFE
    why: str | None  # for SAFE: BOOT, WATCHDOG, INTERNAL


@dataclass(frozen=True)
class CpReport:
    evse: int
    state: CpState
    high_v: float
    low_v: float
    diode_fault: bool
    pilot: PilotOutput  # what the MCU drives while it measured this


@dataclass(frozen=True)
class RelayReport:
    evse: int
    drive: bool
    feedback: bool | None  # main contacts closed per the mirror contact; None: no feedback fitted


@dataclass(frozen=True)
class FaultReport:
    evse: int
    codes: frozenset[str]


@dataclass(frozen=True)
class PpReport:
    evse: int
    ohm: float | None  # None: open (no cable)


@dataclass(frozen=True)
class LockReport:
    evse: int
    drive: bool
    feedback: bool | None


@dataclass(frozen=True)
class SelfTestReport:
    evse: int
    passed: bool
    trip_ms: int | None
    release_ms: int | None


@dataclass(frozen=True)
class Ack:
    ref: int


@dataclass(frozen=True)
class Nak:
    ref: int
    reason: str


Report = Hello | Heartbeat | CpReport | RelayReport | FaultReport | PpReport | LockReport | SelfTestReport | Ack | Nak


def _ms(text: str | None) -> int | None:
    return int(text) if text is not None and text.isdigit() else None


def parse_report(frame: Frame) -> Report | None:
    """A frame from the MCU as a typed report; None for anything malformed or unknown (it is
    ignored, so a newer MCU may add reports without breaking an older Borne)."""
    pos, verb = frame.positional, frame.verb
    if verb in (ACK, NAK):
        if not pos or not pos[0].isdigit():
            return None
        ref = int(pos[0])
        return Ack(ref) if verb == ACK else Nak(ref, pos[1] if len(pos) > 1 else "")
    if verb == HELLO:
        if not pos or not pos[0].isdigit():
            return None
        evses = frame.param("evses", "")
        caps = frame.param("caps", "-") or "-"
        return Hello(int(pos[0]), int(evses) if evses and evses.isdigit() else 0,
                     frozenset() if caps == "-" else frozenset(caps.split(",")), frame.param("fw", "") or "")
    if verb == HB:
        if not pos or pos[0] not in (RUN, SAFE):
            return None
        return Heartbeat(pos[0], pos[1] if len(pos) > 1 else None)
    evse = parse_evse(pos[0]) if pos else None
    if evse is None:
        return None
    if verb == CP:
        if len(pos) < 2 or pos[1] not in CpState.__members__:
            return None
        high, low = parse_float(frame.param("hi")), parse_float(frame.param("lo"))
        diode, pilot = parse_flag(frame.param("diode")), parse_pilot_word(frame.param("pilot"))
        if high is None or low is None or diode is None or pilot is None:
            return None
        return CpReport(evse, CpState(pos[1]), high, low, diode, pilot)
    if verb in (RELAY, LOCK):
        drive = parse_flag(frame.param("drive"))
        if drive is None:
            return None
        feedback = parse_flag(frame.param("fb"))
        return (RelayReport if verb == RELAY else LockReport)(evse, drive, feedback)
    if verb == FAULT:
        if len(pos) < 2:
            return None
        return FaultReport(evse, frozenset() if pos[1] == "-" else frozenset(pos[1].split(",")))
    if verb == PP:
        ohm = frame.param("ohm")
        if ohm == "open":
            return PpReport(evse, None)
        value = parse_float(ohm)
        return PpReport(evse, value) if value is not None and value >= 0 else None
    if verb == TEST:
        if len(pos) < 2 or pos[1] not in ("PASS", "FAIL"):
            return None
        return SelfTestReport(evse, pos[1] == "PASS", _ms(frame.param("trip_ms")), _ms(frame.param("release_ms")))
    return None
