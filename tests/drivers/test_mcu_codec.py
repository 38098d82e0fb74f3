"""The co-processor's line framing and report parsing (docs/mcu-protocol.md): CRC, round trips,
and resynchronisation after bad checksums, garbage, torn and overlong lines."""
from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from drivers.mcu import protocol as p
from drivers.mcu.codec import MAX_LINE, EncodeError, Frame, LineDecoder, crc16_ccitt, encode, parse_line
from hal.types import CpState, PilotMode, PilotOutput

# Lines copied from the protocol document: the document and the code must agree on every CRC.
DOC_LINES = [
    b"0 HELLO 1 timeout=500*D56C",
    b"0 ACK 0*0EDB",
    b"1 HELLO 1 evses=1 caps=pp,lock,temp fw=acme-evse-2.3*214C",
    b"2 HB RUN*FBAB",
    b"1 HB*B4B8",
    b"2 POWER 1 ON*63AC",
    b"3 PILOT 1 PWM 53.33*799B",
    b"3 CP 1 C hi=5.98 lo=-11.96 diode=0 pilot=53.33*9A20",
]


def test_crc_is_ccitt_false() -> None:
    assert crc16_ccitt(b"123456789") == 0x29B1
    assert crc16_ccitt(b"") == 0xFFFF


@pytest.mark.parametrize("line", DOC_LINES)
def test_the_documented_examples_decode(line: bytes) -> None:
    frame = parse_line(line)
    assert frame is not None
    assert encode(frame.seq, frame.verb, *frame.args) == line + b"\n"


def test_encode_and_decode() -> None:
    line = encode(65537, "PILOT", 1, "PWM", "53.33")
    assert line == b"1 PILOT 1 PWM 53.33*" + b"%04X" % crc16_ccitt(b"1 PILOT 1 PWM 53.33") + b"\n"
    frame = LineDecoder().feed(line)[0]
    assert frame == Frame(1, "PILOT", ("1", "PWM", "53.33"))
    cp = Frame(3, "CP", ("1", "C", "hi=5.98", "lo=-11.96"))
    assert cp.param("hi") == "5.98" and cp.param("none") is None and cp.positional == ("1", "C")


word = st.text(st.characters(min_codepoint=0x21, max_codepoint=0x7E, blacklist_characters="*"), min_size=1, max_size=8)


@given(seq=st.integers(0, 65535), verb=st.text("ABCDEFGHIJKLMNOPQRSTUVWXYZ", min_size=1, max_size=8),
       args=st.lists(word, max_size=6))
def test_round_trip(seq: int, verb: str, args: list[str]) -> None:
    line = encode(seq, verb, *args)
    assert LineDecoder().feed(line) == [Frame(seq, verb, tuple(args))]


@pytest.mark.parametrize("bad", [("HB", "two words"), ("HB", "a*b"), ("HB", ""), ("Hb",), ("HB", "é"),
                                 ("HB", "x" * MAX_LINE)])
def test_encode_refuses_what_the_framing_cannot_carry(bad: tuple[str, ...]) -> None:
    with pytest.raises(EncodeError):
        encode(1, *bad)


def test_bad_checksum_drops_that_line_only() -> None:
    good = encode(7, "POWER", 1, "ON")
    corrupted = bytearray(encode(6, "POWER", 1, "OFF"))
    corrupted[4] ^= 0x01  # one bit flipped in the payload
    decoder = LineDecoder()
    assert decoder.feed(bytes(corrupted) + good) == [Frame(7, "POWER", ("1", "ON"))]
    assert decoder.stats.bad == 1 and decoder.stats.lines == 1


@pytest.mark.parametrize("line", [
    b"1 HB*b4b9",  # right shape, wrong value
    b"1 HB*B4B",  # three digits
    b"1 HB*B4BXX",
    b"1 HB",  # no checksum at all
    b"HB*" + b"%04X" % crc16_ccitt(b"HB"),  # no sequence number
    b"70000 HB*" + b"%04X" % crc16_ccitt(b"70000 HB"),  # sequence number out of range
    b"1  HB*" + b"%04X" % crc16_ccitt(b"1  HB"),  # two spaces
    b"1 hb*" + b"%04X" % crc16_ccitt(b"1 hb"),  # lower-case verb
    b"1 HB \x01*" + b"%04X" % crc16_ccitt(b"1 HB \x01"),  # control character
])
def test_malformed_lines_are_refused(line: bytes) -> None:
    assert parse_line(line) is None


def test_lower_case_hex_and_crlf_are_accepted() -> None:
    line = encode(1, "HB").rstrip(b"\n")
    decoder = LineDecoder()
    assert decoder.feed(line[:-4] + line[-4:].lower() + b"\r\n") == [Frame(1, "HB")]
    assert decoder.feed(b"\n\r\n") == [] and decoder.stats.bad == 0  # blank lines are not errors


def test_garbage_between_lines_costs_nothing_else() -> None:
    noise = bytes(b for b in range(256) if b != ord("\n")) + b"babble*1234"  # longer than any line
    decoder = LineDecoder()
    frames = decoder.feed(encode(1, "HB") + noise + b"\n" + encode(2, "HB") + b"\x00\x00\n" + encode(3, "HB"))
    assert [f.seq for f in frames] == [1, 2, 3]
    assert (decoder.stats.overlong, decoder.stats.bad) == (1, 1)


