"""One Modbus line (an RS-485 bus over a serial port, or a Modbus TCP server/gateway) shared by
every meter on it.

A bus owns a single pymodbus client and an asyncio.Lock: requests from several meters are sent
one at a time, each waiting for its answer (or its timeout) before the next goes out, as a
half-duplex RS-485 line requires. The client connects lazily on the first request and again
after a loss; failed connection attempts back off on the injected clock (no sleeping: requests
during the back-off fail at once).

Failures are raised as `BusError` subclasses and counted per device id:
- `BusTimeout`: nothing came back in time (silent device, wrong id, cable, peer down);
- `BusCrcError`: bytes came back but no valid frame (bad CRC, garbled or truncated frame);
- `BusExceptionResponse`: the device answered with a Modbus exception (e.g. 2, illegal address);
- `BusConnectionError`: the port could not be opened / the TCP connection was refused or lost.
"""
from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from pymodbus import FramerType
from pymodbus.client import AsyncModbusSerialClient, AsyncModbusTcpClient
from pymodbus.exceptions import ConnectionException, ModbusException, ModbusIOException

from hal.clock import Clock, SystemClock

log = logging.getLogger(__name__)

EXCEPTION_NAMES = {
    1: "illegal function",
    2: "illegal data address",
    3: "illegal data value",
    4: "server device failure",
    5: "acknowledge",
    6: "server device busy",
    8: "memory parity error",
    10: "gateway path unavailable",
    11: "gateway target device failed to respond",
}


class BusError(Exception):
    """A request on the bus failed. `kind` is one of timeout, crc, exception, connection."""

    kind = "io"


class BusTimeout(BusError):
    kind = "timeout"


class BusCrcError(BusError):
    kind = "crc"


class BusConnectionError(BusError):
    kind = "connection"


class BusExceptionResponse(BusError):
    kind = "exception"

    def __init__(self, message: str, code: int) -> None:
        super().__init__(message)
        self.code = code


@dataclass
class DeviceStats:
    """Counters of one device id on a bus (totals since start)."""

    requests: int = 0
    ok: int = 0
    timeouts: int = 0
    crc_errors: int = 0
    exceptions: int = 0
    connection_errors: int = 0
    last_error: str | None = None


