"""Line framing of the safety co-processor protocol (docs/mcu-protocol.md, "Framing").

A line is `<seq> <VERB> <arg>...*<CRC>\\n`: printable ASCII, a CRC-16/CCITT-FALSE over
everything before the `*` as four hex digits. A line whose checksum, syntax or length is wrong is
dropped whole, and the reader starts again after the next newline, so a babbling or corrupted
line costs exactly that line and nothing after it."""
from __future__ import annotations

from dataclasses import dataclass, field

MAX_LINE = 120  # bytes, `*CRC` and the newline included
SEQ_MODULO = 65536
_PRINTABLE = frozenset(range(0x20, 0x7F)) - {ord("*")}


def _table() -> tuple[int, ...]:
    table = []
    for byte in range(256):
        crc = byte << 8
        for _ in range(8):
            crc = ((crc << 1) ^ 0x1021) if crc & 0x8000 else (crc << 1)
        table.append(crc & 0xFFFF)
    return tuple(table)


_CRC_TABLE = _table()


def crc16_ccitt(data: bytes) -> int:
    """CRC-16/CCITT-FALSE: polynomial 0x1021, initial 0xFFFF, no reflection, no final XOR
    (check value for b"123456789": 0x29B1). Cheap on any microcontroller, table or bitwise."""
    crc = 0xFFFF
    for byte in data:
        crc = ((crc << 8) & 0xFFFF) ^ _CRC_TABLE[((crc >> 8) ^ byte) & 0xFF]
    return crc


class EncodeError(ValueError):
    """A line that the protocol cannot carry (bad characters, too long)."""


@dataclass(frozen=True)
class Frame:
    """One decoded line. `args` are the space-separated words after the verb; words of the
    form key=value are also available through `param`."""

    seq: int
    verb: str
    args: tuple[str, ...] = ()

    def param(self, key: str, default: str | None = None) -> str | None:
        prefix = key + "="
        for arg in self.args:
            if arg.startswith(prefix):
                return arg[len(prefix):]
        return default

    @property
    def positional(self) -> tuple[str, ...]:
        return tuple(a for a in self.args if "=" not in a)


def encode(seq: int, verb: str, *args: object) -> bytes:
    """The wire form of one line, newline included."""
    words = [str(seq % SEQ_MODULO), verb, *(str(a) for a in args)]
    if not verb.isalpha() or not verb.isupper():
        raise EncodeError(f"verb {verb!r} must be upper-case letters")
    for word in words:
        if not word or any(ord(ch) not in _PRINTABLE or ch == " " for ch in word):
            raise EncodeError(f"word {word!r} is empty or holds a space, '*' or a non-printable character")
    payload = " ".join(words).encode("ascii")
    line = payload + b"*%04X\n" % crc16_ccitt(payload)
    if len(line) > MAX_LINE:
        raise EncodeError(f"line of {len(line)} bytes exceeds {MAX_LINE}")
    return line


def parse_line(line: bytes) -> Frame | None:
    """A complete line without its newline (a trailing CR is allowed); None when it is not a
    valid line: wrong checksum, wrong shape or characters outside printable ASCII."""
    if line.endswith(b"\r"):
        line = line[:-1]
    star = line.rfind(b"*")
    if star < 0 or len(line) - star != 5:
        return None
    payload, digits = line[:star], line[star + 1:]
    if any(b not in _PRINTABLE for b in payload):
        return None
    try:
        crc = int(digits.decode("ascii"), 16)
    except (UnicodeDecodeError, ValueError):
        return None
    if not all(chr(d) in "0123456789abcdefABCDEF" for d in digits) or crc != crc16_ccitt(payload):
        return None
    words = payload.decode("ascii").split(" ")
    if len(words) < 2 or not words[0].isdigit() or len(words[0]) > 5 or int(words[0]) >= SEQ_MODULO:
        return None
    verb = words[1]
    if not verb.isalpha() or not verb.isupper() or any(not w for w in words[2:]):
        return None
    return Frame(int(words[0]), verb, tuple(words[2:]))


@dataclass
class DecoderStats:
    lines: int = 0  # valid lines delivered
    bad: int = 0  # complete lines dropped: checksum, shape or characters
    overlong: int = 0  # lines dropped for exceeding MAX_LINE before their newline


@dataclass
class LineDecoder:
    """Turns a byte stream into frames. Keeps at most MAX_LINE bytes: an overlong line is
    dropped and everything up to the next newline is skipped."""

    stats: DecoderStats = field(default_factory=DecoderStats)
    _buf: bytearray = field(default_factory=bytearray)
    _skipping: bool = False

    def feed(self, data: bytes) -> list[Frame]:
        frames: list[Frame] = []
        start = 0
        while start < len(data):
            newline = data.find(b"\n", start)
            end = len(data) if newline < 0 else newline
            chunk = data[start:end]
            if not self._skipping:
                self._buf += chunk
                if len(self._buf) > MAX_LINE - 1:
                    self._buf.clear()
                    self._skipping = True
                    self.stats.overlong += 1
            if newline < 0:
                break
            if self._skipping:
                self._skipping = False
            elif self._buf.strip(b"\r"):
                frame = parse_line(bytes(self._buf))
                if frame is None:
                    self.stats.bad += 1
                else:
                    self.stats.lines += 1
                    frames.append(frame)
            self._buf.clear()
            start = newline + 1
        return frames

    def reset(self) -> None:
        """Forget a partial line (after the port was reopened)."""
        self._buf.clear()
        self._skipping = False
