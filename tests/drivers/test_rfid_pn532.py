"""Pn532Reader against an emulated PN532 on a real pty: the driver opens a symlink to the pty
slave with pyserial-asyncio-fast, the emulator answers on the master like the chip.

Time: a ScaledClock (x10) drives polls, timeouts, hold release and back-off; the tests never
sleep to assert timing, they wait (briefly polling) for the other side's effect."""
from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass
from pathlib import Path

import pytest
from pn532_emulator import Card, Pn532Emulator, PtyPort

from drivers.rfid import Pn532Reader, ReaderClosed, make_reader
from drivers.rfid.pn532_frames import ACK_FRAME, encode_response
from hal import contracts
from hal.clock import ScaledClock
from hal.types import IdToken

pytestmark = pytest.mark.timeout(20)

SCALE = 10.0
CARD_A = Card.mifare_classic(bytes.fromhex("04A1B2C3"))
CARD_B = Card.ultralight(bytes.fromhex("04112233445566"))
WAIT_S = 5.0  # real-time guard so a broken driver fails instead of hanging


async def eventually(cond: Callable[[], bool], what: str = "condition") -> None:
    loop = asyncio.get_running_loop()
    end = loop.time() + WAIT_S
    while not cond():
        if loop.time() > end:
            raise AssertionError(f"timed out waiting for {what}")
        await asyncio.sleep(0.002)


async def within(aw):  # type: ignore[no-untyped-def]
    return await asyncio.wait_for(aw, WAIT_S)


@dataclass
class Rig:
    pty: PtyPort
    emu: Pn532Emulator
    reader: Pn532Reader

    def start_read(self) -> asyncio.Task[IdToken]:
        return asyncio.ensure_future(self.reader.read())

    async def polls_pass(self, n: int, *, with_card: bool) -> None:
        """Let n more InListPassiveTarget polls be answered."""
        attr = "polls_with_card" if with_card else "polls"
        target = getattr(self.emu, attr) + n
        await eventually(lambda: getattr(self.emu, attr) >= target, f"{n} polls")


def make_rig(tmp_path: Path, **reader_kw: object) -> Rig:
    pty = PtyPort(tmp_path / "ttyPN532")
    emu = Pn532Emulator(pty)
    kw: dict[str, object] = dict(
        poll_interval_s=0.05, hold_release_s=0.3, response_timeout_s=1.0, reopen_min_s=0.2, reopen_max_s=0.4,
        evse_id=2,
    )
    kw.update(reader_kw)
    reader = Pn532Reader(str(pty.link), ScaledClock(SCALE), **kw)  # type: ignore[arg-type]
    return Rig(pty, emu, reader)


@pytest.fixture
async def rig(tmp_path: Path) -> AsyncIterator[Rig]:
    r = make_rig(tmp_path)
    r.emu.start()
    yield r
    await r.reader.close()
    await r.emu.stop()
    if r.pty.present:
        r.pty.close()


async def test_wakes_configures_and_reads_a_4_byte_uid(rig: Rig) -> None:
    assert isinstance(rig.reader, contracts.IdTokenReader)
    rig.emu.card = CARD_A
    token = await within(rig.reader.read())
    assert token == IdToken(id_tag="04A1B2C3", source="rfid", evse_id=2)
    assert rig.emu.rx.startswith(b"\x55\x55\x00\x00")  # the long wake-up preamble
    assert rig.emu.wakeups == 1 and rig.emu.sam_configs == 1
    assert rig.emu.commands[:4] == [0x14, 0x32, 0x02, 0x4A]  # SAM, MaxRetries, firmware, poll
    assert rig.emu.max_retries == bytes([0xFF, 0x01, 0x02])
    assert rig.reader.firmware is not None and rig.reader.firmware.ic == 0x32
    assert rig.reader.ready


@pytest.mark.parametrize(
    ("card", "tag"),
    [
        (Card.ultralight(bytes.fromhex("04112233445566")), "04112233445566"),
        (Card.desfire(bytes.fromhex("04A0B0C0D0E0F0")), "04A0B0C0D0E0F0"),  # with ATS
        (Card(bytes.fromhex("0102030405060708090A"), b"\x00\x44", 0x00), "0102030405060708090A"),
    ],
)
async def test_7_and_10_byte_uids(rig: Rig, card: Card, tag: str) -> None:
    rig.emu.card = card
    assert (await within(rig.reader.read())).id_tag == tag


