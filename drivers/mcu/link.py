"""The serial link to the safety co-processor: one background thread owns the port.

The HAL devices are called from the control loop, which may run in its own thread: they only
change the wanted state under a lock and wake the link thread, which writes the command within
a millisecond or so. The thread reads the MCU's reports into the latest state per EVSE, sends a
heartbeat followed by the whole wanted state every heartbeat interval (a lost line is repaired
by the next one), opens a session with HELLO, and reopens the port when it vanishes.

A session starts only while Borne allows power on no EVSE, so after the MCU went safe (Borne
silent, MCU reset) the relay stays open until the core commands it closed again."""
from __future__ import annotations

import logging
import os
import select
import threading
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field, replace
from typing import Any

import serial

from drivers.mcu import protocol as p
from drivers.mcu.codec import SEQ_MODULO, LineDecoder, encode
from hal.clock import Clock
from hal.types import PilotMode, PilotOutput

log = logging.getLogger(__name__)

STATE_F = PilotOutput(PilotMode.STATE_F, 0.0)
POLL_S = 0.01  # the thread looks at the clock at least this often (real seconds)


@dataclass
class SelfTest:
    """One RCM self-test as the link follows it: queued, sent, running, then a result."""

    number: int
    phase: str = "queued"
    passed: bool | None = None
    detail: str = ""


@dataclass
class EvseState:
    """One EVSE: what Borne wants, and what the MCU last reported."""

    allow: bool = False
    pilot: PilotOutput = STATE_F
    lock: bool = False
    cp: p.CpReport | None = None
    cp_ev: p.CpReport | None = None  # the latest report taken while the MCU did not drive F
    relay: p.RelayReport | None = None
    faults: frozenset[str] = frozenset()
    pp: p.PpReport | None = None
    lock_report: p.LockReport | None = None
    rcm_tripped: bool = False
    rcm_reset_pending: bool = False
    test: SelfTest | None = None


@dataclass
class LinkStats:
    tx_lines: int = 0
    write_timeouts: int = 0
    naks: int = 0
    sessions: int = 0
    port_losses: int = 0


@dataclass
class LinkSettings:
    port: str
    baudrate: int = 115200
    heartbeat_s: float = p.HEARTBEAT_MS / 1000
    silence_timeout_s: float = p.SILENCE_TIMEOUT_MS / 1000
    write_timeout_s: float = 0.05
    reopen_s: float = 0.5
    need_caps: frozenset[str] = field(default_factory=frozenset)


