"""NXP PN532 NFC reader on a UART (HSU), e.g. the common red/blue PN532 modules set to HSU.

The reader wakes the chip (long 0x55 preamble, then SAMConfiguration in normal mode), limits the
passive-activation retries so that a poll without a card answers at once, checks
GetFirmwareVersion, then polls with InListPassiveTarget (MaxTg 1, 106 kbps type A) every
`poll_interval_s`, switching the RF field off between polls so that a badge left on the reader
is powered down and answers the next poll afresh. The UID (4, 7 or 10 bytes) becomes the id_tag
in upper-case hex.

Each command is: command frame -> ACK -> response frame. A response with a bad DCS is asked
again with a NACK; a NACK from the chip makes the host resend its command; an error frame or a
missing answer (response_timeout_s on the injected clock) fails the command, which is then
aborted with an ACK and the chip is woken again before the next poll. A serial device that
vanishes is closed and reopened by path with back-off. read() returns only badges: transient
errors stay inside.
"""
from __future__ import annotations

import asyncio
import collections
import logging

from drivers.rfid.debounce import HoldDebouncer
from drivers.rfid.pn532_frames import (
    ACK_FRAME,
    BRTY_106_TYPE_A,
    GET_FIRMWARE_VERSION,
    IN_LIST_PASSIVE_TARGET,
    NACK_FRAME,
    RF_CONFIGURATION,
    SAM_CONFIGURATION,
    TFI_PN532_TO_HOST,
    WAKEUP_PREAMBLE,
    Ack,
    ChecksumError,
    DataFrame,
    ErrorFrame,
    FirmwareVersion,
    FrameParser,
    Item,
    Nack,
    PayloadError,
    encode_command,
    parse_firmware_version,
    parse_in_list_passive_target,
)
from drivers.rfid.serial_port import Backoff, PortLost, ReaderClosed, SerialPort, wait_with_timeout
from hal.clock import Clock
from hal.types import IdToken

log = logging.getLogger(__name__)

PN532_IC = 0x32
DEFAULT_BAUDRATE = 115200  # the PN532's HSU speed after power-up
# SAMConfiguration: normal mode (no SAM), timeout 0x14 x 50 ms (virtual-card mode only), use IRQ.
SAM_NORMAL_MODE = bytes([0x01, 0x14, 0x01])
# RFConfiguration item 5 (MaxRetries): MxRtyATR, MxRtyPSL (defaults), MxRtyPassiveActivation.
# The default 0xFF makes InListPassiveTarget wait for a card forever; 2 retries answer at once.
PASSIVE_ACTIVATION_RETRIES = 0x02
RF_MAX_RETRIES = bytes([0x05, 0xFF, 0x01, PASSIVE_ACTIVATION_RETRIES])
RF_FIELD_OFF = bytes([0x01, 0x00])  # item 1 (RF field): AutoRFCA off, RF off
POLL_ONE_TYPE_A = bytes([0x01, BRTY_106_TYPE_A])  # MaxTg 1, BrTy 106 kbps type A

MAX_COMMAND_RESENDS = 2  # resends when the chip answers NACK
MAX_RETRANSMIT_REQUESTS = 2  # NACKs sent for responses with a bad checksum
WAKE_FAILURES_BEFORE_REOPEN = 3
FAILURES_BEFORE_WARNING = 5  # failed polls in a row before a warning (fewer are routine noise)


class CommandError(Exception):
    """A command that got no usable answer."""


