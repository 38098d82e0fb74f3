"""What the box's status light shows: one pattern for the whole charge point, chosen from the
connector statuses by urgency, so a driver walking up sees the one thing that matters most
(a fault before a charging session, a session before an idle connector)."""
from __future__ import annotations

from collections.abc import Iterable

from chargepoint.status import ConnectorStatus
from hal.types import IndicatorPattern

# Most urgent first: the first status present decides the pattern.
_URGENCY: tuple[tuple[ConnectorStatus, IndicatorPattern], ...] = (
    (ConnectorStatus.FAULTED, IndicatorPattern.FAULTED),
    (ConnectorStatus.CHARGING, IndicatorPattern.CHARGING),
    (ConnectorStatus.SUSPENDED_EVSE, IndicatorPattern.SUSPENDED),
    (ConnectorStatus.SUSPENDED_EV, IndicatorPattern.SUSPENDED),
    (ConnectorStatus.PREPARING, IndicatorPattern.PREPARING),
    (ConnectorStatus.FINISHING, IndicatorPattern.FINISHING),
    # A reserved connector waits for its holder: shown like one waiting for a plug or a badge.
    (ConnectorStatus.RESERVED, IndicatorPattern.PREPARING),
    (ConnectorStatus.AVAILABLE, IndicatorPattern.AVAILABLE),
)


def indicator_pattern(statuses: Iterable[ConnectorStatus]) -> IndicatorPattern:
    present = set(statuses)
    for status, pattern in _URGENCY:
        if status in present:
            return pattern
    return IndicatorPattern.UNAVAILABLE
