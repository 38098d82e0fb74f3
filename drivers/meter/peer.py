"""Real Modbus peers for tests and benches: a pymodbus server that serves the register image of
one or more meters (over TCP or RTU), and a pure-Python null modem joining two pseudo-terminals
so an RTU client and server can talk without hardware or socat.

The null modem can also misbehave on purpose: drop requests for given device ids (a real RS-485
slave that is absent stays silent), mute all replies, or corrupt the next reply (bad CRC).
Nothing in the charging firmware imports this module.
"""
from __future__ import annotations

import os
import select
import termios
import threading
import tty
from collections.abc import Iterable, Mapping

from pymodbus import FramerType
from pymodbus.server import ModbusSerialServer, ModbusTcpServer
from pymodbus.simulator import DataType, SimData, SimDevice

RegisterImage = Mapping[int, Mapping[int, int]]  # {function 3|4: {address: word}}


def _blocks(words: Mapping[int, int]) -> list[SimData]:
    """Contiguous runs of registers → SimData entries; gaps stay undefined (exception 2)."""
    out: list[SimData] = []
    run_start: int | None = None
    run: list[int] = []
    for address in sorted(words):
        if run_start is not None and address == run_start + len(run):
            run.append(words[address])
            continue
        if run_start is not None:
            out.append(SimData(run_start, values=run, datatype=DataType.REGISTERS))
        run_start, run = address, [words[address]]
    if run_start is not None:
        out.append(SimData(run_start, values=run, datatype=DataType.REGISTERS))
    if not out:  # pymodbus needs at least one entry per table
        out.append(SimData(0xFFF0, values=[0], datatype=DataType.REGISTERS))
    return out


def sim_device(device_id: int, image: RegisterImage) -> SimDevice:
    """A SimDevice with separate holding (FC 03) and input (FC 04) tables from a register image."""
    bits = [SimData(0, values=[False] * 16, datatype=DataType.BITS)]
    return SimDevice(id=device_id, simdata=(bits, list(bits), _blocks(image.get(3, {})), _blocks(image.get(4, {}))))


class MeterPeer:
    """A Modbus server answering for several device ids, each with its own register image."""

    def __init__(self, images: Mapping[int, RegisterImage]) -> None:
        self.images = {dev: {fc: dict(regs) for fc, regs in image.items()} for dev, image in images.items()}
        self.server: ModbusTcpServer | ModbusSerialServer | None = None

    def _devices(self) -> list[SimDevice]:
        return [sim_device(dev, image) for dev, image in self.images.items()]

    async def start_tcp(self, host: str, port: int) -> None:
        self.server = ModbusTcpServer(self._devices(), address=(host, port))
        await self.server.serve_forever(background=True)

    async def start_rtu(self, port: str, baudrate: int = 9600) -> None:
        self.server = ModbusSerialServer(self._devices(), port=port, framer=FramerType.RTU, baudrate=baudrate)
        await self.server.serve_forever(background=True)

    async def set_registers(self, device_id: int, function: int, address: int, words: Iterable[int]) -> None:
        """Change registers while serving (e.g. a rising energy counter)."""
        assert self.server is not None
        words = list(words)
        for i, w in enumerate(words):
            self.images[device_id].setdefault(function, {})[address + i] = w
        await self.server.async_setValues(device_id, function, address, words)

    async def stop(self) -> None:
        if self.server is not None:
            await self.server.shutdown()
            self.server = None


class NullModem:
    """Two pseudo-terminals joined back to back by a copying thread.

    `port_a` is for the client (master side of the bus), `port_b` for the server. `transcript`
    records every chunk copied as ("a>b" | "b>a", bytes)."""

    READ_REQUEST_LEN = 8  # id, fc, address (2), count (2), crc (2)

    def __init__(self) -> None:
        self._ma, self._sa = os.openpty()
        self._mb, self._sb = os.openpty()
        for fd in (self._sa, self._sb):
            tty.setraw(fd)
        self.port_a = os.ttyname(self._sa)
        self.port_b = os.ttyname(self._sb)
        self._wake_r, self._wake_w = os.pipe()
        self._lock = threading.Lock()
        self.transcript: list[tuple[str, bytes]] = []
        self.drop_requests_to: set[int] = set()  # device ids that "are not on the bus"
        self.mute_replies = False
        self.corrupt_replies = 0  # corrupt this many upcoming replies
        self._a_buffer = b""
        self._running = True
        self._thread = threading.Thread(target=self._run, name="null-modem", daemon=True)
        self._thread.start()

    def _run(self) -> None:
        while self._running:
            try:
                ready, _, _ = select.select([self._ma, self._mb, self._wake_r], [], [], 0.5)
            except (OSError, ValueError):
                return
            for fd in ready:
                if fd == self._wake_r:
                    return
                try:
                    data = os.read(fd, 4096)
                except OSError:
                    continue
                if not data:
                    continue
                if fd == self._ma:
                    self._from_a(data)
                else:
                    self._from_b(data)

    def _from_a(self, data: bytes) -> None:
        with self._lock:
            self.transcript.append(("a>b", data))
            if not self.drop_requests_to:
                self._write(self._mb, data)
                return
            self._a_buffer += data
            while len(self._a_buffer) >= self.READ_REQUEST_LEN:
                frame, self._a_buffer = self._a_buffer[:self.READ_REQUEST_LEN], self._a_buffer[self.READ_REQUEST_LEN:]
                if frame[0] not in self.drop_requests_to:
                    self._write(self._mb, frame)

    def _from_b(self, data: bytes) -> None:
        with self._lock:
            self.transcript.append(("b>a", data))
            if self.mute_replies:
                return
            if self.corrupt_replies > 0:
                self.corrupt_replies -= 1
                data = data[:-1] + bytes([data[-1] ^ 0xFF])
            self._write(self._ma, data)

    @staticmethod
    def _write(fd: int, data: bytes) -> None:
        try:
            os.write(fd, data)
        except OSError:
            pass

    def frames(self) -> list[tuple[str, bytes]]:
        """The transcript with consecutive chunks in one direction joined."""
        with self._lock:
            out: list[tuple[str, bytes]] = []
            for direction, data in self.transcript:
                if out and out[-1][0] == direction:
                    out[-1] = (direction, out[-1][1] + data)
                else:
                    out.append((direction, data))
            return out

    def flush(self) -> None:
        """Discard bytes waiting in either pseudo-terminal (e.g. requests sent while a peer was off)."""
        with self._lock:
            for fd in (self._sa, self._sb):
                termios.tcflush(fd, termios.TCIOFLUSH)
            self._a_buffer = b""

    def clear(self) -> None:
        with self._lock:
            self.transcript.clear()
            self._a_buffer = b""

    def close(self) -> None:
        self._running = False
        os.write(self._wake_w, b"x")
        self._thread.join(timeout=2)
        for fd in (self._ma, self._sa, self._mb, self._sb, self._wake_r, self._wake_w):
            try:
                os.close(fd)
            except OSError:
                pass