async def test_card_held_for_many_polls_is_reported_once(rig: Rig) -> None:
    rig.emu.card = CARD_A
    assert (await within(rig.reader.read())).id_tag == "04A1B2C3"
    pending = rig.start_read()
    await rig.polls_pass(15, with_card=True)  # 15 polls x 0.05 s > hold_release_s 0.3 s
    assert not pending.done()
    assert rig.emu.rf_off >= 15  # the field is switched off between polls
    rig.emu.card = CARD_B
    assert (await within(pending)).id_tag == "04112233445566"


async def test_card_read_again_after_removal_and_representation(rig: Rig) -> None:
    rig.emu.card = CARD_A
    assert (await within(rig.reader.read())).id_tag == "04A1B2C3"
    pending = rig.start_read()
    rig.emu.card = None
    await eventually(lambda: "04A1B2C3" not in rig.reader.held, "the badge to be released")
    assert not pending.done()
    rig.emu.card = CARD_A
    assert (await within(pending)).id_tag == "04A1B2C3"


async def test_short_lift_within_hold_time_is_the_same_tap(tmp_path: Path) -> None:
    r = make_rig(tmp_path, hold_release_s=60.0)
    r.emu.start()
    try:
        r.emu.card = CARD_A
        assert (await within(r.reader.read())).id_tag == "04A1B2C3"
        pending = r.start_read()
        r.emu.card = None
        await r.polls_pass(2, with_card=False)
        r.emu.card = CARD_A
        await r.polls_pass(3, with_card=True)
        assert not pending.done()
        r.emu.card = CARD_B
        assert (await within(pending)).id_tag == "04112233445566"
    finally:
        await r.reader.close()
        await r.emu.stop()
        r.pty.close()


async def test_no_card_polls_until_one_comes(rig: Rig) -> None:
    pending = rig.start_read()
    await rig.polls_pass(10, with_card=False)
    assert not pending.done()
    rig.emu.card = CARD_A
    assert (await within(pending)).id_tag == "04A1B2C3"
    assert rig.emu.sam_configs == 1  # empty polls are answers, not failures


async def test_garbage_and_partial_frames_between_answers(rig: Rig) -> None:
    rig.emu.split_writes = True
    rig.emu.card = CARD_A
    stale = encode_response(0x4A, b"\x01\x01\x00\x04\x08\x04\x99\x99\x99\x99")
    f = rig.emu.faults
    f.only_for = {0x4A}
    f.garbage_before = b"\x13\x00\xff\x42\x00\x00\xff\x05garbage\x55\x55"
    f.garbage_between = b"\xfe\xed\x00\xff\xff\xff\x01" + stale[:7]  # junk, a false start, half a frame
    f.truncated_before = stale[:10]
    assert (await within(rig.reader.read())).id_tag == "04A1B2C3"
    rig.pty.write(b"\x00\xff\x03line noise\x00\x00")  # unsolicited bytes between two commands
    pending = rig.start_read()
    await rig.polls_pass(3, with_card=True)
    rig.emu.card = CARD_B
    assert (await within(pending)).id_tag == "04112233445566"
    assert rig.reader.stats["lcs_errors"] + rig.reader.stats["dcs_errors"] >= 1


async def test_bad_dcs_is_requested_again_with_nack(rig: Rig) -> None:
    rig.emu.card = CARD_A
    rig.emu.faults.only_for = {0x4A}
    rig.emu.faults.bad_dcs = 1
    assert (await within(rig.reader.read())).id_tag == "04A1B2C3"
    assert rig.reader.stats["dcs_errors"] == 1
    assert rig.emu.nacks_received == 1  # the chip retransmitted its answer
    assert rig.emu.sam_configs == 1


async def test_bad_dcs_without_retransmission_times_out_and_recovers(rig: Rig) -> None:
    rig.emu.honour_nack = False
    rig.emu.card = CARD_A
    rig.emu.faults.only_for = {0x4A}
    rig.emu.faults.bad_dcs = 1
    assert (await within(rig.reader.read())).id_tag == "04A1B2C3"
    assert rig.reader.stats["dcs_errors"] >= 1 and rig.reader.stats["timeouts"] >= 1
    assert rig.emu.aborts >= 1  # the host aborted the command with an ACK
    assert rig.emu.sam_configs >= 2  # ... and woke the chip again


async def test_nack_from_the_chip_makes_the_host_resend(rig: Rig) -> None:
    rig.emu.card = CARD_A
    rig.emu.faults.only_for = {0x4A}
    rig.emu.faults.nack = 1
    assert (await within(rig.reader.read())).id_tag == "04A1B2C3"
    assert rig.reader.stats["nacks_received"] == 1
    assert rig.emu.commands.count(0x4A) == 2
    assert rig.emu.sam_configs == 1


