"""PN532 frame encoding and the incremental parser (pure, no I/O)."""
from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from drivers.rfid.pn532_frames import (
    ACK,
    ACK_FRAME,
    ERROR_FRAME,
    NACK,
    NACK_FRAME,
    ChecksumError,
    DataFrame,
    ErrorFrame,
    FrameParser,
    PayloadError,
    TargetA,
    encode_command,
    encode_frame,
    encode_response,
    parse_firmware_version,
    parse_in_list_passive_target,
    uid_to_id_tag,
)

FW_RESPONSE = encode_response(0x02, bytes([0x32, 0x01, 0x06, 0x07]))
POLL_4 = encode_response(0x4A, bytes([0x01, 0x01, 0x00, 0x04, 0x08, 0x04, 0xDE, 0xAD, 0xBE, 0xEF]))


def feed_all(parser: FrameParser, data: bytes, sizes: list[int] | None = None) -> list:
    out, i = [], 0
    for n in sizes or [len(data)]:
        out += parser.feed(data[i : i + n])
        i += n
    out += parser.feed(data[i:])
    return out


def test_command_frames_match_the_manual() -> None:
    # Well-known frames (UM0701-02 examples / every host library).
    assert encode_command(0x02) == bytes.fromhex("0000FF02FED4022A00")
    assert encode_command(0x14, b"\x01\x14\x01") == bytes.fromhex("0000FF05FBD414011401 0200".replace(" ", ""))
    assert encode_command(0x4A, b"\x01\x00") == bytes.fromhex("0000FF04FCD44A0100E100")
    assert ACK_FRAME == bytes.fromhex("0000FF00FF00")
    assert NACK_FRAME == bytes.fromhex("0000FFFF0000")
    assert ERROR_FRAME == bytes.fromhex("0000FF01FF7F8100")


def test_parses_ack_nack_error_and_data_frames() -> None:
    p = FrameParser()
    items = p.feed(ACK_FRAME + FW_RESPONSE + NACK_FRAME + ERROR_FRAME)
    assert items == [ACK, DataFrame(0xD5, bytes([0x03, 0x32, 0x01, 0x06, 0x07])), NACK, ErrorFrame(b"")]
    assert items[1].response_code == 0x03
    assert p.pending <= 1  # the final postamble 00 could start a start code


def test_every_split_point_gives_the_same_items() -> None:
    stream = b"\x55\x55\x00\x00\x00" + ACK_FRAME + b"\x13\x37" + POLL_4 + b"\x13\xfe" + ACK_FRAME
    expected = FrameParser().feed(stream)
    assert expected == [ACK, DataFrame(0xD5, POLL_4[6:-2]), ACK]
    for cut in range(1, len(stream)):
        for cut2 in range(cut, len(stream)):
            p = FrameParser()
            assert p.feed(stream[:cut]) + p.feed(stream[cut:cut2]) + p.feed(stream[cut2:]) == expected


def test_byte_by_byte() -> None:
    stream = ACK_FRAME + POLL_4
    p = FrameParser()
    assert feed_all(p, stream, [1] * len(stream)) == [ACK, DataFrame(0xD5, POLL_4[6:-2])]


def test_bad_length_checksum_resyncs_on_next_start_code() -> None:
    bad = bytes.fromhex("0000FF05FAD4140114010200")  # LCS should be FB
    items = FrameParser().feed(bad + FW_RESPONSE)
    assert ChecksumError("LCS") in items
    assert items[-1] == DataFrame(0xD5, FW_RESPONSE[6:-2])


def test_bad_data_checksum_is_reported_and_next_frame_recovered() -> None:
    corrupted = bytearray(POLL_4)
    corrupted[-2] ^= 0x01
    items = FrameParser().feed(bytes(corrupted) + FW_RESPONSE)
    assert items == [ChecksumError("DCS"), DataFrame(0xD5, FW_RESPONSE[6:-2])]


def test_truncated_frame_followed_by_a_complete_one() -> None:
    # The truncated header announces more bytes than arrive before the next frame: the parser
    # swallows part of the next frame, fails the DCS, then rescans and finds it.
    truncated = POLL_4[:9]
    items = FrameParser().feed(truncated + FW_RESPONSE)
    assert items[-1] == DataFrame(0xD5, FW_RESPONSE[6:-2])
    assert all(isinstance(i, ChecksumError) for i in items[:-1])


def test_false_start_codes_in_garbage() -> None:
    garbage = bytes.fromhex("00FF1234 00FF0000 00FFFFFF01 00FF0101 00")  # LCS errors / bad TFI
    items = FrameParser().feed(garbage.replace(b" ", b"") + ACK_FRAME + FW_RESPONSE)
    assert items[-2:] == [ACK, DataFrame(0xD5, FW_RESPONSE[6:-2])]
    assert all(isinstance(i, ChecksumError) for i in items[:-2])


