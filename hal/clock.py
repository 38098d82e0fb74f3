"""Injected time. The core never calls time.* or asyncio.sleep directly, so tests and the
simulator can fast-forward hours."""
from __future__ import annotations

import asyncio
import heapq
import itertools
import time
from datetime import datetime, timedelta, timezone
from typing import Protocol


class Clock(Protocol):
    def monotonic(self) -> float:
        """Seconds on a clock that never jumps; only differences mean anything."""

    def now(self) -> datetime:
        """Wall-clock time, timezone-aware UTC."""

    async def sleep(self, seconds: float) -> None: ...


class SystemClock:
    def monotonic(self) -> float:
        return time.monotonic()

    def now(self) -> datetime:
        return datetime.now(timezone.utc)

    async def sleep(self, seconds: float) -> None:
        await asyncio.sleep(max(0.0, seconds))

    def real_seconds(self, seconds: float) -> float:
        """How long `seconds` of this clock last in real time (for threads that wait)."""
        return max(0.0, seconds)


class ScaledClock:
    """Real time running `factor` times faster: the simulated board's fast-forward."""

    def __init__(self, factor: float, origin: tuple[float, datetime] | None = None) -> None:
        """`origin` (real monotonic time, wall time at that instant) continues an earlier scaled
        clock, e.g. across a process restart: CLOCK_MONOTONIC is system-wide."""
        if factor <= 0:
            raise ValueError("time scale must be positive")
        self.factor = factor
        self._mono0, self._wall0 = origin or (time.monotonic(), datetime.now(timezone.utc))

    @property
    def origin(self) -> tuple[float, datetime]:
        return self._mono0, self._wall0

    def monotonic(self) -> float:
        return self._mono0 + (time.monotonic() - self._mono0) * self.factor

    def now(self) -> datetime:
        return self._wall0 + timedelta(seconds=(time.monotonic() - self._mono0) * self.factor)

    async def sleep(self, seconds: float) -> None:
        await asyncio.sleep(max(0.0, seconds) / self.factor)

    def real_seconds(self, seconds: float) -> float:
        return max(0.0, seconds) / self.factor


class ManualClock:
    """A clock that moves only when told to; sleepers wake as `advance` passes their deadline."""

    def __init__(self, start: datetime | None = None) -> None:
        self._mono = 1000.0
        self._wall0 = start or datetime(2026, 1, 1, tzinfo=timezone.utc)
        self._mono0 = self._mono
        self._sleepers: list[tuple[float, int, asyncio.Future[None]]] = []
        self._seq = itertools.count()

    def monotonic(self) -> float:
        return self._mono

    def now(self) -> datetime:
        return self._wall0 + timedelta(seconds=self._mono - self._mono0)

    async def sleep(self, seconds: float) -> None:
        fut: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        heapq.heappush(self._sleepers, (self._mono + max(0.0, seconds), next(self._seq), fut))
        await fut

    def advance(self, seconds: float) -> None:
        """Move time forward, waking every sleeper whose deadline has passed (in order)."""
        target = self._mono + seconds
        while self._sleepers and self._sleepers[0][0] <= target:
            deadline, _, fut = heapq.heappop(self._sleepers)
            self._mono = max(self._mono, deadline)
            if not fut.done():
                fut.set_result(None)
        self._mono = target
