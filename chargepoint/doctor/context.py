"""What every check gets: the board, the clock, the technician's options, and what earlier
checks learnt (the CP state at rest decides whether the contactor may be closed)."""
from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from chargepoint.doctor.results import Verdict
from hal.board import Board
from hal.clock import Clock
from hal.types import CpState

if TYPE_CHECKING:
    from chargepoint.config import Config

DEFAULT_BADGE_TIMEOUT_S = 20.0
DEFAULT_PWM_DUTY_PERCENT = 5.0  # asks for digital communication: a basic EV does not start charging
DEFAULT_PATTERN_HOLD_S = 0.6


@dataclass(frozen=True)
class DoctorOptions:
    allow_contactor: bool = False  # close each contactor briefly (with the mirror-contact check)
    contactor_with_ev: bool = False  # ... even when CP shows a vehicle
    badge_timeout_s: float = DEFAULT_BADGE_TIMEOUT_S
    no_badge: bool = False
    pwm_duty_percent: float = DEFAULT_PWM_DUTY_PERCENT  # 0: no PWM test
    pattern_hold_s: float = DEFAULT_PATTERN_HOLD_S  # how long each indicator pattern is shown
    force: bool = False  # run although a controller seems to be running


@dataclass
class DoctorContext:
    config: Config
    board: Board
    clock: Clock
    options: DoctorOptions
    progress: Callable[[str], None] = lambda message: None  # prompts for the technician
    cp_at_rest: dict[int, CpState] = field(default_factory=dict)


@dataclass(frozen=True)
class Step:
    """One check to run, with the time it may take at most."""

    scope: str
    device: str
    check: str
    run: Callable[[], Awaitable[Verdict]]
    timeout_s: float
