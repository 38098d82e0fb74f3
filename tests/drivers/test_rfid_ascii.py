"""RDM6300-style and line readers: the parsers on their own, then the readers on a real pty
with a ManualClock (time moves only when a test says so)."""
from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable
from pathlib import Path

import pytest
from pn532_emulator import PtyPort

from drivers.rfid import LineReader, Rdm6300Reader, ReaderClosed, make_reader
from drivers.rfid.ascii_reader import LineParser, Rdm6300Parser
from hal import contracts
from hal.clock import ManualClock
from hal.types import IdToken

pytestmark = pytest.mark.timeout(20)

WAIT_S = 5.0


def rdm_frame(digits: str, *, checksum: int | None = None, crlf: bool = False) -> bytes:
    """STX, 10 hex digits, 2 hex digits of XOR checksum, [CR LF], ETX."""
    raw = bytes.fromhex(digits)
    xor = 0
    for b in raw:
        xor ^= b
    chk = xor if checksum is None else checksum
    return b"\x02" + digits.encode() + f"{chk:02X}".encode() + (b"\r\n" if crlf else b"") + b"\x03"


TAG_A = "0F00A1B2C3"
TAG_B = "1A2B3C4D5E"
FRAME_A = rdm_frame(TAG_A)
FRAME_B = rdm_frame(TAG_B)
TAG_C = "00DEADBEEF"
FRAME_C = rdm_frame(TAG_C)


# ---- RDM6300 parser ----------------------------------------------------------------------------


def test_rdm_frame_format() -> None:
    # 0F ^ 00 ^ A1 ^ B2 ^ C3 = 0xDF
    assert FRAME_A == b"\x020F00A1B2C3DF\x03"
    assert Rdm6300Parser().feed(FRAME_A) == [TAG_A]


def test_rdm_bad_checksum_is_dropped() -> None:
    p = Rdm6300Parser()
    assert p.feed(rdm_frame(TAG_A, checksum=0x00) + FRAME_B) == [TAG_B]
    assert (p.bad_frames, p.good_frames) == (1, 1)


@pytest.mark.parametrize(
    "bad",
    [
        b"\x020F00A1B2C3D\x03",  # 11 digits
        b"\x020F00A1B2C3DFF\x03",  # 13 digits
        b"\x020F00A1B2G3DF\x03",  # not hex
        b"\x02 F00A1B2C3DF\x03",  # blank (bytes.fromhex would accept it)
    ],
)
def test_rdm_malformed_frames(bad: bytes) -> None:
    p = Rdm6300Parser()
    assert p.feed(bad + FRAME_A) == [TAG_A]
    assert p.bad_frames == 1


def test_rdm_lower_case_and_crlf_variant() -> None:
    lower = rdm_frame("0f00a1b2c3").replace(b"DF", b"df")
    assert Rdm6300Parser().feed(lower + rdm_frame(TAG_B, crlf=True)) == [TAG_A, TAG_B]


def test_rdm_resyncs_after_garbage_and_cut_frames() -> None:
    p = Rdm6300Parser()
    stream = b"\xff\x00noise\x03" + FRAME_A[:6] + FRAME_B + b"\x02" + b"7" * 40 + FRAME_A + b"\x03\x03"
    assert p.feed(stream) == [TAG_B, TAG_A]
    assert p.bad_frames == 2  # the cut frame and the overlong one


def test_rdm_every_split_point() -> None:
    stream = b"zz" + FRAME_A + b"\x01" + FRAME_B
    for cut in range(len(stream) + 1):
        p = Rdm6300Parser()
        assert p.feed(stream[:cut]) + p.feed(stream[cut:]) == [TAG_A, TAG_B]


# ---- line parser -------------------------------------------------------------------------------


def test_line_parser_lf_and_crlf() -> None:
    p = LineParser()
    assert p.feed(b"04a1b2c3\r\n12345678\n\n  \r\n") == ["04A1B2C3", "12345678"]


def test_line_parser_crlf_terminator_and_splits() -> None:
    stream = b"\x02ABC123\x03\r\nDEF456\r\n"
    for cut in range(len(stream) + 1):
        p = LineParser(b"\r\n")
        assert p.feed(stream[:cut]) + p.feed(stream[cut:]) == ["ABC123", "DEF456"]


