"""PN532 host-interface frames (NXP UM0701-02, "PN532 User Manual", section 6.2): pure encoding
and decoding, no I/O.

Normal information frame (LEN counts TFI and the data bytes, 1..255):

    00 | 00 FF | LEN | LCS | TFI | PD0 .. PDn | DCS | 00
    preamble, start code, LEN + LCS = 0 (mod 256), TFI + PD0 + .. + PDn + DCS = 0 (mod 256),
    postamble. TFI is D4 host -> PN532, D5 PN532 -> host.

Extended information frame: 00 00 FF FF FF LENM LENL LCS TFI PD.. DCS 00 (LENM+LENL+LCS = 0).
ACK 00 00 FF 00 FF 00; NACK 00 00 FF FF 00 00; error frame 00 00 FF 01 FF 7F 81 00 (TFI 7F:
"application level error", e.g. a syntax error in the host's command).

`FrameParser` takes bytes in arbitrary chunks and returns what it recognised: `Ack`, `Nack`,
`DataFrame`, `ErrorFrame` and `ChecksumError`. It synchronises on the start code 00 FF: bytes
before it (preambles, postambles, garbage, the wake-up 55s) are skipped, and after any checksum
error it rescans from the byte after the failed start code, so a truncated frame followed by a
good one loses only the truncated one.

The command payload helpers at the end decode the answers the reader needs
(GetFirmwareVersion, InListPassiveTarget for ISO/IEC 14443 type A).
"""
from __future__ import annotations

from dataclasses import dataclass

START_CODE = b"\x00\xff"
TFI_HOST_TO_PN532 = 0xD4
TFI_PN532_TO_HOST = 0xD5
TFI_ERROR = 0x7F

ACK_FRAME = bytes([0x00, 0x00, 0xFF, 0x00, 0xFF, 0x00])
NACK_FRAME = bytes([0x00, 0x00, 0xFF, 0xFF, 0x00, 0x00])
ERROR_FRAME = bytes([0x00, 0x00, 0xFF, 0x01, 0xFF, 0x7F, 0x81, 0x00])

# HSU wake-up: a "long preamble" of 0x55 0x55 then zeros, sent before the first command so the
# PN532 leaves power-down and its UART locks on (UM0701-02 7.2.11; what the common host
# libraries send). The SAMConfiguration command follows it directly.
WAKEUP_PREAMBLE = b"\x55\x55" + bytes(14)

# Commands (UM0701-02 section 7)
GET_FIRMWARE_VERSION = 0x02
SAM_CONFIGURATION = 0x14
RF_CONFIGURATION = 0x32
IN_LIST_PASSIVE_TARGET = 0x4A

BRTY_106_TYPE_A = 0x00
ISO14443A_UID_LENGTHS = (4, 7, 10)  # single, double, triple size

MAX_NORMAL_LEN = 255
MAX_EXTENDED_LEN = 0xFFFF
KNOWN_TFIS = (TFI_HOST_TO_PN532, TFI_PN532_TO_HOST, TFI_ERROR)


def checksum(data: bytes | bytearray) -> int:
    """The byte that makes `data` + it sum to 0 modulo 256 (LCS and DCS)."""
    return (-sum(data)) & 0xFF


def encode_frame(tfi: int, payload: bytes = b"") -> bytes:
    """An information frame (normal, or extended when TFI + payload exceed 255 bytes)."""
    body = bytes([tfi]) + bytes(payload)
    n = len(body)
    if n <= MAX_NORMAL_LEN:
        header = bytes([0x00, 0x00, 0xFF, n, checksum(bytes([n]))])
    elif n <= MAX_EXTENDED_LEN:
        lenm, lenl = n >> 8, n & 0xFF
        header = bytes([0x00, 0x00, 0xFF, 0xFF, 0xFF, lenm, lenl, checksum(bytes([lenm, lenl]))])
    else:
        raise ValueError(f"frame body of {n} bytes is too long")
    return header + body + bytes([checksum(body), 0x00])


def encode_command(command: int, params: bytes = b"") -> bytes:
    """Host -> PN532 command frame (TFI D4)."""
    return encode_frame(TFI_HOST_TO_PN532, bytes([command]) + bytes(params))


def encode_response(command: int, data: bytes = b"") -> bytes:
    """PN532 -> host answer to `command` (TFI D5, response code command + 1)."""
    return encode_frame(TFI_PN532_TO_HOST, bytes([(command + 1) & 0xFF]) + bytes(data))


@dataclass(frozen=True)
class Ack:
    pass


@dataclass(frozen=True)
class Nack:
    pass


@dataclass(frozen=True)
class DataFrame:
    tfi: int
    data: bytes  # PD0..PDn; for TFI D5, data[0] is the response code (command + 1)

    @property
    def response_code(self) -> int | None:
        return self.data[0] if self.data else None


@dataclass(frozen=True)
class ErrorFrame:
    """The PN532's application-level error frame (TFI 7F)."""

    data: bytes = b""


@dataclass(frozen=True)
class ChecksumError:
    kind: str  # "LCS" (length checksum) or "DCS" (data checksum)


Item = Ack | Nack | DataFrame | ErrorFrame | ChecksumError

ACK = Ack()
NACK = Nack()


