"""An emulated safety co-processor on a pseudo-terminal, for tests, bench work and training:
`python -m drivers.mcu.emulator` prints the port to give Borne ([mcu] port) and reads commands
from stdin (`help` lists them).

The MCU's rules live in emulator_model.py; this module owns the pty and a thread that reads
Borne's lines, applies the rules on the injected clock (so a test advances the silence timeout
instead of sleeping through it) and writes the MCU's lines. With `link`, the pty is reached
through a symlink that `vanish()` removes and `appear()` points at a new pty, like a USB adapter
unplugged and plugged back."""
from __future__ import annotations

import argparse
import os
import select
import signal
import sys
import threading
import tty
from collections.abc import Callable
from pathlib import Path
from typing import TypeVar

from drivers.mcu import protocol as p
from drivers.mcu.codec import SEQ_MODULO, DecoderStats, Frame, LineDecoder, encode
from drivers.mcu.emulator_model import TEST_OUTCOMES, EmulatedEvse, Line, McuModel
from hal.clock import Clock, SystemClock
from hal.types import CpState, PilotOutput

T = TypeVar("T")
POLL_S = 0.005


class McuEmulator:
    def __init__(self, evses: int = 1, *, clock: Clock | None = None, link: Path | str | None = None,
                 caps: tuple[str, ...] = (p.CAP_PP, p.CAP_LOCK, p.CAP_TEMP), heartbeat_s: float = 0.1,
                 firmware: str = "borne-mcu-emulator/1") -> None:
        self.clock = clock or SystemClock()
        self.link = Path(link) if link is not None else None
        self.model = McuModel(evses, caps=caps, heartbeat_s=heartbeat_s, firmware=firmware)
        self.received: list[Frame] = []  # every line Borne sent that the MCU accepted
        self.decoder = LineDecoder()
        self._lock = threading.RLock()
        self._seq = 0
        self._muted = False
        self._deaf = False
        self._drop = 0
        self._out: list[bytes] = []
        self._master: int | None = None
        self._slave: int | None = None
        self._requests: list[tuple[Callable[[], None], threading.Event]] = []
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="mcu-emulator", daemon=True)

    # ---- lifecycle -------------------------------------------------------------------------

    def start(self) -> McuEmulator:
        self._appear()
        with self._lock:
            self._queue(self.model.boot())
        self._thread.start()
        return self

    def stop(self) -> None:
        self._stop.set()
        self._thread.join(timeout=2.0)
        self._vanish()

    def __enter__(self) -> McuEmulator:
        return self.start()

    def __exit__(self, *_: object) -> None:
        self.stop()

    @property
    def port(self) -> str:
        """The path Borne opens: the symlink when one was asked for, else the pty itself."""
        if self.link is not None:
            return str(self.link)
        assert self._slave is not None, "the pty has vanished"
        return os.ttyname(self._slave)

    # ---- what a test does to the world -----------------------------------------------------

    def _evse(self, evse: int, change: Callable[[EmulatedEvse], None]) -> None:
        with self._lock:
            change(self.model.evses[evse])

    def set_ev(self, evse: int, state: CpState | str) -> None:
        """The EV's resistors: A (no EV), B, C, D, or E (CP shorted to PE)."""
        state = CpState(state)
        if state is CpState.F:
            raise ValueError("F is the EVSE's own signal, not something an EV does")
        self._evse(evse, lambda e: setattr(e, "ev", state))

    def set_diode_fault(self, evse: int, shorted: bool) -> None:
        self._evse(evse, lambda e: setattr(e, "diode_shorted", shorted))

    def set_pp(self, evse: int, ohm: float | None) -> None:
        self._evse(evse, lambda e: setattr(e, "pp_ohm", ohm))

    def weld(self, evse: int, welded: bool = True) -> None:
        self._evse(evse, lambda e: setattr(e, "weld", welded))

    def stick_open(self, evse: int, stuck: bool = True) -> None:
        self._evse(evse, lambda e: setattr(e, "stuck_open", stuck))

    def residual_current(self, evse: int, flowing: bool) -> None:
        """A fault current: the RCM trips and the MCU latches it until RCMRESET."""
        self._evse(evse, lambda e: setattr(e, "rcm_current", flowing))

    def rcm_test_outcome(self, evse: int, outcome: str) -> None:
        if outcome not in TEST_OUTCOMES:
            raise ValueError(f"outcome is one of {', '.join(TEST_OUTCOMES)}")
        self._evse(evse, lambda e: setattr(e, "test_outcome", outcome))

    def set_over_temperature(self, evse: int, hot: bool) -> None:
        self._evse(evse, lambda e: setattr(e, "over_temperature", hot))

    # ---- what a test does to the MCU and its line ------------------------------------------

    def mute(self, muted: bool = True) -> None:
        """Stop (or resume) sending: Borne hears nothing, the MCU still listens."""
        with self._lock:
            self._muted = muted
            self._out.clear()

    def deaf(self, deaf: bool = True) -> None:
        """Ignore (or hear again) everything Borne sends: a broken receive line."""
        with self._lock:
            self._deaf = deaf

    def drop_next(self, count: int = 1) -> None:
        """Lose the next `count` valid lines from Borne, as a noisy line would."""
        with self._lock:
            self._drop += count

    @property
    def dropping(self) -> int:
        """How many of Borne's next lines drop_next will still lose."""
        with self._lock:
            return self._drop

    def send_raw(self, data: bytes) -> None:
        """Put arbitrary bytes on the line towards Borne (garbage, torn or corrupted lines)."""
        with self._lock:
            self._out.append(bytes(data))

    def send(self, verb: str, *args: object) -> None:
        """Send a well-formed line of the emulator's choosing."""
        with self._lock:
            self._queue([(verb, tuple(str(a) for a in args))])

    def reboot(self) -> None:
        with self._lock:
            self._queue(self.model.boot())

    def vanish(self) -> None:
        """Unplug: the pty and the symlink disappear (done by the thread, between reads)."""
        self._request(self._vanish)

    def appear(self) -> None:
        self._request(self._appear)

    # ---- what a test looks at --------------------------------------------------------------

    def read(self, probe: Callable[[McuModel], T]) -> T:
        with self._lock:
            return probe(self.model)

    def relay_closed(self, evse: int) -> bool:
        """The main contacts (a weld keeps them closed whatever the coil does)."""
        return self.read(lambda m: m.evses[evse].contacts_closed)

    def relay_driven(self, evse: int) -> bool:
        return self.read(lambda m: m.evses[evse].drive)

    def pilot(self, evse: int) -> PilotOutput:
        return self.read(lambda m: m.evses[evse].pilot)

    def allowed(self, evse: int) -> bool:
        return self.read(lambda m: m.evses[evse].allow)

    def lock_driven(self, evse: int) -> bool:
        return self.read(lambda m: m.evses[evse].lock_drive)

    @property
    def mode(self) -> tuple[str, str | None]:
        return self.read(lambda m: (m.mode, m.why))

    @property
    def stats(self) -> DecoderStats:
        return self.decoder.stats

    def verbs_received(self) -> list[str]:
        with self._lock:
            return [f.verb for f in self.received]

    # ---- the thread ------------------------------------------------------------------------

    def _queue(self, lines: list[Line]) -> None:
        if self._muted:
            return
        for verb, args in lines:
            self._out.append(encode(self._seq, verb, *args))
            self._seq = (self._seq + 1) % SEQ_MODULO

    def _request(self, action: Callable[[], None]) -> None:
        done = threading.Event()
        with self._lock:
            self._requests.append((action, done))
        if not self._thread.is_alive():
            action()
            return
        done.wait(timeout=2.0)

    def _run(self) -> None:
        while not self._stop.is_set():
            with self._lock:
                requests, self._requests = self._requests, []
            for action, done in requests:
                action()
                done.set()
            master = self._master
            if master is None:
                self._stop.wait(POLL_S)
                continue
            ready, _, _ = select.select([master], [], [], POLL_S)
            data = b""
            if ready:
                try:
                    data = os.read(master, 4096)
                except OSError:
                    data = b""  # nobody holds the slave side open for a moment
            with self._lock:
                now = self.clock.monotonic()
                for frame in self.decoder.feed(data):
                    if self._deaf:
                        continue
                    if self._drop:
                        self._drop -= 1
                        continue
                    self.received.append(frame)
                    self._queue(self.model.receive(frame, now))
                self._queue(self.model.tick(now))
                out, self._out = b"".join(self._out), []
            if out:
                try:
                    os.write(master, out)
                except OSError:
                    pass  # Borne is not reading and the pty buffer is full: lines are lost, as on a wire

    def _appear(self) -> None:
        if self._master is not None:
            return
        master, slave = os.openpty()
        tty.setraw(slave)
        os.set_blocking(master, False)
        self._master, self._slave = master, slave
        self.decoder.reset()
        if self.link is not None:
            tmp = self.link.with_name(self.link.name + ".new")
            if tmp.is_symlink():
                tmp.unlink()
            os.symlink(os.ttyname(slave), tmp)
            os.replace(tmp, self.link)

    def _vanish(self) -> None:
        for fd in (self._master, self._slave):
            if fd is not None:
                os.close(fd)
        self._master = self._slave = None
        if self.link is not None and self.link.is_symlink():
            self.link.unlink()


