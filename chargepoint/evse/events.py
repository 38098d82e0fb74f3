"""Events the EVSE controller reports after acting. They describe what already happened."""
from __future__ import annotations

from dataclasses import dataclass

from hal.types import CpState, FaultKind, PilotOutput


@dataclass(frozen=True)
class EvseEvent:
    evse_id: int


@dataclass(frozen=True)
class CpChanged(EvseEvent):
    previous: CpState
    current: CpState


@dataclass(frozen=True)
class ContactorChanged(EvseEvent):
    closed: bool


@dataclass(frozen=True)
class PilotChanged(EvseEvent):
    output: PilotOutput


@dataclass(frozen=True)
class FaultRaised(EvseEvent):
    kind: FaultKind


@dataclass(frozen=True)
class FaultCleared(EvseEvent):
    kind: FaultKind
