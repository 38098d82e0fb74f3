"""Control-pilot debouncing. A new state counts once it has been seen continuously for the
debounce time; the budget (IEC 61851: detection within 50 ms including filtering) is the
configuration's to respect."""
from __future__ import annotations

from dataclasses import dataclass
from typing import Generic, TypeVar

T = TypeVar("T")


@dataclass
class Debounced(Generic[T]):
    value: T
    debounce_s: float
    _candidate: T | None = None
    _since: float = 0.0

    @property
    def settling(self) -> bool:
        """A different sample was seen and is waiting out the debounce time."""
        return self._candidate is not None

    def update(self, sample: T, now: float) -> bool:
        """Feed one sample; True when the accepted value changed."""
        if sample == self.value:
            self._candidate = None
            return False
        if sample != self._candidate:
            self._candidate = sample
            self._since = now
        if now - self._since >= self.debounce_s:
            self.value = sample
            self._candidate = None
            return True
        return False
