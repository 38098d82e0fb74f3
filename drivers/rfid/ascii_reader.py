"""Serial readers that print the tag as ASCII: RDM6300-style 125 kHz (EM4100) modules and
readers that print one tag per line (USB "keyboard-less" serial readers, Wiegand converters...).

These readers repeat the tag for as long as the badge is held (the RDM6300 several times a
second) and fall silent when it is gone: a tag is reported when it appears, then again only
after `hold_release_s` without it. Both parsers resynchronise by themselves: bytes outside a
frame are skipped, a frame cut short by a new start (STX, or a new line) is dropped, and so is
any frame that fails its checks.
"""
from __future__ import annotations

import asyncio
import collections
import logging
import re
import string

from drivers.rfid.debounce import HoldDebouncer
from drivers.rfid.serial_port import PortLost, ReaderClosed, SerialPort
from hal.clock import Clock
from hal.types import IdToken

log = logging.getLogger(__name__)

STX = 0x02
ETX = 0x03
HEX_DIGITS = frozenset(string.hexdigits.encode())
MAX_ID_TAG_LENGTH = 20  # OCPP 1.6 idTag is CiString20


class Rdm6300Parser:
    """RDM6300 frame: STX, 10 ASCII hex digits (2 version/customer + 8 tag), 2 ASCII hex digits
    of checksum (XOR of the 5 data bytes), ETX. A CR LF before the ETX (ID-12/ID-20 style) is
    accepted. Returns the 10 data digits, upper-case."""

    BODY_DIGITS = 12
    MAX_BODY = BODY_DIGITS + 2  # room for CR LF

    def __init__(self) -> None:
        self._body = bytearray()
        self._in_frame = False
        self.good_frames = 0
        self.bad_frames = 0  # wrong length, non-hex digits, bad checksum, cut short

    def reset(self) -> None:
        self._body.clear()
        self._in_frame = False

    def feed(self, data: bytes | bytearray) -> list[str]:
        out: list[str] = []
        for byte in data:
            if byte == STX:
                if self._in_frame:
                    self.bad_frames += 1  # the previous frame was cut short
                self._in_frame = True
                self._body.clear()
            elif not self._in_frame:
                continue  # garbage between frames
            elif byte == ETX:
                tag = self.decode(bytes(self._body))
                self.reset()
                if tag is None:
                    self.bad_frames += 1
                else:
                    self.good_frames += 1
                    out.append(tag)
            else:
                self._body.append(byte)
                if len(self._body) > self.MAX_BODY:
                    self.bad_frames += 1
                    self.reset()
        return out

    @classmethod
    def decode(cls, body: bytes) -> str | None:
        """The id_tag of a frame body (between STX and ETX), or None when it is not valid."""
        if body.endswith(b"\r\n"):
            body = body[:-2]
        if len(body) != cls.BODY_DIGITS or not all(b in HEX_DIGITS for b in body):
            return None
        raw = bytes.fromhex(body.decode("ascii"))
        xor = 0
        for b in raw[:5]:
            xor ^= b
        if xor != raw[5]:
            return None
        return body[:10].decode("ascii").upper()


_EDGE_JUNK = "".join(chr(c) for c in range(0x21)) + "\x7f"  # whitespace and control characters


class LineParser:
    """One tag per line. Lines are split at `terminator` (b"\\n" also covers CR LF); control
    characters and blanks around the line are dropped. With `pattern`, the tag is its named
    group "tag", else its first group, else the whole match (re.search); lines that do not match
    are skipped. The tag must then be 1-20 printable characters without blanks (OCPP 1.6 idTag);
    lines longer than `max_line_bytes` are dropped up to the next terminator."""

    def __init__(
        self,
        terminator: bytes = b"\n",
        pattern: str | re.Pattern[str] | None = None,
        *,
        max_line_bytes: int = 64,
        uppercase: bool = True,
    ) -> None:
        if not terminator:
            raise ValueError("terminator must not be empty")
        self.terminator = bytes(terminator)
        self.pattern = re.compile(pattern) if isinstance(pattern, str) else pattern
        self.max_line_bytes = max_line_bytes
        self.uppercase = uppercase
        self._buf = bytearray()
        self._discarding = False
        self.good_lines = 0
        self.bad_lines = 0

    def reset(self) -> None:
        self._buf.clear()
        self._discarding = False

    def feed(self, data: bytes | bytearray) -> list[str]:
        self._buf += data
        out: list[str] = []
        term = self.terminator
        while True:
            i = self._buf.find(term)
            if i < 0:
                if len(self._buf) > self.max_line_bytes:
                    if not self._discarding:
                        self.bad_lines += 1
                        self._discarding = True
                    keep = len(term) - 1  # the start of a terminator split across chunks
                    del self._buf[: len(self._buf) - keep]
                return out
            line = bytes(self._buf[:i])
            del self._buf[: i + len(term)]
            if self._discarding:
                self._discarding = False  # the end of an overlong line
                continue
            tag = self.extract(line)
            if tag is not None:
                self.good_lines += 1
                out.append(tag)
            elif line.strip(_EDGE_JUNK.encode()):
                self.bad_lines += 1

    def extract(self, line: bytes) -> str | None:
        try:
            text = line.decode("ascii").strip(_EDGE_JUNK)
        except UnicodeDecodeError:
            return None
        if self.pattern is not None:
            m = self.pattern.search(text)
            if m is None:
                return None
            if "tag" in self.pattern.groupindex:
                text = m.group("tag") or ""
            elif self.pattern.groups:
                text = m.group(1) or ""
            else:
                text = m.group(0)
        if not 0 < len(text) <= MAX_ID_TAG_LENGTH or not all(c.isprintable() and not c.isspace() for c in text):
            return None
        return text.upper() if self.uppercase else text