# ---- command line --------------------------------------------------------------------------

HELP = """commands (EVSE numbers start at 1):
  ev N A|B|C|D|E        the EV's state          diode N on|off     shorted EV diode
  pp N OHM|open         cable coding resistor   weld N on|off      contacts stuck closed
  stuck N on|off        contacts never close    rcm N trip|clear   residual current flows / stops
  rcmtest N pass|no-trip|stuck                  temp N on|off      over-temperature
  mute on|off           stop sending            deaf on|off        ignore Borne
  reboot                restart the MCU         status             show the MCU's state
  quit"""


def _status(emu: McuEmulator) -> str:
    def show(m: McuModel) -> str:
        rows = [f"mode {m.mode}{' ' + m.why if m.why else ''}"]
        for n, e in m.evses.items():
            state, high, low, diode = e.cp()
            rows.append(f"EVSE {n}: EV {e.ev.value}, CP {state.value} ({high:+.1f}/{low:+.1f} V"
                        f"{', diode fault' if diode else ''}), pilot {p.pilot_word(e.pilot)}, "
                        f"allow {'on' if e.allow else 'off'}, relay {'closed' if e.contacts_closed else 'open'}"
                        f"{', RCM latched' if e.rcm_latched else ''}")
        return "\n".join(rows)

    return emu.read(show)