def test_a_line_split_anywhere_decodes_once() -> None:
    stream = encode(1, "CP", 1, "B", "hi=9.00", "lo=-12.00", "diode=0", "pilot=HIGH") + encode(2, "HB", "RUN")
    for cut in range(len(stream) + 1):
        decoder = LineDecoder()
        frames = decoder.feed(stream[:cut]) + decoder.feed(stream[cut:])
        assert [f.seq for f in frames] == [1, 2]
    trickled = LineDecoder()
    assert [f.seq for b in stream for f in trickled.feed(bytes([b]))] == [1, 2]


def test_a_torn_line_then_a_whole_one() -> None:
    """A reconnection cuts a line: its tail and the next line arrive as one line and are dropped
    together (their CRC fails); everything after the newline is fine."""
    first = encode(1, "POWER", 1, "ON")
    decoder = LineDecoder()
    frames = decoder.feed(first[:9]) + decoder.feed(first + encode(2, "HB"))
    assert [f.seq for f in frames] == [2] and decoder.stats.bad == 1


@pytest.mark.parametrize("chunk", [1, 7, 4096])
def test_overlong_line_is_skipped_up_to_its_newline(chunk: int) -> None:
    stream = b"A" * 500 + encode(9, "HB") + encode(10, "HB")  # the first newline ends the overlong line
    decoder = LineDecoder()
    frames = [f for i in range(0, len(stream), chunk) for f in decoder.feed(stream[i:i + chunk])]
    assert [f.seq for f in frames] == [10]
    assert decoder.stats.overlong == 1 and decoder.stats.bad == 0


def test_a_line_of_exactly_the_maximum_length_is_accepted() -> None:
    payload_len = MAX_LINE - 6  # "*XXXX\n"
    arg = "x" * (payload_len - len("1 HB "))
    line = encode(1, "HB", arg)
    assert len(line) == MAX_LINE
    assert LineDecoder().feed(line) == [Frame(1, "HB", (arg,))]
    assert LineDecoder().feed(line[:-1] + b"y\n") == []


def test_reset_forgets_a_partial_line() -> None:
    decoder = LineDecoder()
    decoder.feed(b"12 POW")
    decoder.reset()
    assert decoder.feed(encode(3, "HB")) == [Frame(3, "HB")]


# ---- reports ---------------------------------------------------------------------------------


def frame(line: bytes) -> Frame:
    decoded = LineDecoder().feed(line)
    assert len(decoded) == 1
    return decoded[0]


def test_reports_parse_into_values() -> None:
    assert p.parse_report(frame(encode(1, "CP", 1, "C", "hi=5.98", "lo=-11.96", "diode=0", "pilot=53.33"))) == \
        p.CpReport(1, CpState.C, 5.98, -11.96, False, PilotOutput(PilotMode.PWM, 53.33))
    assert p.parse_report(frame(encode(2, "RELAY", 2, "drive=1", "fb=-"))) == p.RelayReport(2, True, None)
    assert p.parse_report(frame(encode(3, "FAULT", 1, "RCM,WELD"))) == p.FaultReport(1, frozenset({"RCM", "WELD"}))
    assert p.parse_report(frame(encode(4, "FAULT", 1, "-"))) == p.FaultReport(1, frozenset())
    assert p.parse_report(frame(encode(5, "PP", 1, "ohm=open"))) == p.PpReport(1, None)
    assert p.parse_report(frame(encode(6, "NAK", 12, "SESSION"))) == p.Nak(12, "SESSION")
    assert p.parse_report(frame(encode(7, "HB", "SAFE", "WATCHDOG"))) == p.Heartbeat("SAFE", "WATCHDOG")
    assert p.parse_report(frame(encode(8, "TEST", 1, "FAIL", "trip_ms=700", "release_ms=-"))) == \
        p.SelfTestReport(1, False, 700, None)
    hello = p.parse_report(frame(encode(9, "HELLO", 1, "evses=2", "caps=pp,lock", "fw=x")))
    assert hello == p.Hello(1, 2, frozenset({"pp", "lock"}), "x")


@pytest.mark.parametrize("line", [
    encode(1, "CP", 1, "G", "hi=1", "lo=1", "diode=0", "pilot=F"),  # no such state
    encode(1, "CP", 1, "C", "hi=nan", "lo=1", "diode=0", "pilot=F"),
    encode(1, "CP", 1, "C", "hi=6", "lo=-12", "diode=2", "pilot=F"),
    encode(1, "CP", 1, "C", "hi=6", "lo=-12", "diode=0", "pilot=100"),  # no such duty
    encode(1, "RELAY", 0, "drive=1", "fb=1"),  # EVSEs start at 1
    encode(1, "RELAY", 1, "fb=1"),
    encode(1, "HB", "NAP"),
    encode(1, "SING", 1),  # a report this Borne does not know
])
def test_malformed_or_unknown_reports_are_ignored(line: bytes) -> None:
    assert p.parse_report(frame(line)) is None


def test_pilot_words_round_trip() -> None:
    for output in (PilotOutput(PilotMode.PWM, 53.33), PilotOutput(PilotMode.CONSTANT_HIGH, 100.0),
                   PilotOutput(PilotMode.STATE_F, 0.0)):
        assert p.parse_pilot(p.pilot_args(output)) == output
        assert p.parse_pilot_word(p.pilot_word(output)) == output
    assert p.parse_pilot(("PWM", "0")) is None and p.parse_pilot(("PWM", "100.00")) is None