async def test_error_frame_fails_the_poll_and_the_reader_recovers(rig: Rig) -> None:
    rig.emu.card = CARD_A
    rig.emu.faults.only_for = {0x4A}
    rig.emu.faults.error_frame = 1
    assert (await within(rig.reader.read())).id_tag == "04A1B2C3"
    assert rig.reader.stats["error_frames"] == 1
    assert rig.emu.sam_configs == 2


async def test_response_without_ack_is_accepted(rig: Rig) -> None:
    rig.emu.card = CARD_A
    rig.emu.faults.only_for = {0x4A}
    rig.emu.faults.drop_ack = 1
    assert (await within(rig.reader.read())).id_tag == "04A1B2C3"
    assert rig.emu.sam_configs == 1


async def test_chip_reset_is_woken_again(rig: Rig) -> None:
    rig.emu.card = CARD_A
    assert (await within(rig.reader.read())).id_tag == "04A1B2C3"
    rig.emu.power_cycle()  # silently back in power-down: commands go unanswered
    seen = len(rig.emu.rx)
    rig.emu.card = CARD_B
    assert (await within(rig.reader.read())).id_tag == "04112233445566"
    assert rig.emu.wakeups == 2 and rig.emu.sam_configs == 2
    assert ACK_FRAME in rig.emu.rx[seen:]  # the unanswered command was aborted
    assert rig.reader.stats["timeouts"] >= 1


async def test_wake_up_keeps_retrying_while_the_chip_is_deaf(rig: Rig) -> None:
    rig.emu.faults.silent = 4  # the first four commands get nothing
    rig.emu.card = CARD_A
    assert (await within(rig.reader.read())).id_tag == "04A1B2C3"
    assert rig.reader.stats["wake_failures"] >= 2


async def test_device_vanishes_and_comes_back(rig: Rig) -> None:
    rig.emu.card = CARD_A
    assert (await within(rig.reader.read())).id_tag == "04A1B2C3"
    pending = rig.start_read()
    await rig.emu.stop()
    rig.pty.vanish()  # unplugged: both ends closed, the path is gone
    await eventually(lambda: not rig.reader.connected, "the reader to notice")
    assert not pending.done()
    # Plugged back in under the same path, a fresh chip (asleep), the badge still on it.
    rig.pty.appear()
    rig.emu.power_cycle()
    rig.emu.start()
    await rig.polls_pass(5, with_card=True)
    assert rig.emu.wakeups == 2 and rig.emu.sam_configs == 2
    assert not pending.done()  # a badge held through the outage is not a new tap
    rig.emu.card = CARD_B
    assert (await within(pending)).id_tag == "04112233445566"
    assert rig.reader.connected


async def test_device_missing_at_start(tmp_path: Path) -> None:
    r = make_rig(tmp_path)
    r.pty.vanish()
    try:
        pending = r.start_read()
        await eventually(lambda: r.reader.link.open_failures >= 2, "failed opens")
        assert not pending.done()
        r.pty.appear()
        r.emu.card = CARD_A
        r.emu.start()
        assert (await within(pending)).id_tag == "04A1B2C3"
    finally:
        await r.reader.close()
        await r.emu.stop()
        if r.pty.present:
            r.pty.close()


async def test_cancelled_read_leaves_the_reader_usable(rig: Rig) -> None:
    pending = rig.start_read()
    await rig.polls_pass(2, with_card=False)
    pending.cancel()
    with pytest.raises(asyncio.CancelledError):
        await pending
    rig.emu.card = CARD_A
    assert (await within(rig.reader.read())).id_tag == "04A1B2C3"


async def test_close_ends_a_pending_read(rig: Rig) -> None:
    pending = rig.start_read()
    await rig.polls_pass(2, with_card=False)
    await rig.reader.close()
    with pytest.raises(ReaderClosed):
        await within(pending)
    assert not rig.reader.connected


async def test_make_reader(tmp_path: Path) -> None:
    reader = make_reader("pn532", str(tmp_path / "tty"), ScaledClock(SCALE), evse=1)
    assert isinstance(reader, Pn532Reader) and reader.evse_id == 1
    with pytest.raises(ValueError, match="unknown reader driver"):
        make_reader("wiegand", "/dev/null", ScaledClock(SCALE))
