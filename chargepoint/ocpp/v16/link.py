"""The OCPP 1.6J side of the charge point: boot, heartbeats, status reports, authorisation and
the in-order replay of stored transaction messages, over whatever WebSocket the connection
manager hands it. Implements the core's CsmsLink."""
from __future__ import annotations

import asyncio
import logging
from typing import TYPE_CHECKING, Any

from ocpp.exceptions import OCPPError
from ocpp.v16 import call

from chargepoint.config import Config
from chargepoint.link import AuthDecision, CsmsUnavailable
from chargepoint.ocpp.v16.render import UNKNOWN_TRANSACTION_ID, decision_from, render
from chargepoint.ocpp.v16.session import V16Session
from chargepoint.settings import Settings
from chargepoint.status import ConnectorStatus, StatusError
from chargepoint.store import Store
from chargepoint.timeutil import iso_utc
from hal.clock import Clock

if TYPE_CHECKING:
    from chargepoint.station import Station

log = logging.getLogger(__name__)
DEFAULT_RETRY_S = 30


class LinkDown(Exception):
    """The WebSocket went away while a call was in flight."""


class V16Link:
    def __init__(self, config: Config, settings: Settings, store: Store, clock: Clock) -> None:
        self.config = config
        self.settings = settings
        self.store = store
        self.clock = clock
        self.station: Station  # wired by the application before run()
        self.state = "disconnected"
        self.state_since = iso_utc(clock.now())
        self.offline_since: str | None = self.state_since
        self._session: V16Session | None = None
        self._recv_task: asyncio.Task[Any] | None = None
        self._status_queue: asyncio.Queue[tuple[int, ConnectorStatus, StatusError | None, str]] = asyncio.Queue()
        self._outbox_wakeup = asyncio.Event()
        self._boot_accepted_once = False
        self._last_boot_status: str | None = None
        self._last_exchange = clock.monotonic()

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
        self._recv_task = asyncio.create_task(session.start())
        workers: list[asyncio.Task[Any]] = []
        try:
            if not await self._boot():
                return
            self._status_queue = asyncio.Queue()
            self.station.resend_status()
            workers = [asyncio.create_task(w) for w in (self._send_statuses(), self._replay_outbox(), self._heartbeat())]
            await asyncio.wait([self._recv_task, *workers], return_when=asyncio.FIRST_COMPLETED)
            for worker in workers:
                if worker.done() and not worker.cancelled() and worker.exception():
                    log.error("OCPP worker failed", exc_info=worker.exception())
        except LinkDown:
            pass
        finally:
            for task in (*workers, self._recv_task):
                task.cancel()
            await asyncio.gather(*workers, self._recv_task, return_exceptions=True)
            self._session = None
            self._recv_task = None
            self._set_state("disconnected")

    async def _call(self, payload: Any) -> Any:
        """A call that fails at once when the link drops instead of waiting out its timeout."""
        session, recv = self._session, self._recv_task
        if session is None or recv is None or recv.done():
            raise LinkDown()
        call_task = asyncio.create_task(session.call(payload, suppress=False))
        await asyncio.wait([call_task, recv], return_when=asyncio.FIRST_COMPLETED)
        if call_task.done():
            self._last_exchange = self.clock.monotonic()
            return call_task.result()
        call_task.cancel()
        await asyncio.gather(call_task, return_exceptions=True)
        raise LinkDown()

    async def _boot(self) -> bool:
        """BootNotification until Accepted; nothing else is sent before (OCPP 1.6 §4.2).
        A reconnect after an acceptance does not boot again (OCPP-J §5.4)."""
        if self._boot_accepted_once:
            self._set_state("accepted")
            return True
        cp = self.config.chargepoint
        request = call.BootNotification(
            charge_point_vendor=cp.vendor, charge_point_model=cp.model,
            charge_point_serial_number=cp.serial_number, firmware_version=cp.firmware_version,
        )
        while True:
            self._set_state("booting")
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
                    self.settings.change("HeartbeatInterval", str(interval))
                self._boot_accepted_once = True
                self._set_state("accepted")
                return True
            self._set_state("pending" if result.status == "Pending" else "rejected")
            await self.clock.sleep(interval if interval > 0 else DEFAULT_RETRY_S)

    async def _heartbeat(self) -> None:
        """HeartbeatInterval is an interval of inactivity: other traffic makes a heartbeat moot."""
        while True:
            interval = self.settings.get_int("HeartbeatInterval")
            idle = self.clock.monotonic() - self._last_exchange
            if idle < interval:
                await self.clock.sleep(interval - idle)
                continue
            try:
                await self._call(call.Heartbeat())
            except (asyncio.TimeoutError, OCPPError) as exc:
                log.warning("Heartbeat failed: %s", type(exc).__name__)

    async def _send_statuses(self) -> None:
        while True:
            connector_id, status, error, at = await self._status_queue.get()
            request = call.StatusNotification(
                connector_id=connector_id, status=status.value,
                error_code=error.code if error else "NoError",
                info=error.info[:50] if error else None,
                vendor_error_code=(error.vendor_code[:50] or None) if error else None,
                timestamp=at,
            )
            try:
                await self._call(request)
            except (asyncio.TimeoutError, OCPPError) as exc:
                log.warning("StatusNotification failed: %s", type(exc).__name__)

    async def _replay_outbox(self) -> None:
        """Transaction messages in the order they happened, each until acknowledged."""
        while True:
            item = self.store.outbox_head()
            if item is None:
                self._outbox_wakeup.clear()
                await self._outbox_wakeup.wait()
                continue
            try:
                result = await self._call(render(item))
            except asyncio.TimeoutError:
                continue  # no answer is not a refusal: send the same message again
            except OCPPError as exc:
                await self._refused(item.seq, item.kind, exc)
                continue
            if item.kind == "start":
                self.store.outbox_ack(item.seq, csms_id=int(result.transaction_id))
                self.station.transaction_confirmed(item.local_tx, item.payload["id_tag"],
                                                   decision_from(result.id_tag_info))
            else:
                self.store.outbox_ack(item.seq)
                if item.kind == "stop" and result.id_tag_info:
                    tag = item.payload.get("id_tag")
                    if tag:
                        self.station.authorizer.remember(tag, decision_from(result.id_tag_info))

    async def _refused(self, seq: int, kind: str, exc: OCPPError) -> None:
        """The CSMS failed to process a message (CALLERROR): retry per TransactionMessageAttempts
        and TransactionMessageRetryInterval, then skip it (OCPP 1.6 §3.7.1)."""
        attempts = self.store.outbox_attempted(seq)
        log.warning("CSMS could not process a %s message (%s), attempt %d", kind, exc.code, attempts)
        if attempts >= self.settings.get_int("TransactionMessageAttempts"):
            log.error("giving up on a %s message after %d attempts", kind, attempts)
            self.store.outbox_ack(seq, csms_id=UNKNOWN_TRANSACTION_ID if kind == "start" else None)
            return
        await self.clock.sleep(self.settings.get_int("TransactionMessageRetryInterval") * attempts)
