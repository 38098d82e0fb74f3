"""Hold debouncing shared by the badge readers: a badge held on the reader is reported once.

Two ways of learning that a badge has gone:

- polled readers (PN532) ask "what is in the field?" and get a complete answer; a badge is
  released once a successful poll no longer lists it and it was last seen at least
  `hold_release_s` ago. A failed poll (timeout, garbage, port gone) says nothing either way, so
  a badge held through a glitch or a reconnection is not reported twice.
- streaming readers (RDM6300, line readers) repeat the tag while it is held and fall silent when
  it is gone; silence of `hold_release_s` releases it.
"""
from __future__ import annotations

from collections.abc import Iterable


class HoldDebouncer:
    def __init__(self, hold_release_s: float) -> None:
        if hold_release_s < 0:
            raise ValueError("hold_release_s must be >= 0")
        self.hold_release_s = hold_release_s
        self._last_seen: dict[str, float] = {}

    @property
    def held(self) -> frozenset[str]:
        """The tags currently considered on the reader."""
        return frozenset(self._last_seen)

    def observe(self, tags: Iterable[str], now: float, *, silence_is_absence: bool) -> list[str]:
        """Record the tags seen at `now`; return those that are new (to be reported), in order.

        With `silence_is_absence` False, `tags` must be the complete content of the field (a
        successful poll): only tags missing from it can be released."""
        present = list(dict.fromkeys(tags))
        for tag, seen in list(self._last_seen.items()):
            if now - seen >= self.hold_release_s and (silence_is_absence or tag not in present):
                del self._last_seen[tag]
        new = [tag for tag in present if tag not in self._last_seen]
        for tag in present:
            self._last_seen[tag] = now
        return new

    def clear(self) -> None:
        self._last_seen.clear()