class FrameParser:
    """Incremental parser: feed() any chunk, get the items completed by it."""

    def __init__(self, max_buffer: int = 2 * (MAX_NORMAL_LEN + 8)) -> None:
        self._buf = bytearray()
        self._max_buffer = max(max_buffer, MAX_NORMAL_LEN + 8)
        self.skipped = 0  # bytes dropped while looking for a start code (incl. pre/postambles)

    def reset(self) -> None:
        self._buf.clear()

    @property
    def pending(self) -> int:
        """Bytes held back as the beginning of a possible frame."""
        return len(self._buf)

    def feed(self, data: bytes | bytearray) -> list[Item]:
        self._buf += data
        out: list[Item] = []
        while self._step(out):
            pass
        while len(self._buf) > self._max_buffer:
            # Only a (false) extended frame can get here; give up on it and rescan.
            self._skip(1)
            while self._step(out):
                pass
        return out

    def _skip(self, n: int) -> None:
        self.skipped += n
        del self._buf[:n]

    def _step(self, out: list[Item]) -> bool:
        """Consume one item or garbage; False when more bytes are needed."""
        buf = self._buf
        i = buf.find(START_CODE)
        if i < 0:
            # Keep a trailing 00: it may be the first half of a start code.
            keep = 1 if buf.endswith(b"\x00") else 0
            if len(buf) > keep:
                self._skip(len(buf) - keep)
            return False
        if i:
            self._skip(i)
        if len(buf) < 4:
            return False
        a, b = buf[2], buf[3]
        if a == 0x00 and b == 0xFF:
            del buf[:4]
            out.append(ACK)
            return True
        if a == 0xFF and b == 0x00:
            del buf[:4]
            out.append(NACK)
            return True
        # buf: 00 FF LEN LCS TFI ... (TFI at 4) or 00 FF FF FF LENM LENL LCS TFI ... (TFI at 7)
        if a == 0xFF and b == 0xFF:  # extended frame
            if len(buf) < 7:
                return False
            lenm, lenl, lcs = buf[4], buf[5], buf[6]
            n = (lenm << 8) | lenl
            if (lenm + lenl + lcs) & 0xFF or n == 0:
                return self._bad(out, "LCS")
            header = 7
        else:
            n = a
            if (a + b) & 0xFF or n == 0:
                return self._bad(out, "LCS")
            header = 4
        if len(buf) > header and buf[header] not in KNOWN_TFIS:
            return self._bad(out, "LCS")  # a start code in garbage: not a frame
        total = header + n + 1
        if len(buf) < total:
            return False
        body = bytes(buf[header : header + n])
        if (sum(body) + buf[header + n]) & 0xFF:
            return self._bad(out, "DCS")
        del buf[:total]  # the postamble, if any, is skipped as garbage by the next step
        tfi = body[0]
        out.append(ErrorFrame(body[1:]) if tfi == TFI_ERROR else DataFrame(tfi, body[1:]))
        return True

    def _bad(self, out: list[Item], kind: str) -> bool:
        out.append(ChecksumError(kind))
        self._skip(1)  # rescan from the byte after this start code's first byte
        return True


# ---- command payloads --------------------------------------------------------------------------


class PayloadError(ValueError):
    """A response whose content does not follow the manual."""


@dataclass(frozen=True)
class FirmwareVersion:
    ic: int  # 0x32 for a PN532
    version: int
    revision: int
    support: int  # bit 0 ISO 14443A, bit 1 ISO 14443B, bit 2 ISO 18092

    def __str__(self) -> str:
        return f"PN5{self.ic:02X} firmware {self.version}.{self.revision} (support 0x{self.support:02X})"


def parse_firmware_version(data: bytes) -> FirmwareVersion:
    """GetFirmwareVersion answer (after the response code): IC, Ver, Rev, Support."""
    if len(data) != 4:
        raise PayloadError(f"GetFirmwareVersion answer has {len(data)} bytes, expected 4")
    return FirmwareVersion(*data)


@dataclass(frozen=True)
class TargetA:
    """One ISO/IEC 14443 type A target as listed by InListPassiveTarget at 106 kbps."""

    tg: int
    sens_res: bytes  # ATQA, 2 bytes
    sel_res: int  # SAK
    uid: bytes  # NFCID1: 4, 7 or 10 bytes
    ats: bytes = b""  # for ISO/IEC 14443-4 cards (SAK bit 6), including its length byte

    @property
    def id_tag(self) -> str:
        return uid_to_id_tag(self.uid)


def uid_to_id_tag(uid: bytes) -> str:
    """The id_tag of a UID: upper-case hex, no separators (4 bytes -> 8 characters)."""
    return uid.hex().upper()


def parse_in_list_passive_target(data: bytes) -> list[TargetA]:
    """InListPassiveTarget answer for BrTy 0x00 (after the response code):
    NbTg, then per target Tg, SENS_RES (2), SEL_RES, NFCIDLength, NFCID1, [ATS]."""
    if not data:
        raise PayloadError("empty InListPassiveTarget answer")
    count, i = data[0], 1
    if count > 2:
        raise PayloadError(f"InListPassiveTarget lists {count} targets (at most 2)")
    targets: list[TargetA] = []
    for k in range(count):
        if len(data) < i + 5:
            raise PayloadError("InListPassiveTarget answer truncated in a target header")
        tg, sens_res, sel_res, uid_len = data[i], bytes(data[i + 1 : i + 3]), data[i + 3], data[i + 4]
        i += 5
        if uid_len not in ISO14443A_UID_LENGTHS:
            raise PayloadError(f"UID length {uid_len} is not 4, 7 or 10")
        if len(data) < i + uid_len:
            raise PayloadError("InListPassiveTarget answer truncated in a UID")
        uid = bytes(data[i : i + uid_len])
        i += uid_len
        ats = b""
        if sel_res & 0x20 and i < len(data):  # ISO/IEC 14443-4 compliant: the ATS follows
            tl = data[i]
            end = len(data) if (tl == 0 or k == count - 1) else i + tl
            ats = bytes(data[i:end])
            i = end
        targets.append(TargetA(tg, sens_res, sel_res, uid, ats))
    return targets
