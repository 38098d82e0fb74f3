"""IEC 61851-1 duty-cycle arithmetic (Annex A). Pure functions, no state."""
from __future__ import annotations

MIN_CURRENT_A = 6.0
MAX_CURRENT_A = 80.0
# Between 51 A and 80 A the standard switches to a second formula.
FIRST_RANGE_MAX_A = 51.0


def duty_for_current(current_a: float) -> float:
    """Duty cycle (percent) the EVSE emits to offer `current_a`.

    Callers never offer less than 6 A: below that the EVSE pauses (constant +12 V) instead,
    so a value below 6 A is a programming error, not something to round up silently."""
    if current_a < MIN_CURRENT_A:
        raise ValueError(f"cannot signal {current_a} A: IEC 61851 offers 6 A at least")
    current_a = min(current_a, MAX_CURRENT_A)
    if current_a <= FIRST_RANGE_MAX_A:
        return current_a / 0.6
    return current_a / 2.5 + 64.0


def current_for_duty(duty_percent: float) -> float:
    """Current (A) an EV may draw for a duty cycle, per the EV-side decoding table; 0 = none."""
    d = duty_percent
    if 8.0 <= d < 10.0:
        return 6.0
    if 10.0 <= d <= 85.0:
        return d * 0.6
    if 85.0 < d <= 96.0:
        return (d - 64.0) * 2.5
    if 96.0 < d <= 97.0:
        return 80.0
    return 0.0


def offered_current(*limits_a: float | None) -> float:
    """The least of the limits that apply (None = no limit from that source)."""
    values = [v for v in limits_a if v is not None]
    return min(values) if values else 0.0
