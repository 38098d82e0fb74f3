"""Test helpers for the safety co-processor: the emulated MCU on a pty (behind a symlink that can
vanish), Borne's link and devices wired to it, each side on its own ManualClock, and a raw peer
that talks to the emulator line by line as an MCU firmware's test bench would."""
from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import serial

from drivers.mcu import protocol as p
from drivers.mcu.codec import Frame, LineDecoder, encode
from drivers.mcu.devices import (
    McuContactor,
    McuLinkFault,
    McuOverTemperature,
    McuPilot,
    McuProximity,
    McuRcm,
    McuSocketLock,
)
from drivers.mcu.emulator import McuEmulator
from drivers.mcu.link import LinkSettings, McuLink
from hal.clock import ManualClock
from example_configs import example_text

ALL_CAPS = (p.CAP_PP, p.CAP_LOCK, p.CAP_TEMP)


def until(predicate: Callable[[], object], timeout: float = 3.0, what: str = "condition") -> None:
    """Poll (real time) until `predicate` holds; fail after `timeout` seconds."""
    deadline = time.monotonic() + timeout
    while not predicate():
        assert time.monotonic() < deadline, f"{what} not reached within {timeout} s"
        time.sleep(0.003)


@dataclass
class Rig:
    emu: McuEmulator
    emu_clock: ManualClock
    link: McuLink
    clock: ManualClock  # Borne's
    contactor: McuContactor
    pilot: McuPilot
    rcm: McuRcm
    proximity: McuProximity
    lock: McuSocketLock
    over_temperature: McuOverTemperature
    link_fault: McuLinkFault

    def advance(self, seconds: float) -> None:
        """Borne's clock only: heartbeats and the silence timeout on Borne's side."""
        self.clock.advance(seconds)

    def settle(self) -> None:
        """Let the link thread read whatever the MCU has already written."""
        start = self.link.cycles
        until(lambda: self.link.cycles >= start + 2, what="two turns of the link thread")

    def heartbeat(self) -> None:
        """One more heartbeat from Borne, seen by the MCU (its whole wanted state follows)."""
        before = self.emu.verbs_received().count(p.HB)
        self.clock.advance(self.link.settings.heartbeat_s)
        until(lambda: self.emu.verbs_received().count(p.HB) > before, what="a heartbeat at the MCU")


@contextmanager
def mcu_rig(tmp_path: Path, *, caps: tuple[str, ...] = ALL_CAPS,
            need_caps: frozenset[str] = frozenset({p.CAP_PP, p.CAP_LOCK}), session: bool = True) -> Iterator[Rig]:
    emu_clock, clock = ManualClock(), ManualClock()
    emu = McuEmulator(1, clock=emu_clock, link=tmp_path / "mcu", caps=caps).start()
    link = McuLink(LinkSettings(emu.port, reopen_s=0.05, need_caps=need_caps), [1], clock)
    rig = Rig(emu, emu_clock, link, clock, McuContactor(link, 1), McuPilot(link, 1), McuRcm(link, 1, clock),
              McuProximity(link, 1), McuSocketLock(link, 1), McuOverTemperature(link, 1), McuLinkFault(link))
    link.start()
    try:
        if session:
            assert link.wait_session(3.0), "no session with the emulated MCU"
        yield rig
    finally:
        link.close()
        emu.stop()


class RawPeer:
    """Borne's side of the line without Borne: send commands, collect the MCU's lines."""

    def __init__(self, port: str) -> None:
        self.port = serial.Serial(port, 115200, timeout=0.01)
        self.decoder = LineDecoder()
        self.frames: list[Frame] = []
        self.seq = 0

    def close(self) -> None:
        self.port.close()

    def send(self, verb: str, *args: object) -> int:
        self.seq += 1
        self.port.write(encode(self.seq, verb, *args))
        return self.seq

    def write(self, data: bytes) -> None:
        self.port.write(data)

    def expect(self, predicate: Callable[[Frame], bool], timeout: float = 3.0, what: str = "a line") -> Frame:
        """The first line (already received or arriving within `timeout`) that matches."""
        deadline = time.monotonic() + timeout
        seen = 0
        while True:
            for frame in self.frames[seen:]:
                if predicate(frame):
                    return frame
            seen = len(self.frames)
            assert time.monotonic() < deadline, f"{what} not received within {timeout} s"
            self.frames += self.decoder.feed(self.port.read(4096))

    def answer(self, seq: int) -> Frame:
        """The ACK or NAK of the command numbered `seq`."""
        return self.expect(lambda f: f.verb in (p.ACK, p.NAK) and f.positional[:1] == (str(seq),),
                           what=f"the answer to line {seq}")

    def drain(self) -> None:
        self.frames.clear()
        self.frames += self.decoder.feed(self.port.read(4096))
        self.frames.clear()


def is_report(verb: str, *words: str) -> Callable[[Frame], bool]:
    """A predicate: a `verb` line whose arguments include every one of `words`."""
    return lambda f: f.verb == verb and all(w in f.args for w in words)


EXAMPLE = Path(__file__).resolve().parents[2] / "docs" / "examples" / "mcu-sdm630-pn532.toml"


def write_config(tmp_path: Path, mcu_port: str, meter_tcp_port: int) -> Path:
    """The documented example, pointed at the emulated MCU, a local Modbus TCP meter, a database
    in tmp_path and an unreachable CSMS (the station runs offline), without the badge reader."""
    text = example_text(EXAMPLE)
    text = text.replace("wss://csms.example.com/ocpp", "ws://127.0.0.1:9/ocpp")
    text = text.replace("security_profile = 2", "security_profile = 0")
    text = text.replace('password_file = "/etc/borne/csms-password"\n', "")
    text = text.replace("/var/lib/borne/borne.db", str(tmp_path / "borne.db"))
    text = text.replace('port = "/dev/ttyAMA2"', f'port = "{mcu_port}"')
    text = text.replace('port = "/dev/ttyAMA1"', f'host = "127.0.0.1"\ntcp_port = {meter_tcp_port}')
    text = text.replace(text[text.index("[reader]"): text.index("[auth]")], "")
    path = tmp_path / "firmware.toml"
    path.write_text(text)
    return path