def test_line_parser_pattern() -> None:
    p = LineParser(pattern=r"UID:\s*(?P<tag>[0-9A-Fa-f]+)")
    got = p.feed(b"reader v1.2 ready\nUID: 04 bad\nUID: 04a1b2c3\nUID:DEADBEEF extra\n")
    assert got == ["04", "04A1B2C3", "DEADBEEF"]
    assert p.bad_lines == 1


def test_line_parser_rejects_garbage() -> None:
    p = LineParser(max_line_bytes=32)
    stream = b"has blank\n" + b"\xff\xfe\x80\n" + b"X" * 21 + b"\n" + b"Y" * 100 + b"\nGOOD01\n"
    assert p.feed(stream) == ["GOOD01"]
    assert p.bad_lines == 4


def test_line_parser_overlong_line_split_across_chunks() -> None:
    p = LineParser(max_line_bytes=16)
    assert p.feed(b"Z" * 20) == []
    assert p.feed(b"Z" * 20) == []
    assert p.feed(b"ZZ\nTAG1\n") == ["TAG1"]


def test_line_parser_keeps_case_when_asked() -> None:
    assert LineParser(uppercase=False).feed(b"abC\n") == ["abC"]


# ---- readers on a pty --------------------------------------------------------------------------


async def eventually(cond: Callable[[], bool], what: str = "condition") -> None:
    loop = asyncio.get_running_loop()
    end = loop.time() + WAIT_S
    while not cond():
        if loop.time() > end:
            raise AssertionError(f"timed out waiting for {what}")
        await asyncio.sleep(0.002)


async def within(aw):  # type: ignore[no-untyped-def]
    return await asyncio.wait_for(aw, WAIT_S)


async def ticking(clock: ManualClock, aw, step: float = 0.1):  # type: ignore[no-untyped-def]
    """Await `aw` while moving the manual clock on (for back-off sleeps)."""
    task = asyncio.ensure_future(aw)
    loop = asyncio.get_running_loop()
    end = loop.time() + WAIT_S
    while not task.done():
        if loop.time() > end:
            task.cancel()
            raise AssertionError("timed out")
        clock.advance(step)
        await asyncio.sleep(0.002)
    return task.result()


@pytest.fixture
async def pty(tmp_path: Path) -> AsyncIterator[PtyPort]:
    p = PtyPort(tmp_path / "ttyRFID")
    yield p
    if p.present:
        p.close()


async def started(reader: Rdm6300Reader | LineReader) -> asyncio.Task[IdToken]:
    """A pending read(), once the reader has opened its port (what is written earlier is
    flushed on open, like a real UART's stale input)."""
    task = asyncio.ensure_future(reader.read())
    await eventually(lambda: reader.connected, "the port to open")
    return task


async def test_rdm6300_reads_a_badge(pty: PtyPort) -> None:
    clock = ManualClock()
    reader = Rdm6300Reader(str(pty.link), clock, evse_id=1)
    assert isinstance(reader, contracts.IdTokenReader)
    try:
        task = await started(reader)
        pty.write(FRAME_A)
        assert await within(task) == IdToken(id_tag=TAG_A, source="rfid", evse_id=1)
    finally:
        await reader.close()


async def test_rdm6300_badge_held_is_reported_once(pty: PtyPort) -> None:
    clock = ManualClock()
    reader = Rdm6300Reader(str(pty.link), clock, hold_release_s=1.0)
    try:
        task = await started(reader)
        pty.write(FRAME_A)
        assert (await within(task)).id_tag == TAG_A
        task = asyncio.ensure_future(reader.read())
        for k in range(2, 32):  # the module repeats the frame while the badge is held: 3 s
            clock.advance(0.1)
            pty.write(FRAME_A)
            await eventually(lambda: reader.parser.good_frames == k, "the frame to be read")
        assert not task.done()
        pty.write(FRAME_B)
        assert (await within(task)).id_tag == TAG_B
    finally:
        await reader.close()


async def test_rdm6300_badge_presented_again_after_hold_time(pty: PtyPort) -> None:
    clock = ManualClock()
    reader = Rdm6300Reader(str(pty.link), clock, hold_release_s=1.0)
    try:
        task = await started(reader)
        pty.write(FRAME_A * 3 + FRAME_B)
        assert (await within(task)).id_tag == TAG_A
        assert (await within(reader.read())).id_tag == TAG_B  # all of A's repeats are consumed
        clock.advance(0.5)
        pty.write(FRAME_A + FRAME_C)  # lifted for less than the hold time: same tap
        assert (await within(reader.read())).id_tag == TAG_C
        clock.advance(1.5)
        pty.write(FRAME_A)  # silent for longer than the hold time: a new tap
        assert (await within(reader.read())).id_tag == TAG_A
    finally:
        await reader.close()


