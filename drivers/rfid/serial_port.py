"""A serial device that may vanish and come back (USB adapters, loose connectors).

`SerialPort` opens the device by path with pyserial-asyncio-fast, hands out received bytes in
chunks and reports the loss of the device as `PortLost`. `ensure_open` retries the path with an
exponential back-off on the injected clock, so a reader whose device is unplugged simply waits
for it; nothing here raises for a missing or failing device.
"""
from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable
from typing import TypeVar

import serial_asyncio_fast

from hal.clock import Clock

log = logging.getLogger(__name__)

T = TypeVar("T")

DEFAULT_MAX_BUFFER = 4096  # bytes kept while nobody reads; older ones are dropped like a UART overrun


class PortLost(Exception):
    """The serial device went away (unplugged, hung up, I/O error)."""


class ReaderClosed(Exception):
    """close() was called: the reader does not reopen its device any more."""


async def wait_with_timeout(clock: Clock, aw: Awaitable[T], seconds: float) -> T:
    """`aw`'s result, or TimeoutError once `seconds` have passed on `clock`.

    asyncio.wait_for would measure real time; this follows the injected clock, so tests with a
    ManualClock or a ScaledClock see the same timeouts as the device."""
    task = asyncio.ensure_future(aw)
    timer = asyncio.ensure_future(clock.sleep(max(0.0, seconds)))
    try:
        await asyncio.wait((task, timer), return_when=asyncio.FIRST_COMPLETED)
    finally:
        timer.cancel()
        if not task.done():
            task.cancel()
    if task.done() and not task.cancelled():
        return task.result()
    raise TimeoutError


class Backoff:
    """Exponential back-off: min_s, 2*min_s, ... capped at max_s."""

    def __init__(self, min_s: float, max_s: float) -> None:
        if min_s <= 0 or max_s < min_s:
            raise ValueError("back-off needs 0 < min_s <= max_s")
        self.min_s, self.max_s = min_s, max_s
        self._next = min_s

    def next(self) -> float:
        delay = self._next
        self._next = min(self.max_s, self._next * 2)
        return delay

    def reset(self) -> None:
        self._next = self.min_s


class _ChunkProtocol(asyncio.Protocol):
    """Collects received bytes; one waiter at a time takes everything buffered."""

    def __init__(self, max_buffer: int) -> None:
        self._buf = bytearray()
        self._max_buffer = max_buffer
        self._waiter: asyncio.Future[None] | None = None
        self.lost = False
        self.lost_reason: BaseException | None = None
        self.closed = asyncio.get_running_loop().create_future()
        self.overruns = 0

    def data_received(self, data: bytes) -> None:
        self._buf += data
        if len(self._buf) > self._max_buffer:
            del self._buf[: len(self._buf) - self._max_buffer]
            self.overruns += 1
        self._wake()

    def connection_lost(self, exc: Exception | None) -> None:
        self.lost = True
        self.lost_reason = exc
        if not self.closed.done():
            self.closed.set_result(None)
        self._wake()

    def _wake(self) -> None:
        if self._waiter is not None and not self._waiter.done():
            self._waiter.set_result(None)

    def discard(self) -> None:
        self._buf.clear()

    def describe_loss(self) -> str:
        return str(self.lost_reason) if self.lost_reason else "closed"

    async def read(self) -> bytes:
        # Cancellation-safe: bytes are taken only once this coroutine runs again.
        while not self._buf:
            if self.lost:
                raise PortLost(self.describe_loss())
            self._waiter = asyncio.get_running_loop().create_future()
            try:
                await self._waiter
            finally:
                self._waiter = None
        data = bytes(self._buf)
        self._buf.clear()
        return data


