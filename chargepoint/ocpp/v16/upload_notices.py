"""Delivers upload status notifications (DiagnosticsStatusNotification, LogStatusNotification) in
the order they happened, apart from the upload itself: a transfer never waits for the CSMS link,
and a status reached while the link is down is sent once the CSMS has accepted the charge point
again."""
from __future__ import annotations

import asyncio
import logging
from typing import TYPE_CHECKING, Any

from ocpp.exceptions import OCPPError

if TYPE_CHECKING:
    from chargepoint.ocpp.v16.link import V16Link

log = logging.getLogger(__name__)

RETRY_S = 5.0  # how often an undelivered notice looks for the link again
GIVE_UP_S = 24 * 3600.0  # a status older than a day tells the CSMS nothing useful


class UploadNotices:
    def __init__(self, link: V16Link) -> None:
        self.link = link
        self._queue: asyncio.Queue[Any] = asyncio.Queue()
        self._worker: asyncio.Task[None] | None = None

    def put(self, request: Any) -> None:
        """Queue a CALL payload; it goes out after every notice queued before it."""
        self._queue.put_nowait(request)
        if self._worker is None or self._worker.done():
            self._worker = asyncio.get_running_loop().create_task(self._run())

    async def idle(self) -> None:
        """Until every queued notice has been delivered or given up."""
        await self._queue.join()

    async def _run(self) -> None:
        while True:
            request = await self._queue.get()
            try:
                await self._deliver(request)
            finally:
                self._queue.task_done()

    async def _deliver(self, request: Any) -> None:
        from chargepoint.ocpp.v16.link import LinkDown  # link imports the session, which imports this

        name = type(request).__name__
        waited = 0.0
        while True:
            if self.link.online:
                try:
                    await self.link.request(request)
                    return
                except LinkDown:
                    pass
                except (asyncio.TimeoutError, OCPPError) as exc:
                    log.warning("%s not delivered: %s", name, type(exc).__name__)
                    return
            if waited >= GIVE_UP_S:
                log.warning("%s dropped: the CSMS could not be reached for a day", name)
                return
            await self.link.clock.sleep(RETRY_S)
            waited += RETRY_S