class Pn532Reader:
    """IdTokenReader for a PN532 on a serial port (a path; a symlink such as
    /dev/serial/by-id/... is followed at every (re)open)."""

    def __init__(
        self,
        port: str,
        clock: Clock,
        baudrate: int = DEFAULT_BAUDRATE,
        poll_interval_s: float = 0.2,
        hold_release_s: float = 1.0,
        evse_id: int | None = None,
        *,
        response_timeout_s: float = 0.5,
        reopen_min_s: float = 0.5,
        reopen_max_s: float = 10.0,
        rf_off_between_polls: bool = True,
        source: str = "rfid",
    ) -> None:
        if poll_interval_s <= 0 or response_timeout_s <= 0:
            raise ValueError("poll_interval_s and response_timeout_s must be positive")
        self.port = str(port)
        self.evse_id = evse_id
        self.source = source
        self.poll_interval_s = poll_interval_s
        self.response_timeout_s = response_timeout_s
        self.rf_off_between_polls = rf_off_between_polls
        self._clock = clock
        self.link = SerialPort(
            self.port, clock, baudrate=baudrate, reopen_min_s=reopen_min_s, reopen_max_s=reopen_max_s,
            label="pn532",
        )
        self._parser = FrameParser()
        self._items: collections.deque[Item] = collections.deque()
        self._debounce = HoldDebouncer(hold_release_s)
        self._pending: collections.deque[str] = collections.deque()
        self._wake_backoff = Backoff(reopen_min_s, reopen_max_s)
        self._awake = False
        self._wake_failures = 0
        self._failures_in_a_row = 0
        self._next_poll_at: float | None = None
        self.firmware: FirmwareVersion | None = None
        self.stats: collections.Counter[str] = collections.Counter()

    # ---- public --------------------------------------------------------------------------------

    @property
    def connected(self) -> bool:
        return self.link.connected

    @property
    def ready(self) -> bool:
        """Port open and chip woken and configured."""
        return self.link.connected and self._awake

    @property
    def held(self) -> frozenset[str]:
        return self._debounce.held

    async def read(self) -> IdToken:
        """The next badge presented (a badge left on the reader is reported once). Polls only
        while a read() is waiting. Raises only ReaderClosed, after close()."""
        while True:
            if self._pending:
                return IdToken(id_tag=self._pending.popleft(), source=self.source, evse_id=self.evse_id)
            try:
                await self._poll_cycle()
            except (asyncio.CancelledError, ReaderClosed):
                raise
            except Exception:  # a bug must not stop the charge point's reader loop
                log.exception("pn532: unexpected error; waking the reader again")
                self._awake = False
                await self._clock.sleep(self._wake_backoff.next())

    async def close(self) -> None:
        await self.link.close()
        self._awake = False

    # ---- the polling cycle ---------------------------------------------------------------------

    async def _poll_cycle(self) -> None:
        await self._ready()
        await self._wait_poll_slot()
        try:
            tags = await self._poll()
        except PortLost as exc:
            await self._lost(exc)
            return
        except CommandError as exc:
            self._failed("InListPassiveTarget", exc)
            return
        self.stats["polls"] += 1
        if self._failures_in_a_row >= FAILURES_BEFORE_WARNING:
            log.info("pn532 on %s polls again", self.port)
        self._failures_in_a_row = 0
        self._pending.extend(self._debounce.observe(tags, self._clock.monotonic(), silence_is_absence=False))
        if self.rf_off_between_polls:
            try:
                await self._command(RF_CONFIGURATION, RF_FIELD_OFF)
            except PortLost as exc:
                await self._lost(exc)
            except CommandError as exc:
                self._failed("RFConfiguration", exc)

    async def _poll(self) -> list[str]:
        data = await self._command(IN_LIST_PASSIVE_TARGET, POLL_ONE_TYPE_A)
        try:
            targets = parse_in_list_passive_target(data)
        except PayloadError as exc:
            raise CommandError(f"bad InListPassiveTarget answer {data.hex()}: {exc}") from None
        return [t.id_tag for t in targets]

    async def _wait_poll_slot(self) -> None:
        now = self._clock.monotonic()
        if self._next_poll_at is not None and self._next_poll_at > now:
            await self._clock.sleep(self._next_poll_at - now)
        self._next_poll_at = self._clock.monotonic() + self.poll_interval_s

    async def _ready(self) -> None:
        """Port open and chip configured; retries (with back-off) until it is."""
        while True:
            if await self.link.ensure_open():
                self._awake = False
            if self._awake:
                return
            try:
                await self._wake()
            except PortLost as exc:
                await self._lost(exc)
                continue
            except CommandError as exc:
                self._wake_failures += 1
                self.stats["wake_failures"] += 1
                level = logging.WARNING if self._wake_failures == 1 else logging.DEBUG
                log.log(level, "pn532 on %s does not answer the wake-up: %s", self.port, exc)
                if self._wake_failures % WAKE_FAILURES_BEFORE_REOPEN == 0:
                    await self.link.lose(f"{self._wake_failures} wake-ups without an answer", level)
                else:
                    await self._clock.sleep(self._wake_backoff.next())
                continue
            if self._wake_failures:
                log.info("pn532 on %s answers again", self.port)
            self._awake = True
            self._wake_failures = 0
            self._wake_backoff.reset()
            return

    async def _wake(self) -> None:
        self.stats["wakeups"] += 1
        self._reset_input()
        self.link.write(WAKEUP_PREAMBLE)
        await self._command(SAM_CONFIGURATION, SAM_NORMAL_MODE)
        await self._command(RF_CONFIGURATION, RF_MAX_RETRIES)
        data = await self._command(GET_FIRMWARE_VERSION)
        try:
            firmware = parse_firmware_version(data)
        except PayloadError as exc:
            raise CommandError(str(exc)) from None
        if firmware.ic != PN532_IC:
            log.warning("pn532 on %s reports IC 0x%02X, not a PN532 (0x32); carrying on", self.port, firmware.ic)
        if firmware != self.firmware:
            log.info("pn532 on %s: %s", self.port, firmware)
        self.firmware = firmware

    def _failed(self, what: str, exc: Exception) -> None:
        self.stats["command_failures"] += 1
        self._failures_in_a_row += 1
        level = logging.WARNING if self._failures_in_a_row == FAILURES_BEFORE_WARNING else logging.DEBUG
        log.log(level, "pn532 on %s: %s failed (%s); waking it again", self.port, what, exc)
        self._awake = False

    async def _lost(self, exc: BaseException) -> None:
        self._awake = False
        self._reset_input()
        await self.link.lose(exc)

    # ---- one command ---------------------------------------------------------------------------

    def _reset_input(self) -> None:
        self.link.discard_input()
        self._parser.reset()
        self._items.clear()

    async def _next_item(self, deadline: float) -> Item:
        while not self._items:
            remaining = deadline - self._clock.monotonic()
            if remaining <= 0:
                raise TimeoutError
            chunk = await wait_with_timeout(self._clock, self.link.read_chunk(), remaining)
            self._items.extend(self._parser.feed(chunk))
        return self._items.popleft()

    async def _command(self, command: int, params: bytes = b"") -> bytes:
        """Send a command and return its response data (after the response code)."""
        self._reset_input()  # whatever came before belongs to an older exchange
        frame = encode_command(command, params)
        self.link.write(frame)
        self.stats["commands"] += 1
        timeout = self.response_timeout_s
        deadline = self._clock.monotonic() + timeout
        acked = False
        resends = retransmits = 0
        try:
            while True:
                item = await self._next_item(deadline)
                if isinstance(item, Ack):
                    if not acked:
                        acked = True
                        deadline = self._clock.monotonic() + timeout
                elif isinstance(item, Nack):
                    self.stats["nacks_received"] += 1
                    if resends >= MAX_COMMAND_RESENDS:
                        raise CommandError(f"command 0x{command:02X} refused with NACK {resends + 1} times")
                    resends += 1
                    acked = False
                    self.link.write(frame)
                    deadline = self._clock.monotonic() + timeout
                elif isinstance(item, ChecksumError):
                    self.stats[f"{item.kind.lower()}_errors"] += 1
                    if item.kind == "DCS" and acked and retransmits < MAX_RETRANSMIT_REQUESTS:
                        retransmits += 1
                        self.stats["nacks_sent"] += 1
                        self.link.write(NACK_FRAME)  # "send that response again"
                        deadline = self._clock.monotonic() + timeout
                elif isinstance(item, ErrorFrame):
                    self.stats["error_frames"] += 1
                    raise CommandError(f"command 0x{command:02X} answered with an error frame")
                elif isinstance(item, DataFrame):
                    if item.tfi == TFI_PN532_TO_HOST and item.response_code == (command + 1) & 0xFF:
                        return item.data[1:]
                    self.stats["stray_frames"] += 1  # a late answer to an earlier command
        except TimeoutError:
            self.stats["timeouts"] += 1
            self.link.write(ACK_FRAME)  # abort whatever the chip is still doing
            self._reset_input()
            raise CommandError(
                f"no {'response' if acked else 'ACK'} to command 0x{command:02X} within {timeout} s"
            ) from None