class SerialPort:
    def __init__(
        self,
        url: str,
        clock: Clock,
        *,
        baudrate: int,
        reopen_min_s: float = 0.5,
        reopen_max_s: float = 10.0,
        label: str = "reader",
        max_buffer: int = DEFAULT_MAX_BUFFER,
    ) -> None:
        if baudrate <= 0:
            raise ValueError("baudrate must be positive")
        self.url = str(url)
        self.baudrate = baudrate
        self.label = label
        self._clock = clock
        self._backoff = Backoff(reopen_min_s, reopen_max_s)
        self._max_buffer = max_buffer
        self._transport: asyncio.Transport | None = None
        self._proto: _ChunkProtocol | None = None
        self._delay_before_open = False  # set after a failure or a loss
        self._failures_logged = 0
        self._closed = False
        self.opens = 0  # successful opens, for diagnostics and tests
        self.open_failures = 0
        self.losses = 0

    @property
    def connected(self) -> bool:
        return self._proto is not None and not self._proto.lost

    async def ensure_open(self) -> bool:
        """Open the device unless it is open; True when it was (re)opened by this call.
        Retries forever with back-off; only cancellation and close() get out of here."""
        if self.connected:
            return False
        if self._proto is not None:
            await self._drop()
        while True:
            if self._closed:
                raise ReaderClosed(self.url)
            if self._delay_before_open:
                await self._clock.sleep(self._backoff.next())
                if self._closed:
                    raise ReaderClosed(self.url)
            try:
                await self._open()
            except (asyncio.CancelledError, ReaderClosed):
                raise
            except Exception as exc:  # SerialException (an OSError), ValueError from the driver, ...
                self._delay_before_open = True
                self.open_failures += 1
                if self._failures_logged == 0:
                    log.warning("%s: cannot open %s (%s); retrying", self.label, self.url, exc)
                else:
                    log.debug("%s: cannot open %s (%s)", self.label, self.url, exc)
                self._failures_logged += 1
                continue
            if self._failures_logged or self.opens:
                log.info("%s: %s open again", self.label, self.url)
            self._backoff.reset()
            self._failures_logged = 0
            self.opens += 1
            return True

    async def _open(self) -> None:
        loop = asyncio.get_running_loop()
        proto = _ChunkProtocol(self._max_buffer)
        transport, _ = await serial_asyncio_fast.create_serial_connection(
            loop, lambda: proto, self.url, baudrate=self.baudrate
        )
        if self._closed:  # close() while the device was being opened
            transport.abort()
            await asyncio.shield(proto.closed)
            raise ReaderClosed(self.url)
        try:
            transport.serial.reset_input_buffer()  # bytes from before we listened are stale
        except Exception:  # not every device supports it
            log.debug("%s: could not flush the input of %s", self.label, self.url, exc_info=True)
        self._transport, self._proto = transport, proto

    def write(self, data: bytes) -> None:
        if self._proto is not None and self._proto.lost:
            raise PortLost(self._proto.describe_loss())
        if self._transport is None or self._transport.is_closing():
            raise PortLost("port not open")
        self._transport.write(data)

    async def read_chunk(self) -> bytes:
        """The bytes received since the last call (waits for at least one); PortLost when the
        device goes away."""
        if self._proto is None:
            raise PortLost("port not open")
        return await self._proto.read()

    def discard_input(self) -> None:
        if self._proto is not None:
            self._proto.discard()

    async def lose(self, reason: object, level: int = logging.WARNING) -> None:
        """The device failed: close it and wait a back-off step before reopening it."""
        if self._proto is not None:
            self.losses += 1
            log.log(level, "%s: lost %s (%s); will reopen it", self.label, self.url, reason)
        await self._drop()
        self._delay_before_open = True

    async def close(self) -> None:
        """Close the device for good; a read() still waiting ends with ReaderClosed."""
        self._closed = True
        await self._drop()

    async def _drop(self) -> None:
        transport, proto = self._transport, self._proto
        self._transport = self._proto = None
        if transport is None or proto is None:
            return
        if not transport.is_closing():
            transport.abort()
        await asyncio.shield(proto.closed)
