"""Test helpers for the serial badge readers: a pty pair that plays the device's side of the
serial line behind a re-pointable symlink, and a PN532 that answers the host like the chip does.

The PN532 side is written independently of drivers.rfid.pn532_frames (its own frame encoder and
host-frame scanner), so a mistake in the driver's framing is not mirrored here.
"""
from __future__ import annotations

import asyncio
import os
import random
import tty
from dataclasses import dataclass, field
from pathlib import Path

ACK = bytes([0x00, 0x00, 0xFF, 0x00, 0xFF, 0x00])
NACK = bytes([0x00, 0x00, 0xFF, 0xFF, 0x00, 0x00])
ERROR = bytes([0x00, 0x00, 0xFF, 0x01, 0xFF, 0x7F, 0x81, 0x00])


class PtyPort:
    """A pty whose slave is reachable through `link`, a symlink the driver is given as its port.
    `vanish()` closes both ends and removes the link; `appear()` makes a new pty and points the
    link at it, like a USB adapter unplugged and plugged back under /dev/serial/by-id."""

    def __init__(self, link: Path) -> None:
        self.link = Path(link)
        self.master: int | None = None
        self.slave: int | None = None
        self.appear()

    @property
    def present(self) -> bool:
        return self.master is not None

    def appear(self) -> None:
        assert self.master is None
        master, slave = os.openpty()
        tty.setraw(slave)
        os.set_blocking(master, False)
        self.master, self.slave = master, slave
        tmp = self.link.with_name(self.link.name + ".new")
        if tmp.is_symlink():
            tmp.unlink()
        os.symlink(os.ttyname(slave), tmp)
        os.replace(tmp, self.link)

    def vanish(self) -> None:
        for fd in (self.master, self.slave):
            if fd is not None:
                os.close(fd)
        self.master = self.slave = None
        if self.link.is_symlink():
            self.link.unlink()

    def write(self, data: bytes) -> None:
        """Bytes from the device to the host."""
        assert self.master is not None, "the pty has vanished"
        view = memoryview(bytes(data))
        while view:
            n = os.write(self.master, view)
            view = view[n:]

    def read_available(self) -> bytes:
        """Bytes the host has written so far (non-blocking)."""
        assert self.master is not None
        out = bytearray()
        while True:
            try:
                chunk = os.read(self.master, 4096)
            except BlockingIOError:
                return bytes(out)
            if not chunk:
                return bytes(out)
            out += chunk

    def close(self) -> None:
        self.vanish()


def frame(tfi: int, payload: bytes) -> bytes:
    body = bytes([tfi]) + payload
    n = len(body)
    assert n <= 255
    return bytes([0x00, 0x00, 0xFF, n, (0x100 - n) & 0xFF]) + body + bytes([(-sum(body)) & 0xFF, 0x00])


def response(command: int, data: bytes = b"") -> bytes:
    return frame(0xD5, bytes([command + 1]) + data)


@dataclass
class Card:
    """An ISO/IEC 14443 type A card in the field."""

    uid: bytes
    atqa: bytes = b"\x00\x04"
    sak: int = 0x08
    ats: bytes = b""

    @classmethod
    def mifare_classic(cls, uid: bytes) -> Card:  # 4-byte UID
        return cls(uid, b"\x00\x04", 0x08)

    @classmethod
    def ultralight(cls, uid: bytes) -> Card:  # 7-byte UID
        return cls(uid, b"\x00\x44", 0x00)

    @classmethod
    def desfire(cls, uid: bytes) -> Card:  # 7-byte UID, ISO/IEC 14443-4: an ATS follows
        return cls(uid, b"\x03\x44", 0x20, bytes([0x06, 0x75, 0x77, 0x81, 0x02, 0x80]))

    def target_data(self, tg: int = 1) -> bytes:
        return bytes([tg]) + self.atqa + bytes([self.sak, len(self.uid)]) + self.uid + self.ats


@dataclass
class Faults:
    """One-shot misbehaviours, each consumed by the next command(s) they apply to."""

    silent: int = 0  # ignore this many commands entirely (no ACK, no answer)
    nack: int = 0  # answer this many commands with NACK instead of ACK + response
    error_frame: int = 0  # ACK, then the error frame instead of the response
    bad_dcs: int = 0  # corrupt the DCS of this many responses (retransmitted intact on NACK)
    garbage_before: bytes = b""  # bytes sent before the next ACK
    garbage_between: bytes = b""  # bytes sent between the next ACK and its response
    truncated_before: bytes = b""  # a frame cut short, sent before the next response
    drop_ack: int = 0  # answer without the ACK
    only_for: set[int] = field(default_factory=set)  # restrict to these command codes (empty: all)


