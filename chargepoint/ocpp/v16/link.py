"""The OCPP 1.6J side of the charge point: boot, heartbeats, status reports, authorisation and
the in-order replay of stored transaction messages, over whatever WebSocket the connection
manager hands it. Implements the core's CsmsLink."""
from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING, Any

from ocpp.exceptions import OCPPError
from ocpp.v16 import call

from chargepoint.config import Config
from chargepoint.firmware.version import running_version
from chargepoint.link import AuthDecision, CsmsUnavailable
from chargepoint.ocpp.ping import apply_ping_interval
from chargepoint.ocpp.v16.render import UNKNOWN_TRANSACTION_ID, decision_from, render, status_notification
from chargepoint.ocpp.v16.security_messages import request_sign_certificate, security_workers, sign_certificate_possible
from chargepoint.ocpp.v16.session import V16Session
from chargepoint.ocpp.v16.upload_notices import UploadNotices
from chargepoint.settings import Settings
from chargepoint.status import ConnectorStatus, StatusError
from chargepoint.store import OutboxItem, Store
from chargepoint.task_teardown import cancel_and_wait
from chargepoint.timeutil import iso_utc
from hal.clock import Clock

if TYPE_CHECKING:
    from chargepoint.diagnostics.service import LogUploads
    from chargepoint.firmware.updater import FirmwareUpdater
    from chargepoint.security.context import SecurityContext
    from chargepoint.station import Station

log = logging.getLogger(__name__)
DEFAULT_RETRY_S = 30
REPLAY_BATCH = 50  # outbox rows read per query while a backlog drains
ACK_SYNC_S = 1.0  # longest a MeterValues acknowledgement waits for the disk (Store.outbox_ack)


class LinkDown(Exception):
    """The WebSocket went away while a call was in flight."""


