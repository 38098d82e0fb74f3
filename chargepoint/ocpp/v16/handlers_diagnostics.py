"""Log uploads asked by the CSMS: GetDiagnostics (OCPP 1.6 §5.9, Firmware Management profile) and
GetLog (security whitepaper N01). The answer names the file at once; the upload starts from the
library's `@after` hook, so the CSMS has the answer before the first status notification.

GetDiagnostics reports Uploading, then Uploaded or UploadFailed (every failure reason folds into
it). GetLog reports Uploading, then Uploaded, UploadFailure, BadMessage, PermissionDenied or
NotSupportedOperation, each with the request's requestId. A new GetLog cancels one still running
and is answered AcceptedCanceled; the cancelled upload reports nothing more. A new GetDiagnostics
likewise replaces a running one."""
from __future__ import annotations

from datetime import datetime
from typing import TYPE_CHECKING, Any

from ocpp.exceptions import TypeConstraintViolationError
from ocpp.routing import after, on
from ocpp.v16 import call, call_result
from ocpp.v16.enums import Action

from chargepoint.diagnostics.service import (
    DEFAULT_RETRIES,
    DEFAULT_RETRY_INTERVAL_S,
    UPLOADED,
    UPLOADING,
    LogKind,
    Reporter,
    UploadRequest,
)
from chargepoint.maintenance import IDLE
from chargepoint.timeutil import parse_iso

if TYPE_CHECKING:
    from chargepoint.ocpp.v16.link import V16Link

GET_DIAGNOSTICS = "GetDiagnostics"
GET_LOG = "GetLog"
LOG_TYPES = {"DiagnosticsLog": LogKind.DIAGNOSTICS, "SecurityLog": LogKind.SECURITY}


def _moment(name: str, text: str | None) -> datetime | None:
    if text is None:
        return None
    try:
        return parse_iso(text)
    except ValueError:
        # The library's schema check does not look at date formats.
        raise TypeConstraintViolationError(details={"cause": f"{name} is not an ISO 8601 date-time"}) from None


def upload_request(kind: LogKind, location: str, retries: int | None, retry_interval: int | None,
                   oldest: str | None, latest: str | None, names: tuple[str, str]) -> UploadRequest:
    """The core request; absent retries and interval are the charge point's to choose."""
    return UploadRequest(
        kind, location,
        retries=DEFAULT_RETRIES if retries is None else max(0, retries),
        retry_interval_s=DEFAULT_RETRY_INTERVAL_S if retry_interval is None else float(max(0, retry_interval)),
        oldest=_moment(names[0], oldest), latest=_moment(names[1], latest),
    )


def diagnostics_reporter(link: V16Link) -> Reporter:
    maintenance = link.station.maintenance

    def notify(status: str) -> None:
        shown = status if status in (UPLOADING, UPLOADED) else "UploadFailed"
        link.upload_notices.put(call.DiagnosticsStatusNotification(status=shown))

    def busy(running: bool) -> None:
        maintenance.diagnostics = UPLOADING if running else IDLE

    return Reporter(notify, busy)


def log_reporter(link: V16Link, request_id: int) -> Reporter:
    maintenance = link.station.maintenance

    def notify(status: str) -> None:
        link.upload_notices.put(call.LogStatusNotification(status=status, request_id=request_id))

    def busy(running: bool) -> None:
        maintenance.log = UPLOADING if running else IDLE
        maintenance.log_request_id = request_id if running else None

    return Reporter(notify, busy)


class DiagnosticsOperations:
    """Mixed into the 1.6 session."""

    link: V16Link

    def _accepted_uploads(self) -> dict[str, tuple[str, UploadRequest, str, Reporter]]:
        """Answered requests by message id, from the answer to the start of the upload."""
        accepted: dict[str, tuple[str, UploadRequest, str, Reporter]] = self.__dict__.setdefault(
            "_accepted_upload_requests", {})
        return accepted

    def _start_accepted(self, call_unique_id: str) -> None:
        accepted = self._accepted_uploads().pop(call_unique_id, None)
        uploads = self.link.log_uploads
        if accepted is not None and uploads is not None:
            channel, request, file_name, reporter = accepted
            uploads.start(channel, request, file_name, reporter)

    @on(Action.get_diagnostics)
    def on_get_diagnostics(self, location: str, call_unique_id: str, retries: int | None = None,
                           retry_interval: int | None = None, start_time: str | None = None,
                           stop_time: str | None = None, **_: Any) -> call_result.GetDiagnostics:
        uploads = self.link.log_uploads
        if uploads is None:
            return call_result.GetDiagnostics()  # no diagnostics file: no file name (§5.9)
        request = upload_request(LogKind.DIAGNOSTICS, location, retries, retry_interval, start_time, stop_time,
                                 ("startTime", "stopTime"))
        file_name = uploads.file_name(LogKind.DIAGNOSTICS)
        self._accepted_uploads()[call_unique_id] = (GET_DIAGNOSTICS, request, file_name,
                                                    diagnostics_reporter(self.link))
        return call_result.GetDiagnostics(file_name=file_name)

    @after(Action.get_diagnostics)
    async def after_get_diagnostics(self, call_unique_id: str, **_: Any) -> None:
        self._start_accepted(call_unique_id)

    @on(Action.get_log)
    def on_get_log(self, log: dict[str, Any], log_type: str, request_id: int, call_unique_id: str,
                   retries: int | None = None, retry_interval: int | None = None, **_: Any) -> call_result.GetLog:
        uploads = self.link.log_uploads
        kind = LOG_TYPES[log_type]
        if uploads is None or not uploads.available(kind):
            return call_result.GetLog(status="Rejected")
        request = upload_request(kind, log["remote_location"], retries, retry_interval, log.get("oldest_timestamp"),
                                 log.get("latest_timestamp"), ("oldestTimestamp", "latestTimestamp"))
        file_name = uploads.file_name(kind)
        self._accepted_uploads()[call_unique_id] = (GET_LOG, request, file_name, log_reporter(self.link, request_id))
        status = "AcceptedCanceled" if uploads.busy(GET_LOG) else "Accepted"
        return call_result.GetLog(status=status, filename=file_name)

    @after(Action.get_log)
    async def after_get_log(self, call_unique_id: str, **_: Any) -> None:
        self._start_accepted(call_unique_id)
