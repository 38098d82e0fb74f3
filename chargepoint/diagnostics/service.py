"""Log uploads as the CSMS asks for them: build one archive, upload it with the asked number of
retries and interval (on the injected clock), and report each step.

Each channel (one per requesting operation: GetDiagnostics, GetLog) runs one upload at a time; a
new request on a channel cancels the one running there (security whitepaper N01.FR.11). Archive
building and transfers run in worker threads, so the event loop never waits on disk or network;
they are daemon threads, so a transfer stuck on a silent server never holds up a stop or a reset
(its leftover archive is removed at the next start)."""
from __future__ import annotations

import asyncio
import logging
import ssl
import threading
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import datetime
from enum import Enum
from pathlib import Path
from typing import Any, TypeVar

from chargepoint.diagnostics.archive import LogPart, write_archive
from chargepoint.diagnostics.redact import redact_url
from chargepoint.diagnostics.upload import FailureKind, UploadError, upload_file
from hal.clock import Clock

log = logging.getLogger(__name__)

UPLOADING = "Uploading"
UPLOADED = "Uploaded"
# Used when the CSMS leaves them out ("left to the Charge Point to decide").
DEFAULT_RETRIES = 2
DEFAULT_RETRY_INTERVAL_S = 60.0
TRANSFER_TIMEOUT_S = 60.0
SUFFIX = ".tar.gz"


class LogKind(Enum):
    DIAGNOSTICS = "diagnostics"
    SECURITY = "securitylog"


@dataclass(frozen=True)
class UploadRequest:
    kind: LogKind
    location: str
    retries: int = DEFAULT_RETRIES  # retries after the first attempt (OCPP 1.6 errata 3.50)
    retry_interval_s: float = DEFAULT_RETRY_INTERVAL_S
    oldest: datetime | None = None
    latest: datetime | None = None


@dataclass(frozen=True)
class Reporter:
    """How a channel's owner hears of its upload: `notify` with what the CSMS must be told
    (Uploading, Uploaded, or a FailureKind value), `busy` when the channel starts and stops."""

    notify: Callable[[str], None]
    busy: Callable[[bool], None]


Upload = Callable[[str, Path, str], Awaitable[str]]
Summary = Callable[[UploadRequest], dict[str, Any]]


@dataclass
class _Job:
    request: UploadRequest
    file_name: str
    reporter: Reporter
    task: asyncio.Task[None] | None = None