def test_start_code_with_unknown_tfi_is_not_awaited() -> None:
    # 00 FF 80 80 has a valid LCS but 0x99 is no TFI: the parser does not wait for 128 bytes.
    items = FrameParser().feed(bytes.fromhex("00FF808099") + ACK_FRAME)
    assert items == [ChecksumError("LCS"), ACK]


def test_extended_frame_round_trip() -> None:
    payload = bytes(range(256)) + b"\x01\x02"
    raw = encode_frame(0xD5, payload)
    assert raw[:5] == bytes.fromhex("0000FFFFFF")
    assert FrameParser().feed(b"\x17" + raw) == [DataFrame(0xD5, payload)]


def test_garbage_only_is_bounded() -> None:
    p = FrameParser()
    for _ in range(100):
        assert p.feed(bytes(range(1, 256))) == []
    assert p.pending <= 1


frames_st = st.sampled_from(
    [ACK_FRAME, NACK_FRAME, ERROR_FRAME, FW_RESPONSE, POLL_4, encode_response(0x4A, b"\x00"), encode_response(0x14)]
)
garbage_st = st.binary(max_size=12).map(lambda b: b.replace(b"\x00", b"\x01"))


@settings(max_examples=100, deadline=None)
@given(st.lists(st.tuples(garbage_st, frames_st), max_size=8), st.lists(st.integers(1, 9), max_size=40))
def test_frames_between_garbage_survive_any_chunking(pairs, sizes) -> None:
    stream = b"".join(g + f for g, f in pairs)
    expected = [FrameParser().feed(f)[0] for _, f in pairs]
    p = FrameParser()
    got = [i for i in feed_all(p, stream, sizes) if not isinstance(i, ChecksumError)]
    assert got == expected


@settings(max_examples=100, deadline=None)
@given(st.binary(max_size=600), st.lists(st.integers(1, 64), max_size=20))
def test_arbitrary_bytes_never_break_the_parser(data, sizes) -> None:
    p = FrameParser()
    feed_all(p, data, sizes)
    assert p.pending <= 2 * (255 + 8)
    # Whatever false frame the garbage started, good frames get through once it is outlived.
    assert p.feed(FW_RESPONSE * 60)[-1] == DataFrame(0xD5, FW_RESPONSE[6:-2])


# ---- payloads ----------------------------------------------------------------------------------


def test_firmware_version() -> None:
    fw = parse_firmware_version(bytes([0x32, 0x01, 0x06, 0x07]))
    assert (fw.ic, fw.version, fw.revision, fw.support) == (0x32, 1, 6, 7)
    assert str(fw).startswith("PN532 firmware 1.6")
    with pytest.raises(PayloadError):
        parse_firmware_version(b"\x32\x01")


def test_no_target() -> None:
    assert parse_in_list_passive_target(b"\x00") == []


@pytest.mark.parametrize(
    ("uid", "tag"),
    [
        (bytes.fromhex("DEADBEEF"), "DEADBEEF"),
        (bytes.fromhex("04A1B2C3D4E580"), "04A1B2C3D4E580"),
        (bytes.fromhex("0102030405060708090A"), "0102030405060708090A"),
    ],
)
def test_uid_lengths(uid: bytes, tag: str) -> None:
    data = bytes([0x01, 0x01, 0x00, 0x44, 0x00, len(uid)]) + uid
    (t,) = parse_in_list_passive_target(data)
    assert t == TargetA(1, b"\x00\x44", 0x00, uid)
    assert t.id_tag == tag == uid_to_id_tag(uid)


def test_iso14443_4_target_with_ats() -> None:
    ats = bytes([0x06, 0x75, 0x77, 0x81, 0x02, 0x80])
    data = bytes([0x01, 0x01, 0x03, 0x44, 0x20, 0x07]) + bytes.fromhex("04112233445566") + ats
    (t,) = parse_in_list_passive_target(data)
    assert t.uid.hex().upper() == "04112233445566" and t.ats == ats and t.sel_res == 0x20


def test_two_targets() -> None:
    a = bytes([0x01, 0x00, 0x04, 0x08, 0x04]) + bytes.fromhex("11223344")
    b = bytes([0x02, 0x03, 0x44, 0x20, 0x07]) + bytes.fromhex("04556677889900") + bytes([0x02, 0x80])
    ts = parse_in_list_passive_target(bytes([0x02]) + a + b)
    assert [t.id_tag for t in ts] == ["11223344", "04556677889900"]


@pytest.mark.parametrize(
    "data",
    [
        b"",
        bytes([0x01, 0x01, 0x00, 0x04]),  # truncated header
        bytes([0x01, 0x01, 0x00, 0x04, 0x08, 0x05, 1, 2, 3, 4, 5]),  # 5-byte UID
        bytes([0x01, 0x01, 0x00, 0x04, 0x08, 0x07, 1, 2, 3]),  # truncated UID
        bytes([0x03]),
    ],
)
def test_malformed_target_data(data: bytes) -> None:
    with pytest.raises(PayloadError):
        parse_in_list_passive_target(data)