def _command(emu: McuEmulator, words: list[str]) -> str | None:
    """Apply one stdin command; returns text to print, or None to quit."""
    on = {"on": True, "off": False, "trip": True, "clear": False}
    if not words:
        return ""
    cmd, args = words[0], words[1:]
    if cmd == "quit":
        return None
    if cmd in ("mute", "deaf") and len(args) == 1 and args[0] in on:
        (emu.mute if cmd == "mute" else emu.deaf)(on[args[0]])
    elif cmd == "reboot":
        emu.reboot()
    elif cmd == "status":
        return _status(emu)
    elif len(args) == 2 and args[0].isdigit() and int(args[0]) in emu.model.evses:
        n, value = int(args[0]), args[1]
        setters: dict[str, Callable[[], None]] = {
            "ev": lambda: emu.set_ev(n, value.upper()),
            "pp": lambda: emu.set_pp(n, None if value == "open" else float(value)),
            "rcmtest": lambda: emu.rcm_test_outcome(n, value),
            "diode": lambda: emu.set_diode_fault(n, on[value]),
            "weld": lambda: emu.weld(n, on[value]),
            "stuck": lambda: emu.stick_open(n, on[value]),
            "rcm": lambda: emu.residual_current(n, on[value]),
            "temp": lambda: emu.set_over_temperature(n, on[value]),
        }
        if cmd not in setters:
            return HELP
        try:
            setters[cmd]()
        except (KeyError, ValueError) as exc:
            return f"not accepted: {exc}"
    else:
        return HELP
    return "ok"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m drivers.mcu.emulator",
                                     description="an emulated safety co-processor on a pty")
    parser.add_argument("--evses", type=int, default=1, help="number of EVSEs (default 1)")
    parser.add_argument("--link", help="also reach the pty through this symlink (e.g. run/mcu)")
    parser.add_argument("--no-pp", action="store_true", help="announce no proximity-pilot sensing")
    parser.add_argument("--no-lock", action="store_true", help="announce no socket lock")
    args = parser.parse_args(argv)
    caps = tuple(c for c, off in ((p.CAP_PP, args.no_pp), (p.CAP_LOCK, args.no_lock), (p.CAP_TEMP, False)) if not off)
    emu = McuEmulator(args.evses, link=args.link, caps=caps).start()
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(0))  # clean up the pty and the symlink
    print(f"MCU emulator on {emu.port} (set [mcu] port to it); type help for commands", flush=True)
    try:
        for line in sys.stdin:
            answer = _command(emu, line.split())
            if answer is None:
                break
            if answer:
                print(answer, flush=True)
        else:
            threading.Event().wait()  # stdin closed: keep serving until interrupted
    except KeyboardInterrupt:
        pass
    finally:
        emu.stop()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