class V16Link:
    def __init__(self, config: Config, settings: Settings, store: Store, clock: Clock) -> None:
        self.config = config
        self.settings = settings
        self.store = store
        self.clock = clock
        self.station: Station  # wired by the application before run()
        self.security: SecurityContext | None = None  # wired by the application (chargepoint.security)
        self.firmware: FirmwareUpdater | None = None  # wired by the application; None: no updates
        self.state = "disconnected"
        self.state_since = iso_utc(clock.now())
        self.offline_since: str | None = self.state_since
        self._session: V16Session | None = None
        self._recv_task: asyncio.Task[Any] | None = None
        self._status_queue: asyncio.Queue[tuple[int, ConnectorStatus, StatusError | None, str]] = asyncio.Queue()
        self._outbox_wakeup = asyncio.Event()
        self._ack_sync_due = asyncio.Event()
        self._boot_requested = asyncio.Event()
        self._boot_accepted_once = False
        self._last_boot_status: str | None = None
        self._last_exchange = clock.monotonic()
        self._heartbeat_wakeup = asyncio.Event()
        self._ws: Any = None
        settings.on_change(self._setting_changed)
        self.log_uploads: LogUploads | None = None  # GetDiagnostics/GetLog; wired by the application
        self.upload_notices = UploadNotices(self)

    def _setting_changed(self, name: str, value: str) -> None:
        """A ChangeConfiguration answered Accepted takes effect now, not at the next cycle."""
        if name == "HeartbeatInterval":
            self._heartbeat_wakeup.set()
        elif name == "WebSocketPingInterval" and self._ws is not None:
            apply_ping_interval(self._ws, int(value))

    # ---- CsmsLink ----------------------------------------------------------------------------

    @property
    def accepted(self) -> bool:
        return self.state == "accepted"

    @property
    def online(self) -> bool:
        return self.accepted and self._session is not None

    async def authorize(self, id_tag: str) -> AuthDecision:
        if not self.online:
            raise CsmsUnavailable("not connected")
        try:
            result = await self._call(call.Authorize(id_tag=id_tag))
        except (LinkDown, asyncio.TimeoutError, OCPPError) as exc:
            raise CsmsUnavailable(f"Authorize failed: {type(exc).__name__}") from exc
        return decision_from(result.id_tag_info)

    def status_changed(self, connector_id: int, status: ConnectorStatus, error: StatusError | None) -> None:
        # Offline changes are not queued: after reconnecting only the current status is sent.
        if self.online:
            self._status_queue.put_nowait((connector_id, status, error, iso_utc(self.clock.now())))

    def outbox_changed(self) -> None:
        self._outbox_wakeup.set()

    def connection_state(self) -> dict[str, object]:
        length, oldest = self.store.outbox_stats()
        return {
            "state": self.state,
            "since": self.state_since,
            "offline_since": self.offline_since,
            "boot_status": self._last_boot_status,
            "queue_length": length,
            "oldest_queued": oldest,
        }

    @property
    def boot_triggerable(self) -> bool:
        """TriggerMessage(BootNotification) is honoured only until the CSMS has accepted the
        charge point: OCPP 1.6 errata 3.35 recommends refusing it afterwards."""
        return not self._boot_accepted_once

    @property
    def sign_charge_point_certificate(self) -> Callable[[], Awaitable[bool]] | None:
        """ExtendedTriggerMessage(SignChargePointCertificate): the SignCertificate flow (A02), or
        None while it cannot run (no CpoName, which becomes the certificate's O)."""
        if not sign_certificate_possible(self):
            return None
        return lambda: request_sign_certificate(self)

    def request_boot(self) -> None:
        """The boot loop sends its next BootNotification at once instead of waiting out the
        interval the CSMS gave."""
        self._boot_requested.set()

    async def request(self, payload: Any) -> Any:
        """Send one CALL now (a triggered message); raises LinkDown, TimeoutError or OCPPError."""
        return await self._call(payload)

    def _set_state(self, state: str) -> None:
        if state != self.state:
            self.state = state
            self.state_since = iso_utc(self.clock.now())
            if state == "accepted":
                self.offline_since = None
            elif self.offline_since is None:
                self.offline_since = self.state_since
            log.info("OCPP link %s", state)

    # ---- one connected session -------------------------------------------------------------

    async def serve(self, ws: Any) -> None:
        """Run the protocol over one open WebSocket until it closes."""
        session = V16Session(self.config.chargepoint.id, ws, self, self.config.ocpp.response_timeout_s)
        self._session = session
        self._ws = ws
        self._recv_task = asyncio.create_task(session.start())
        workers: list[asyncio.Task[Any]] = []
        try:
            if not await self._boot():
                return
            self._status_queue = asyncio.Queue()
            self.station.resend_status()
            workers = [asyncio.create_task(w) for w in (self._send_statuses(), self._replay_outbox(), self._heartbeat(),
                                                         self._sync_acks(), *security_workers(self))]
            await asyncio.wait([self._recv_task, *workers], return_when=asyncio.FIRST_COMPLETED)
            for worker in workers:
                if worker.done() and not worker.cancelled() and worker.exception():
                    log.error("OCPP worker failed", exc_info=worker.exception())
        except LinkDown:
            pass
        finally:
            await cancel_and_wait([*workers, self._recv_task])
            self._sync_acks_now()
            self._session = None
            self._ws = None
            self._recv_task = None
            self._set_state("disconnected")

    async def _call(self, payload: Any) -> Any:
        """A call that fails at once when the link drops instead of waiting out its timeout.

        The end of the receive task cancels the calling task itself: a task of its own and an
        `asyncio.wait` per call cost several event-loop turns on every OCPP round trip."""
        session, recv = self._session, self._recv_task
        if session is None or recv is None or recv.done():
            raise LinkDown()
        caller = asyncio.current_task()
        assert caller is not None
        baseline = caller.cancelling()
        waiting, dropped = True, False

        def on_drop(_: asyncio.Future[Any]) -> None:
            nonlocal dropped
            if waiting:  # a late callback must not cancel whatever the caller does next
                dropped = True
                caller.cancel()

        recv.add_done_callback(on_drop)
        try:
            result = await session.call(payload, suppress=False)
        except asyncio.CancelledError:
            if dropped and caller.uncancel() <= baseline:
                raise LinkDown() from None
            raise
        finally:
            waiting = False
            recv.remove_done_callback(on_drop)
        if caller.cancelling() > baseline:
            # A cancellation arrived just as the answer did, and the library's wait_for (Python
            # 3.11) swallowed it: withdraw ours (the answer came), honour anyone else's.
            if dropped:
                caller.uncancel()
            if caller.cancelling() > baseline:
                raise asyncio.CancelledError()
        self._last_exchange = self.clock.monotonic()
        return result

    async def _boot(self) -> bool:
        """BootNotification until Accepted; nothing else is sent before (OCPP 1.6 §4.2).
        A reconnect after an acceptance does not boot again (OCPP-J §5.4)."""
        if self._boot_accepted_once:
            self._set_state("accepted")
            return True
        cp = self.config.chargepoint
        request = call.BootNotification(
            charge_point_vendor=cp.vendor, charge_point_model=cp.model,
            charge_point_serial_number=cp.serial_number, firmware_version=cp.firmware_version or running_version(),
        )
        while True:
            self._set_state("booting")
            self._boot_requested.clear()  # this BootNotification answers every trigger so far
            try:
                result = await self._call(request)
            except asyncio.TimeoutError:
                await self.clock.sleep(DEFAULT_RETRY_S)
                continue
            except OCPPError as exc:
                log.warning("BootNotification refused with %s", exc.code)
                await self.clock.sleep(DEFAULT_RETRY_S)
                continue
            self._last_boot_status = result.status
            interval = int(result.interval)
            if result.status == "Accepted":
                if interval > 0:
                    # 0 leaves the interval to the charge point; beyond the key's range, its maximum.
                    spec = self.settings.spec("HeartbeatInterval")
                    ceiling = spec.maximum if spec is not None and spec.maximum is not None else interval
                    self.settings.change("HeartbeatInterval", str(min(interval, ceiling)))
                self._boot_accepted_once = True
                self._set_state("accepted")
                return True
            self._set_state("pending" if result.status == "Pending" else "rejected")
            await self._until_boot_retry(interval if interval > 0 else DEFAULT_RETRY_S)

    async def _until_boot_retry(self, seconds: float) -> None:
        """Wait before the next BootNotification, unless the CSMS triggers one sooner."""
        if not self._boot_requested.is_set():
            waits = [asyncio.ensure_future(self.clock.sleep(seconds)),
                     asyncio.ensure_future(self._boot_requested.wait())]
            try:
                await asyncio.wait(waits, return_when=asyncio.FIRST_COMPLETED)
            finally:
                for wait in waits:
                    wait.cancel()

    async def _heartbeat(self) -> None:
        """HeartbeatInterval is an interval of inactivity: other traffic makes a heartbeat moot."""
        while True:
            interval = self.settings.get_int("HeartbeatInterval")
            idle = self.clock.monotonic() - self._last_exchange
            if idle < interval:
                await self._sleep_unless_woken(interval - idle)
                continue
            try:
                await self._call(call.Heartbeat())
            except (asyncio.TimeoutError, OCPPError) as exc:
                log.warning("Heartbeat failed: %s", type(exc).__name__)

    async def _sleep_unless_woken(self, seconds: float) -> None:
        """Wait on the injected clock, cut short by a changed HeartbeatInterval."""
        waits = [asyncio.ensure_future(self.clock.sleep(seconds)),
                 asyncio.ensure_future(self._heartbeat_wakeup.wait())]
        try:
            await asyncio.wait(waits, return_when=asyncio.FIRST_COMPLETED)
        finally:
            for wait in waits:
                wait.cancel()
        self._heartbeat_wakeup.clear()

    async def _send_statuses(self) -> None:
        while True:
            connector_id, status, error, at = await self._status_queue.get()
            request = status_notification(connector_id, status, error, at)
            try:
                await self._call(request)
            except (asyncio.TimeoutError, OCPPError) as exc:
                log.warning("StatusNotification failed: %s", type(exc).__name__)

    async def _replay_outbox(self) -> None:
        """Transaction messages in the order they happened, each until acknowledged, one call at a
        time (OCPP-J §4.1.1). Rows are read a batch at a time; a batch is read again as soon as
        what follows may have changed."""
        while True:
            batch = self.store.outbox_batch(REPLAY_BATCH)
            if not batch:
                self._outbox_wakeup.clear()
                await self._outbox_wakeup.wait()
                continue
            for item in batch:
                if not await self._deliver(item):
                    break

    async def _deliver(self, item: OutboxItem) -> bool:
        """Send one stored message. False when the rest of its batch must be read again: the
        message is still queued (no answer, or refused), or it was a start whose transaction id
        the messages after it now carry."""
        try:
            result = await self._call(render(item))
        except asyncio.TimeoutError:
            return False  # no answer is not a refusal: send the same message again
        except OCPPError as exc:
            await self._refused(item.seq, item.kind, exc)
            return False
        if item.kind == "start":
            self._ack(item.seq, csms_id=int(result.transaction_id))
            self.station.transaction_confirmed(item.local_tx, item.payload["id_tag"],
                                               decision_from(result.id_tag_info))
            return False
        self._ack(item.seq)
        if item.kind == "stop" and result.id_tag_info:
            tag = item.payload.get("id_tag")
            if tag:
                self.station.authorizer.remember(tag, decision_from(result.id_tag_info))
        return True

    def _ack(self, seq: int, csms_id: int | None = None) -> None:
        self.store.outbox_ack(seq, csms_id=csms_id)
        if self.store.unsynced:  # a MeterValues ack, committed without waiting for the disk
            self._ack_sync_due.set()

    async def _sync_acks(self) -> None:
        """Make MeterValues acks durable within ACK_SYNC_S: one fsync a second instead of one per
        message while a backlog drains. A Start or Stop ack in between makes them durable too."""
        while True:
            await self._ack_sync_due.wait()
            await self.clock.sleep(ACK_SYNC_S)
            self._sync_acks_now()

    def _sync_acks_now(self) -> None:
        self.store.sync()
        if not self.store.unsynced:
            self._ack_sync_due.clear()

    async def _refused(self, seq: int, kind: str, exc: OCPPError) -> None:
        """The CSMS failed to process a message (CALLERROR): retry per TransactionMessageAttempts
        and TransactionMessageRetryInterval, then skip it (OCPP 1.6 §3.7.1)."""
        attempts = self.store.outbox_attempted(seq)
        log.warning("CSMS could not process a %s message (%s), attempt %d", kind, exc.code, attempts)
        if attempts >= self.settings.get_int("TransactionMessageAttempts"):
            log.error("giving up on a %s message after %d attempts", kind, attempts)
            self._ack(seq, csms_id=UNKNOWN_TRANSACTION_ID if kind == "start" else None)
            return
        await self.clock.sleep(self.settings.get_int("TransactionMessageRetryInterval") * attempts)