async def test_rdm6300_garbage_bad_checksums_and_split_writes(pty: PtyPort) -> None:
    clock = ManualClock()
    reader = Rdm6300Reader(str(pty.link), clock)
    try:
        task = await started(reader)
        stream = (
            b"\x00\xff\x13garbage\x03"
            + rdm_frame(TAG_B, checksum=0x42)  # bad checksum: dropped
            + FRAME_B[:7]  # cut short by the next STX
            + FRAME_A
        )
        for i in range(0, len(stream), 3):  # arrives in small pieces
            pty.write(stream[i : i + 3])
            await asyncio.sleep(0.001)
        assert (await within(task)).id_tag == TAG_A
        assert reader.parser.bad_frames == 2
    finally:
        await reader.close()


async def test_rdm6300_device_vanishes_and_comes_back(pty: PtyPort) -> None:
    clock = ManualClock()
    reader = Rdm6300Reader(str(pty.link), clock, reopen_min_s=0.5, reopen_max_s=2.0)
    try:
        task = await started(reader)
        pty.write(FRAME_A)
        assert (await within(task)).id_tag == TAG_A
        task = asyncio.ensure_future(reader.read())
        pty.vanish()
        await eventually(lambda: not reader.connected, "the reader to notice")
        await ticking(clock, eventually(lambda: reader.link.open_failures >= 3, "failed reopens"), 0.5)
        assert not task.done()  # the path is missing: it keeps trying, it does not raise
        pty.appear()
        await ticking(clock, eventually(lambda: reader.connected, "reopen"))
        pty.write(FRAME_B)
        assert (await within(task)).id_tag == TAG_B
        assert reader.link.opens == 2
    finally:
        await reader.close()


async def test_line_reader_on_pty(pty: PtyPort) -> None:
    clock = ManualClock()
    reader = LineReader(str(pty.link), clock, terminator=b"\r\n", pattern=r"^ID=(\w+)$", evse_id=3)
    try:
        task = await started(reader)
        pty.write(b"boot banner\r\nID=")
        await asyncio.sleep(0.002)
        pty.write(b"04a1b2c3\r\nID=04a1b2c3\r\nID=04A1B2C3\r\n\xff\xfeID=?\r\nID=CAFE01\r\n")
        assert await within(task) == IdToken(id_tag="04A1B2C3", source="rfid", evse_id=3)
        assert (await within(reader.read())).id_tag == "CAFE01"
        clock.advance(5)
        pty.write(b"ID=04A1B2C3\r\n")
        assert (await within(reader.read())).id_tag == "04A1B2C3"
    finally:
        await reader.close()


async def test_line_reader_device_vanishes_and_comes_back(pty: PtyPort) -> None:
    clock = ManualClock()
    reader = LineReader(str(pty.link), clock, reopen_min_s=0.5)
    try:
        task = await started(reader)
        pty.write(b"AAAA\n")
        assert (await within(task)).id_tag == "AAAA"
        task = asyncio.ensure_future(reader.read())
        pty.write(b"BB")  # half a line, then the device is gone
        await asyncio.sleep(0.002)
        pty.vanish()
        await eventually(lambda: not reader.connected, "the reader to notice")
        pty.appear()
        await ticking(clock, eventually(lambda: reader.connected, "reopen"))
        pty.write(b"BB\nCCCC\n")  # "BB" is the rest of a line cut by the reconnection
        assert (await within(task)).id_tag == "BB"  # a complete line on the new port
        assert (await within(reader.read())).id_tag == "CCCC"
    finally:
        await reader.close()


async def test_close_ends_a_pending_read(pty: PtyPort) -> None:
    reader = Rdm6300Reader(str(pty.link), ManualClock())
    task = await started(reader)
    await reader.close()
    with pytest.raises(ReaderClosed):
        await within(task)


async def test_make_ascii_readers(tmp_path: Path) -> None:
    clock = ManualClock()
    r = make_reader("rdm6300", str(tmp_path / "a"), clock, baudrate=9600, evse=2)
    assert isinstance(r, Rdm6300Reader) and r.evse_id == 2
    assert isinstance(make_reader("line", str(tmp_path / "b"), clock), LineReader)