class McuLink:
    def __init__(self, settings: LinkSettings, evse_ids: Iterable[int], clock: Clock,
                 *, open_port: Callable[[LinkSettings], Any] | None = None) -> None:
        self.settings = settings
        self.clock = clock
        self._open_port = open_port or _open_serial
        self._lock = threading.Lock()
        self.evses: dict[int, EvseState] = {i: EvseState() for i in evse_ids}
        self.stats = LinkStats()
        self.decoder = LineDecoder()
        self.mcu: p.Hello | None = None
        self.mcu_mode: p.Heartbeat | None = None
        self._session = False
        self._session_event = threading.Event()
        self._hello_seq: int | None = None
        self._hello_acked = False
        self._hello_sent_at: float | None = None
        self._next_hb = float("-inf")
        self._last_rx: float | None = None
        self._seq = 0
        self._awaiting: dict[int, tuple[str, int]] = {}
        self._pending: dict[tuple[str, int], tuple[str, ...]] = {}
        self._actions: list[tuple[str, int]] = []
        self._tests = 0
        self.cycles = 0  # iterations of the link thread: each one reads whatever had arrived
        self.refusal: str | None = None  # why the last HELLO exchange opened no session
        self._port: Any = None
        self._stop = threading.Event()
        self._wake_r, self._wake_w = os.pipe()
        os.set_blocking(self._wake_r, False)
        os.set_blocking(self._wake_w, False)
        self._thread = threading.Thread(target=self._run, name=f"mcu-link {settings.port}", daemon=True)

    # ---- lifecycle -------------------------------------------------------------------------

    def start(self) -> McuLink:
        self._thread.start()
        return self

    def wait_session(self, timeout_s: float) -> bool:
        """Block (start-up only) until the first session is open or `timeout_s` real seconds passed."""
        return self._session_event.wait(timeout_s)

    def close(self) -> None:
        """Stop the thread; the MCU is told to open every relay and drive state F first."""
        self._stop.set()
        self._wake()
        if self._thread.is_alive():
            self._thread.join(timeout=2.0)
        fds, self._wake_r, self._wake_w = (self._wake_r, self._wake_w), -1, -1  # a late _wake writes nowhere
        for fd in fds:
            try:
                os.close(fd)
            except OSError:
                pass

    # ---- wanted state, from any thread; never blocks on I/O --------------------------------

    def set_allow(self, evse: int, allow: bool) -> None:
        self._set(evse, "allow", allow, p.POWER, ("ON" if allow else "OFF",))

    def set_pilot(self, evse: int, output: PilotOutput) -> None:
        self._set(evse, "pilot", output, p.PILOT, p.pilot_args(output))

    def set_lock(self, evse: int, locked: bool) -> None:
        self._set(evse, "lock", locked, p.LOCK, ("ON" if locked else "OFF",))

    def _set(self, evse: int, attr: str, value: Any, verb: str, args: tuple[str, ...]) -> None:
        with self._lock:
            state = self.evses[evse]
            if getattr(state, attr) == value:
                return
            setattr(state, attr, value)
            self._pending[(verb, evse)] = args
        self._wake()

    def rcm_reset(self, evse: int) -> None:
        with self._lock:
            state = self.evses[evse]
            state.rcm_tripped = False
            state.rcm_reset_pending = True
            self._actions.append((p.RCMRESET, evse))
        self._wake()

    def start_self_test(self, evse: int) -> int:
        with self._lock:
            self._tests += 1
            self.evses[evse].test = SelfTest(self._tests)
            self._actions.append((p.RCMTEST, evse))
        self._wake()
        return self._tests

    def self_test(self, evse: int, number: int) -> SelfTest | None:
        with self._lock:
            test = self.evses[evse].test
            return SelfTest(test.number, test.phase, test.passed, test.detail) if test and test.number == number else None

    # ---- observed state --------------------------------------------------------------------

    def view(self, evse: int) -> EvseState:
        """A copy of one EVSE's state, consistent with itself."""
        with self._lock:
            return replace(self.evses[evse])

    def lost(self) -> bool:
        """No session, or the MCU silent for longer than the silence timeout."""
        with self._lock:
            if not self._session or self._last_rx is None:
                return True
            return self.clock.monotonic() - self._last_rx > self.settings.silence_timeout_s

    @property
    def session(self) -> bool:
        return self._session

    def _wake(self) -> None:
        try:
            os.write(self._wake_w, b"!")
        except (BlockingIOError, OSError):
            pass  # already awake, or closed

    # ---- the thread ------------------------------------------------------------------------

    def _run(self) -> None:
        lost_logged = False
        while not self._stop.is_set():
            self.cycles += 1
            if self._port is None:
                try:
                    self._port = self._open_port(self.settings)
                except (serial.SerialException, OSError) as exc:
                    if not lost_logged:
                        log.error("MCU port %s cannot be opened (%s); retrying every %.1f s",
                                  self.settings.port, exc, self.settings.reopen_s)
                        lost_logged = True
                    self._stop.wait(self.settings.reopen_s)
                    continue
                log.info("MCU port %s open", self.settings.port)
                lost_logged = False
                self.decoder.reset()
                self._seq = 0
            try:
                self._write(self._due_lines())
                self._read()
            except (serial.SerialException, OSError) as exc:
                self._port_lost(exc)
            except Exception as exc:  # a fault here must not end the thread: start over on a fresh port
                log.exception("MCU link failed")
                self._port_lost(exc)
        self._shutdown()

    def _port_lost(self, exc: BaseException) -> None:
        log.error("MCU port %s lost (%s)", self.settings.port, exc)
        self.stats.port_losses += 1
        try:
            self._port.close()
        except (serial.SerialException, OSError):
            pass
        self._port = None
        with self._lock:
            self._end_session()

    def _shutdown(self) -> None:
        if self._port is None:
            return
        lines: list[tuple[str, tuple[str, ...], int]] = []
        if self._session:
            for evse in self.evses:
                lines += [(p.POWER, (str(evse), "OFF"), evse), (p.PILOT, (str(evse), "F"), evse)]
        try:
            self._write(lines)
        except (serial.SerialException, OSError):
            pass
        try:
            self._port.close()
        except (serial.SerialException, OSError):
            pass
        self._port = None

    def _end_session(self) -> None:
        """Under the lock: the MCU no longer follows Borne (what it needs is re-sent after HELLO)."""
        if self._session:
            log.warning("MCU session ended: relays open, waiting for a new session")
        self._session = False
        self._hello_seq, self._hello_acked, self._hello_sent_at = None, False, None
        self._pending.clear()
        self._awaiting.clear()
        for state in self.evses.values():
            state.rcm_reset_pending = False
            if state.test is not None and state.test.phase != "done":
                self._finish_test(state, False, "the MCU session ended during the test")
        self._actions.clear()

    def _due_lines(self) -> list[tuple[str, tuple[str, ...], int]]:
        """What to send now: HELLO when no session, else the heartbeat with the whole state when
        due, else the commands that changed since."""
        now = self.clock.monotonic()
        lines: list[tuple[str, tuple[str, ...], int]] = []
        with self._lock:
            if not self._session:
                self._pending.clear()
                retry = max(self.settings.silence_timeout_s, 1.0)
                quiet = all(not s.allow for s in self.evses.values())
                if quiet and (self._hello_sent_at is None or now - self._hello_sent_at >= retry):
                    timeout_ms = round(self.settings.silence_timeout_s * 1000)
                    lines.append((p.HELLO, (str(p.VERSION), f"timeout={timeout_ms}"), 0))
                    self._hello_sent_at, self._hello_acked = now, False
                for verb, evse in self._actions:
                    if verb == p.RCMTEST:
                        self._finish_test(self.evses[evse], False, "no MCU session")
                    self.evses[evse].rcm_reset_pending = False
                self._actions.clear()
                return lines
            if now >= self._next_hb:
                self._next_hb = now + self.settings.heartbeat_s
                self._pending.clear()
                lines.append((p.HB, (), 0))
                for evse, s in self.evses.items():
                    lines.append((p.POWER, (str(evse), "ON" if s.allow else "OFF"), evse))
                    lines.append((p.PILOT, (str(evse), *p.pilot_args(s.pilot)), evse))
                    if p.CAP_LOCK in self.settings.need_caps:
                        lines.append((p.LOCK, (str(evse), "ON" if s.lock else "OFF"), evse))
            else:
                lines += [(verb, (str(evse), *args), evse) for (verb, evse), args in self._pending.items()]
                self._pending.clear()
            for verb, evse in self._actions:
                lines.append((verb, (str(evse),), evse))
                if verb == p.RCMTEST and self.evses[evse].test is not None:
                    self.evses[evse].test.phase = "sent"  # type: ignore[union-attr]
            self._actions.clear()
        return lines

    def _write(self, lines: list[tuple[str, tuple[str, ...], int]]) -> None:
        for verb, args, evse in lines:
            seq = self._seq
            self._seq = (self._seq + 1) % SEQ_MODULO
            if verb in (p.HELLO, p.RCMRESET, p.RCMTEST):
                with self._lock:
                    self._awaiting[seq] = (verb, evse)
                    if verb == p.HELLO:
                        self._hello_seq = seq
                    if len(self._awaiting) > 64:
                        self._awaiting.pop(next(iter(self._awaiting)))
            try:
                self._port.write(encode(seq, verb, *args))
                self.stats.tx_lines += 1
            except serial.SerialTimeoutException:
                self.stats.write_timeouts += 1  # the MCU is not reading: the next heartbeat repeats the state

    def _read(self) -> None:
        fd = self._port.fileno()
        ready, _, _ = select.select([fd, self._wake_r], [], [], POLL_S)
        if self._wake_r in ready:
            try:
                os.read(self._wake_r, 4096)
            except BlockingIOError:
                pass
        if fd in ready:
            data = self._port.read(4096)
            for frame in self.decoder.feed(data):
                report = p.parse_report(frame)
                with self._lock:
                    self._last_rx = self.clock.monotonic()
                    if report is not None:
                        self._handle(report)

    # ---- reports (under the lock) ----------------------------------------------------------

    def _handle(self, r: p.Report) -> None:
        state = self.evses.get(getattr(r, "evse", 0))
        if isinstance(r, p.Ack | p.Nak):
            self._answer(r)
        elif isinstance(r, p.Hello):
            self._hello(r)
        elif isinstance(r, p.Heartbeat):
            self.mcu_mode = r
            if r.mode == p.SAFE and self._session:
                log.warning("MCU went safe by itself (%s)", r.why)
                self._end_session()
        elif state is None:
            return
        elif isinstance(r, p.CpReport):
            state.cp = r
            if r.pilot.mode is not PilotMode.STATE_F:
                state.cp_ev = r
        elif isinstance(r, p.RelayReport):
            state.relay = r
        elif isinstance(r, p.FaultReport):
            state.faults = r.codes
            if not state.rcm_reset_pending:
                state.rcm_tripped = p.F_RCM in r.codes
        elif isinstance(r, p.PpReport):
            state.pp = r
        elif isinstance(r, p.LockReport):
            state.lock_report = r
        elif isinstance(r, p.SelfTestReport):
            if state.test is not None and state.test.phase in ("sent", "running"):
                detail = f"trip {r.trip_ms} ms, release {r.release_ms} ms"
                self._finish_test(state, r.passed, detail)

    def _answer(self, r: p.Ack | p.Nak) -> None:
        verb, evse = self._awaiting.pop(r.ref, ("", 0))
        if isinstance(r, p.Nak):
            self.stats.naks += 1
            log.warning("MCU refused line %d (%s): %s", r.ref, verb or "command", r.reason)
            if r.reason == p.SESSION:
                self._end_session()
        state = self.evses.get(evse)
        if verb == p.HELLO and r.ref == self._hello_seq:
            self._hello_acked = isinstance(r, p.Ack)
        elif verb == p.RCMRESET and state is not None:
            state.rcm_reset_pending = False
            if isinstance(r, p.Nak):
                state.rcm_tripped = True
        elif verb == p.RCMTEST and state is not None and state.test is not None:
            if isinstance(r, p.Ack):
                state.test.phase = "running"
            else:
                self._finish_test(state, False, f"refused: {r.reason}")

    def _hello(self, r: p.Hello) -> None:
        self.mcu = r
        if not self._hello_acked:
            if self._session:
                log.warning("MCU restarted (%s)", r.firmware)
                self._end_session()
            return
        self._hello_acked = False
        missing = self.settings.need_caps - r.caps
        too_few = max(self.evses) > r.evses
        if r.version != p.VERSION or missing or too_few:
            self.refusal = (f"MCU {r.firmware} (protocol {r.version}, {r.evses} EVSE(s), caps "
                            f"{','.join(sorted(r.caps)) or '-'}) does not fit the configuration"
                            + (f"; missing {','.join(sorted(missing))}" if missing else "")
                            + (f"; {max(self.evses)} EVSE(s) configured" if too_few else ""))
            log.error("%s", self.refusal)
            return
        self.refusal = None
        self._session = True
        self._next_hb = float("-inf")
        self.stats.sessions += 1
        self._session_event.set()
        log.info("MCU session open: %s, protocol %d", r.firmware, r.version)

    @staticmethod
    def _finish_test(state: EvseState, passed: bool, detail: str) -> None:
        assert state.test is not None
        state.test.phase, state.test.passed, state.test.detail = "done", passed, detail


def _open_serial(settings: LinkSettings) -> serial.Serial:
    port = serial.Serial(settings.port, settings.baudrate, timeout=0, write_timeout=settings.write_timeout_s)
    port.reset_input_buffer()
    return port