class ModbusBus:
    """A shared, serialised Modbus client. Build it with `ModbusBus.rtu(...)` or `ModbusBus.tcp(...)`."""

    def __init__(self, client_factory: Callable[..., Any], *, name: str, transport: str,
                 clock: Clock | None = None, turnaround_s: float = 0.0,
                 reconnect_min_s: float = 1.0, reconnect_max_s: float = 30.0, guard_s: float = 10.0) -> None:
        self.name = name
        self.transport = transport  # "rtu" or "tcp"
        self._client_factory = client_factory
        self._client: Any = None
        self._lock = asyncio.Lock()
        self._clock: Clock = clock or SystemClock()
        self._turnaround_s = turnaround_s
        self._guard_s = guard_s  # hard limit on connect + request, whatever the client does
        self._reconnect_min_s = reconnect_min_s
        self._reconnect_max_s = reconnect_max_s
        self._backoff_s = 0.0
        self._retry_at: float | None = None
        self._stats: dict[int, DeviceStats] = {}
        self._rx_seen = False
        self._rx_last = b""
        self._closed = False

    # ---- construction ---------------------------------------------------------------------------

    @classmethod
    def rtu(cls, port: str, *, baudrate: int = 9600, parity: str = "N", stopbits: int = 1, bytesize: int = 8,
            timeout_s: float = 0.5, retries: int = 0, turnaround_s: float = 0.0, clock: Clock | None = None,
            name: str | None = None, reconnect_min_s: float = 1.0, reconnect_max_s: float = 30.0) -> ModbusBus:
        """An RS-485 line on a serial port (Modbus RTU framing)."""
        if parity not in ("N", "E", "O"):
            raise ValueError(f"parity {parity!r} must be N, E or O")
        if stopbits not in (1, 2):
            raise ValueError(f"stopbits {stopbits!r} must be 1 or 2")

        def factory(trace: Callable[[bool, bytes], bytes]) -> AsyncModbusSerialClient:
            return AsyncModbusSerialClient(
                port, framer=FramerType.RTU, baudrate=baudrate, bytesize=bytesize, parity=parity,
                stopbits=stopbits, timeout=timeout_s, retries=retries, reconnect_delay=0,
                name=f"meter-bus {name or port}", trace_packet=trace)

        return cls(factory, name=name or port, transport="rtu", clock=clock, turnaround_s=turnaround_s,
                   reconnect_min_s=reconnect_min_s, reconnect_max_s=reconnect_max_s,
                   guard_s=2 * timeout_s * (retries + 1) + 1.0)

    @classmethod
    def tcp(cls, host: str, port: int = 502, *, timeout_s: float = 1.0, retries: int = 0,
            clock: Clock | None = None, name: str | None = None,
            reconnect_min_s: float = 1.0, reconnect_max_s: float = 30.0) -> ModbusBus:
        """A Modbus TCP server: a meter with Ethernet or an RTU gateway (unit id = device id)."""

        def factory(trace: Callable[[bool, bytes], bytes]) -> AsyncModbusTcpClient:
            return AsyncModbusTcpClient(
                host, port=port, timeout=timeout_s, retries=retries, reconnect_delay=0,
                name=f"meter-bus {name or f'{host}:{port}'}", trace_packet=trace)

        return cls(factory, name=name or f"{host}:{port}", transport="tcp", clock=clock,
                   reconnect_min_s=reconnect_min_s, reconnect_max_s=reconnect_max_s,
                   guard_s=2 * timeout_s * (retries + 1) + 1.0)

    # ---- diagnostics ----------------------------------------------------------------------------

    def stats(self, device_id: int) -> DeviceStats:
        """Counters for one device id (created on first use)."""
        return self._stats.setdefault(device_id, DeviceStats())

    @property
    def connected(self) -> bool:
        return self._client is not None and bool(self._client.connected)

    def __repr__(self) -> str:
        return f"ModbusBus({self.transport} {self.name})"

    # ---- requests -------------------------------------------------------------------------------

    async def read_registers(self, device_id: int, function: int, address: int, count: int) -> list[int]:
        """Read `count` registers with FC 03 (holding) or FC 04 (input); raises BusError."""
        if function not in (3, 4):
            raise ValueError(f"function {function!r} must be 3 or 4")
        stats = self.stats(device_id)
        async with self._lock:
            stats.requests += 1
            try:
                try:
                    async with asyncio.timeout(self._guard_s):
                        registers = await self._read_locked(device_id, function, address, count)
                except TimeoutError as exc:  # pymodbus should have given up before this guard
                    self._connection_lost()
                    raise BusTimeout(f"FC{function:02d} {address:#06x}+{count}: no reply within {self._guard_s:.1f} s") from exc
                except BusError:
                    raise
                except Exception as exc:  # e.g. OSError when a USB adapter is unplugged
                    self._connection_lost()
                    raise BusConnectionError(f"FC{function:02d} {address:#06x}+{count}: I/O error: {exc!r}") from exc
            except BusError as exc:
                self._count(stats, exc)
                raise
            finally:
                if self._turnaround_s > 0:
                    await self._clock.sleep(self._turnaround_s)
            stats.ok += 1
            return registers

    async def _read_locked(self, device_id: int, function: int, address: int, count: int) -> list[int]:
        what = f"FC{function:02d} {address:#06x}+{count}"
        client = await self._ensure_connected()
        self._rx_seen, self._rx_last = False, b""
        call = client.read_holding_registers if function == 3 else client.read_input_registers
        try:
            rr = await call(address, count=count, device_id=device_id)
        except ModbusIOException as exc:
            if "but received" in str(exc):  # a frame from another device / transaction
                raise BusCrcError(f"{what}: reply does not match the request ({exc})") from exc
            if self._rx_seen:
                raise BusCrcError(f"{what}: no valid reply (bad CRC or garbled frame: "
                                  f"{self._rx_last[:12].hex(' ')}...)") from exc
            raise BusTimeout(f"{what}: no reply (timeout)") from exc
        except ConnectionException as exc:
            self._connection_lost()
            raise BusConnectionError(f"{what}: connection lost: {exc}") from exc
        except ModbusException as exc:
            raise BusCrcError(f"{what}: bad reply: {exc}") from exc
        if rr.isError():
            code = int(getattr(rr, "exception_code", 0) or 0)
            name = EXCEPTION_NAMES.get(code, "unknown exception")
            raise BusExceptionResponse(f"{what}: Modbus exception {code} ({name})", code)
        registers = list(getattr(rr, "registers", []) or [])
        if len(registers) != count:
            raise BusCrcError(f"{what}: reply holds {len(registers)} registers, expected {count}")
        return registers

    def _count(self, stats: DeviceStats, exc: BusError) -> None:
        stats.last_error = str(exc)
        if isinstance(exc, BusTimeout):
            stats.timeouts += 1
        elif isinstance(exc, BusCrcError):
            stats.crc_errors += 1
        elif isinstance(exc, BusExceptionResponse):
            stats.exceptions += 1
        elif isinstance(exc, BusConnectionError):
            stats.connection_errors += 1

    def _trace(self, sending: bool, data: bytes) -> bytes:
        if not sending and data:
            self._rx_seen = True
            self._rx_last = bytes(data)
        return data

    async def _ensure_connected(self) -> Any:
        if self._closed:
            raise BusConnectionError(f"bus {self.name} is closed")
        if self._client is not None and self._client.connected:
            return self._client
        now = self._clock.monotonic()
        if self._retry_at is not None and now < self._retry_at:
            raise BusConnectionError(f"not connected; next attempt in {self._retry_at - now:.1f} s")
        if self._client is None:
            self._client = self._client_factory(self._trace)
        try:
            ok = await self._client.connect()
        except Exception as exc:  # pyserial raises on a missing port on some versions
            ok, reason = False, str(exc)
        else:
            reason = "port missing or busy" if self.transport == "rtu" else "refused or unreachable"
        if not ok:
            self._backoff_s = min(self._reconnect_max_s, max(self._reconnect_min_s, self._backoff_s * 2))
            self._retry_at = self._clock.monotonic() + self._backoff_s
            self._client.close()
            log.debug("meter bus %s: cannot connect (%s); retry in %.1f s", self.name, reason, self._backoff_s)
            raise BusConnectionError(f"cannot connect to {self.name} ({reason})")
        if self._backoff_s:
            log.info("meter bus %s: connected again", self.name)
        self._backoff_s, self._retry_at = 0.0, None
        return self._client

    def _connection_lost(self) -> None:
        if self._client is not None:
            self._client.close()

    async def close(self) -> None:
        """Close the port or connection; further requests fail with BusConnectionError."""
        async with self._lock:
            self._closed = True
            if self._client is not None:
                self._client.close()
                self._client = None