class LogUploads:
    def __init__(self, clock: Clock, cp_id: str, work_dir: Path, diagnostics_log: Callable[[], list[LogPart]],
                 summary: Summary, security_log: Callable[[], list[LogPart]] | None = None,
                 upload: Upload | None = None, ssl_context: Callable[[], ssl.SSLContext] | None = None) -> None:
        self.clock = clock
        self.cp_id = cp_id
        self.work_dir = work_dir
        self._diagnostics_log = diagnostics_log
        self._security_log = security_log
        self._summary = summary
        self._ssl_context = ssl_context
        self._upload = upload or self._upload_in_thread
        self._jobs: dict[str, _Job] = {}
        self._clear_leftovers()

    # ---- asking ----------------------------------------------------------------------------------

    def available(self, kind: LogKind) -> bool:
        """Whether this log exists here at all (a diagnostics archive always has its summary)."""
        return kind is LogKind.DIAGNOSTICS or self._security_log is not None

    def file_name(self, kind: LogKind) -> str:
        stamp = self.clock.now().strftime("%Y%m%dT%H%M%SZ")
        return f"{self.cp_id}-{kind.value}-{stamp}{SUFFIX}"

    def busy(self, channel: str) -> bool:
        job = self._jobs.get(channel)
        return job is not None and job.task is not None and not job.task.done()

    def start(self, channel: str, request: UploadRequest, file_name: str, reporter: Reporter) -> bool:
        """Start an upload on `channel`; returns True when it cancelled one running there."""
        previous = self._jobs.get(channel)
        cancelled = previous is not None and previous.task is not None and not previous.task.done()
        if cancelled:
            assert previous is not None and previous.task is not None
            log.info("%s: cancelling the upload of %s for a new request", channel, previous.file_name)
            previous.task.cancel()
        job = _Job(request, file_name, reporter)
        self._jobs[channel] = job
        job.task = asyncio.get_running_loop().create_task(self._run(channel, job))
        return cancelled

    async def wait(self, channel: str) -> None:
        """Until the channel's current upload has ended (for callers that must not race it)."""
        job = self._jobs.get(channel)
        if job is not None and job.task is not None:
            await asyncio.gather(job.task, return_exceptions=True)

    # ---- running ---------------------------------------------------------------------------------

    async def _run(self, channel: str, job: _Job) -> None:
        request, reporter = job.request, job.reporter
        archive = self.work_dir / job.file_name
        reporter.busy(True)
        try:
            reporter.notify(UPLOADING)
            try:
                await self._build(request, archive, job.file_name)
            except Exception:
                log.exception("%s: cannot build %s", channel, job.file_name)
                reporter.notify(FailureKind.UPLOAD_FAILURE.value)
                return
            reporter.notify(await self._attempts(channel, job, archive))
        finally:
            archive.unlink(missing_ok=True)
            if self._jobs.get(channel) is job:
                del self._jobs[channel]
                reporter.busy(False)

    async def _build(self, request: UploadRequest, archive: Path, file_name: str) -> None:
        summary = self._summary(request) if request.kind is LogKind.DIAGNOSTICS else None
        if request.kind is LogKind.DIAGNOSTICS:
            parts = self._diagnostics_log()
        else:
            parts = self._security_log() if self._security_log is not None else []
        root = file_name.removesuffix(SUFFIX)
        self.work_dir.mkdir(parents=True, exist_ok=True, mode=0o750)
        now = self.clock.now()
        counts = await in_daemon_thread(write_archive, archive, root, parts, request.oldest, request.latest,
                                        now, summary)
        log.info("built %s (%s)", file_name, ", ".join(f"{n}: {c} lines" for n, c in counts.items()) or "summary only")

    async def _attempts(self, channel: str, job: _Job, archive: Path) -> str:
        """Upload until it works or the retries are used up; returns the status to report."""
        request = job.request
        attempts = 1 + max(0, request.retries)
        where = redact_url(request.location)
        failure = UploadError(FailureKind.UPLOAD_FAILURE, "not attempted")
        for attempt in range(1, attempts + 1):
            try:
                target = await self._upload(request.location, archive, job.file_name)
            except UploadError as exc:
                failure = exc
                log.warning("%s: upload %d of %d of %s to %s failed: %s", channel, attempt, attempts,
                            job.file_name, where, exc.detail)
                if exc.permanent:
                    break
                if attempt < attempts:
                    await self.clock.sleep(max(0.0, request.retry_interval_s))
                continue
            log.info("%s: uploaded %s to %s", channel, job.file_name, redact_url(target))
            return UPLOADED
        return failure.kind.value

    async def _upload_in_thread(self, location: str, archive: Path, file_name: str) -> str:
        context = self._ssl_context() if self._ssl_context is not None else None
        return await in_daemon_thread(upload_file, location, archive, file_name,
                                      timeout_s=TRANSFER_TIMEOUT_S, ssl_context=context)

    def _clear_leftovers(self) -> None:
        """Archives of uploads a restart interrupted."""
        if self.work_dir.is_dir():
            for stale in self.work_dir.glob(f"*{SUFFIX}"):
                stale.unlink(missing_ok=True)


_T = TypeVar("_T")


async def in_daemon_thread(function: Callable[..., _T], *args: Any, **kwargs: Any) -> _T:
    """`function` in a thread of its own that the interpreter does not wait for at exit (the
    default executor's threads it does wait for). Cancelling the caller abandons the thread."""
    loop = asyncio.get_running_loop()
    result: asyncio.Future[_T] = loop.create_future()

    def settle(value: Any, error: BaseException | None) -> None:
        if result.done():
            return
        if error is not None:
            result.set_exception(error)
        else:
            result.set_result(value)

    def work() -> None:
        value: Any = None
        error: BaseException | None = None
        try:
            value = function(*args, **kwargs)
        except BaseException as exc:  # handed to the awaiting task, which decides
            error = exc
        try:
            loop.call_soon_threadsafe(settle, value, error)
        except RuntimeError:
            pass  # the loop is gone: nobody waits for this any more

    threading.Thread(target=work, name="log-upload", daemon=True).start()
    return await result