class _StreamingTagReader:
    """Common part: the port (reopened after it vanishes), a parser, the hold debouncer."""

    label = "reader"

    def __init__(
        self,
        port: str,
        clock: Clock,
        parser: Rdm6300Parser | LineParser,
        *,
        baudrate: int,
        hold_release_s: float,
        evse_id: int | None,
        reopen_min_s: float,
        reopen_max_s: float,
        source: str,
    ) -> None:
        self.port = str(port)
        self.evse_id = evse_id
        self.source = source
        self.parser = parser
        self._clock = clock
        self.link = SerialPort(
            self.port, clock, baudrate=baudrate, reopen_min_s=reopen_min_s, reopen_max_s=reopen_max_s,
            label=self.label,
        )
        self._debounce = HoldDebouncer(hold_release_s)
        self._tags: collections.deque[str] = collections.deque()

    @property
    def connected(self) -> bool:
        return self.link.connected

    @property
    def held(self) -> frozenset[str]:
        return self._debounce.held

    async def read(self) -> IdToken:
        """The next badge presented (a badge held on the reader is reported once). Raises only
        ReaderClosed, after close()."""
        while True:
            while self._tags:
                tag = self._tags.popleft()
                if self._debounce.observe([tag], self._clock.monotonic(), silence_is_absence=True):
                    return IdToken(id_tag=tag, source=self.source, evse_id=self.evse_id)
            try:
                if await self.link.ensure_open():
                    self.parser.reset()  # a frame cut by the reconnection is not a frame
                chunk = await self.link.read_chunk()
            except (asyncio.CancelledError, ReaderClosed):
                raise
            except PortLost as exc:
                await self.link.lose(exc)
                continue
            except Exception:  # a bug must not stop the charge point's reader loop
                log.exception("%s on %s: unexpected error; reopening", self.label, self.port)
                await self.link.lose("unexpected error")
                continue
            self._tags.extend(self.parser.feed(chunk))

    async def close(self) -> None:
        await self.link.close()


class Rdm6300Reader(_StreamingTagReader):
    """IdTokenReader for an RDM6300 (or compatible 125 kHz EM4100 module) on a serial port.
    id_tag: the 10 hex digits of the frame (version byte + 32-bit tag), upper-case."""

    label = "rdm6300"

    def __init__(
        self,
        port: str,
        clock: Clock,
        baudrate: int = 9600,
        hold_release_s: float = 1.0,
        evse_id: int | None = None,
        *,
        reopen_min_s: float = 0.5,
        reopen_max_s: float = 10.0,
        source: str = "rfid",
    ) -> None:
        super().__init__(
            port, clock, Rdm6300Parser(), baudrate=baudrate, hold_release_s=hold_release_s, evse_id=evse_id,
            reopen_min_s=reopen_min_s, reopen_max_s=reopen_max_s, source=source,
        )


class LineReader(_StreamingTagReader):
    """IdTokenReader for readers that print one tag per line (see LineParser)."""

    label = "line-reader"

    def __init__(
        self,
        port: str,
        clock: Clock,
        terminator: bytes = b"\n",
        pattern: str | re.Pattern[str] | None = None,
        baudrate: int = 9600,
        hold_release_s: float = 1.0,
        evse_id: int | None = None,
        *,
        max_line_bytes: int = 64,
        uppercase: bool = True,
        reopen_min_s: float = 0.5,
        reopen_max_s: float = 10.0,
        source: str = "rfid",
    ) -> None:
        super().__init__(
            port, clock, LineParser(terminator, pattern, max_line_bytes=max_line_bytes, uppercase=uppercase),
            baudrate=baudrate, hold_release_s=hold_release_s, evse_id=evse_id,
            reopen_min_s=reopen_min_s, reopen_max_s=reopen_max_s, source=source,
        )
