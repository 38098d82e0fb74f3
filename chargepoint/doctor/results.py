"""What a doctor run found: one result per check, kept as plain data so the table, the JSON
output and the tests read the same thing."""
from __future__ import annotations

import enum
import math
from dataclasses import dataclass, field
from typing import Any


class Outcome(str, enum.Enum):
    PASS = "pass"
    FAIL = "fail"
    SKIP = "skipped"


@dataclass(frozen=True)
class Verdict:
    """What one check concluded; the runner adds where it ran and how long it took."""

    outcome: Outcome
    detail: str
    hint: str = ""  # what to check on site when it failed
    values: dict[str, Any] = field(default_factory=dict)
    lines: tuple[str, ...] = ()  # extra lines shown under the row (e.g. one per meter register)


def passed(detail: str, *, lines: tuple[str, ...] = (), **values: Any) -> Verdict:
    return Verdict(Outcome.PASS, detail, values=values, lines=lines)


def failed(detail: str, hint: str, *, lines: tuple[str, ...] = (), **values: Any) -> Verdict:
    return Verdict(Outcome.FAIL, detail, hint, values=values, lines=lines)


def skipped(detail: str, **values: Any) -> Verdict:
    return Verdict(Outcome.SKIP, detail, values=values)


@dataclass(frozen=True)
class CheckResult:
    scope: str  # "EVSE 1" or "box"
    device: str  # "control pilot", "energy meter"...
    check: str  # which exercise of the device
    verdict: Verdict
    duration_s: float = 0.0

    @property
    def outcome(self) -> Outcome:
        return self.verdict.outcome

    def to_json(self) -> dict[str, Any]:
        v = self.verdict
        return {"scope": self.scope, "device": self.device, "check": self.check, "outcome": v.outcome.value,
                "detail": v.detail, "hint": v.hint, "values": _json_safe(v.values), "lines": list(v.lines),
                "duration_s": round(self.duration_s, 3)}


@dataclass
class Report:
    """Filled while the doctor runs, so an interrupted run still shows what it found."""

    board: str = ""
    results: list[CheckResult] = field(default_factory=list)
    safe_state: dict[str, Any] = field(default_factory=dict)  # what the outputs were left at
    interrupted: bool = False

    def count(self, outcome: Outcome) -> int:
        return sum(1 for r in self.results if r.outcome is outcome)

    @property
    def ok(self) -> bool:
        return not self.interrupted and self.count(Outcome.FAIL) == 0

    @property
    def exit_code(self) -> int:
        """0 when everything passed or was skipped, 1 otherwise (2 is the CLI's, for a broken
        configuration that never gets this far)."""
        return 0 if self.ok else 1

    def to_json(self) -> dict[str, Any]:
        return {
            "board": self.board,
            "ok": self.ok,
            "interrupted": self.interrupted,
            "summary": {o.value: self.count(o) for o in Outcome},
            "results": [r.to_json() for r in self.results],
            "safe_state": _json_safe(self.safe_state),
        }


def _json_safe(value: Any) -> Any:
    """Plain JSON (no NaN or infinity, which strict parsers refuse): such numbers become None."""
    if isinstance(value, float):
        return value if math.isfinite(value) else None
    if isinstance(value, dict):
        return {str(k): _json_safe(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_json_safe(v) for v in value]
    if isinstance(value, enum.Enum):
        return value.value
    return value