class Pn532Emulator:
    """Answers the host's frames on the pty master like a PN532 in HSU mode."""

    def __init__(
        self,
        pty: PtyPort,
        *,
        firmware: bytes = bytes([0x32, 0x01, 0x06, 0x07]),
        asleep: bool = True,
        split_writes: bool = False,
        honour_nack: bool = True,
        seed: int = 1,
    ) -> None:
        self.pty = pty
        self.firmware = firmware
        self.asleep = asleep
        self.split_writes = split_writes
        self.honour_nack = honour_nack
        self.card: Card | None = None
        self.faults = Faults()
        self._rng = random.Random(seed)
        self._buf = bytearray()
        self._last_response: bytes | None = None
        self._out: asyncio.Queue[bytes] | None = None
        self._writer: asyncio.Task[None] | None = None
        self._attached_fd: int | None = None
        # what the host did
        self.rx = bytearray()
        self.commands: list[int] = []
        self.wakeups = 0
        self.sam_configs = 0
        self.polls = 0
        self.polls_with_card = 0
        self.aborts = 0  # ACK frames from the host
        self.nacks_received = 0
        self.bad_frames = 0
        self.rf_off = 0
        self.max_retries: bytes | None = None

    # ---- life cycle ---------------------------------------------------------------------------

    def start(self) -> None:
        loop = asyncio.get_running_loop()
        assert self.pty.master is not None
        self._attached_fd = self.pty.master
        loop.add_reader(self._attached_fd, self._on_readable)
        self._out = asyncio.Queue()
        self._writer = asyncio.ensure_future(self._write_loop())

    async def stop(self) -> None:
        if self._attached_fd is not None:
            asyncio.get_running_loop().remove_reader(self._attached_fd)
            self._attached_fd = None
        if self._writer is not None:
            self._writer.cancel()
            await asyncio.gather(self._writer, return_exceptions=True)
            self._writer = None
        self._buf.clear()

    def power_cycle(self) -> None:
        """Back to power-down: commands are ignored until the wake-up preamble."""
        self.asleep = True
        self._buf.clear()
        self._last_response = None

    # ---- host -> chip --------------------------------------------------------------------------

    def _on_readable(self) -> None:
        try:
            data = os.read(self._attached_fd, 4096)  # type: ignore[arg-type]
        except BlockingIOError:
            return
        except OSError:
            asyncio.get_running_loop().remove_reader(self._attached_fd)  # type: ignore[arg-type]
            self._attached_fd = None
            return
        self.rx += data
        self._buf += data
        self._scan()

    def _scan(self) -> None:
        buf = self._buf
        while True:
            if self.asleep:
                i = buf.find(b"\x55\x55")
                if i < 0:
                    del buf[: max(0, len(buf) - 1)]
                    return
                self.asleep = False
                self.wakeups += 1
                del buf[: i + 2]
            i = buf.find(b"\x00\xff")
            if i < 0:
                del buf[: max(0, len(buf) - 1)]
                return
            del buf[:i]
            if len(buf) < 4:
                return
            a, b = buf[2], buf[3]
            if (a, b) == (0x00, 0xFF):
                del buf[:4]
                self.aborts += 1
                continue
            if (a, b) == (0xFF, 0x00):
                del buf[:4]
                self.nacks_received += 1
                if self.honour_nack and self._last_response is not None:
                    self._send(self._last_response)
                continue
            if (a + b) & 0xFF or a == 0:
                del buf[:1]
                self.bad_frames += 1
                continue
            # buf: 00 FF LEN LCS TFI PD.. DCS
            if len(buf) < 4 + a + 1:
                return
            body = bytes(buf[4 : 4 + a])
            if (sum(body) + buf[4 + a]) & 0xFF:
                del buf[:1]
                self.bad_frames += 1
                continue
            del buf[: 4 + a + 1]
            if body[0] == 0xD4 and len(body) >= 2:
                self._command(body[1], body[2:])

    def _applies(self, command: int) -> bool:
        return not self.faults.only_for or command in self.faults.only_for

    def _command(self, command: int, params: bytes) -> None:
        self.commands.append(command)
        f = self.faults
        if f.silent and self._applies(command):
            f.silent -= 1
            return
        if f.nack and self._applies(command):
            f.nack -= 1
            self._send(NACK)
            return
        answer = self._answer(command, params)
        out = bytearray()
        if f.garbage_before and self._applies(command):
            out += f.garbage_before
            f.garbage_before = b""
        if f.drop_ack and self._applies(command):
            f.drop_ack -= 1
        else:
            out += ACK
        if f.garbage_between and self._applies(command):
            out += f.garbage_between
            f.garbage_between = b""
        if f.truncated_before and self._applies(command):
            out += f.truncated_before
            f.truncated_before = b""
        if f.error_frame and self._applies(command):
            f.error_frame -= 1
            answer = ERROR
        self._last_response = answer
        if f.bad_dcs and self._applies(command) and answer is not ERROR:
            f.bad_dcs -= 1
            corrupted = bytearray(answer)
            corrupted[-2] ^= 0x5A
            out += corrupted
        else:
            out += answer
        self._send(bytes(out))

    def _answer(self, command: int, params: bytes) -> bytes:
        if command == 0x14:  # SAMConfiguration
            self.sam_configs += 1
            return response(command)
        if command == 0x02:  # GetFirmwareVersion
            return response(command, self.firmware)
        if command == 0x32:  # RFConfiguration
            if params[:1] == b"\x05":
                self.max_retries = bytes(params[1:])
            elif params[:2] == b"\x01\x00":
                self.rf_off += 1
            return response(command)
        if command == 0x4A and len(params) >= 2 and params[1] == 0x00:  # InListPassiveTarget, type A
            self.polls += 1
            if self.card is None:
                return response(command, b"\x00")
            self.polls_with_card += 1
            return response(command, b"\x01" + self.card.target_data(1))
        return ERROR  # what the chip answers to a command it does not accept

    # ---- chip -> host --------------------------------------------------------------------------

    def _send(self, data: bytes) -> None:
        assert self._out is not None
        self._out.put_nowait(data)

    async def _write_loop(self) -> None:
        assert self._out is not None
        while True:
            data = await self._out.get()
            if self.pty.master is None:
                continue
            if not self.split_writes:
                self.pty.write(data)
                continue
            i = 0
            while i < len(data):
                n = self._rng.randint(1, 4)
                self.pty.write(data[i : i + n])
                i += n
                await asyncio.sleep(0.0005)
