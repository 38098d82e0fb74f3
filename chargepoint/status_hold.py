"""MinimumStatusDuration (OCPP 1.6 §4.9): a connector status is reported only once it has
lasted that long, so the short statuses a session passes through (a second of SuspendedEV between
Preparing and Charging) do not each become a StatusNotification. A status that changes again
sooner is never reported; one that returns to what was reported last is not reported again."""
from __future__ import annotations

from collections.abc import Hashable


class StatusHold:
    def __init__(self) -> None:
        self._candidates: dict[int, tuple[Hashable, float]] = {}

    def due(self, connector_id: int, current: Hashable, reported: Hashable | None, now: float,
            hold_s: float) -> bool:
        """Whether `current` is to be reported now. Nothing reported yet (start-up, a new
        connection) means the current status goes at once: the CSMS must learn it."""
        if current == reported:
            self._candidates.pop(connector_id, None)
            return False
        if reported is None or hold_s <= 0:
            self._candidates.pop(connector_id, None)
            return True
        candidate = self._candidates.get(connector_id)
        if candidate is None or candidate[0] != current:
            candidate = (current, now)
            self._candidates[connector_id] = candidate
        if now - candidate[1] >= hold_s:
            del self._candidates[connector_id]
            return True
        return False

