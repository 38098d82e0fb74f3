"""How GetDiagnostics/GetLog fields become an upload request, and what the upload states become
on the wire: defaults where the CSMS leaves fields out, no negative counts, date-times checked."""
from __future__ import annotations

import asyncio
from datetime import datetime, timezone
from types import SimpleNamespace

import pytest
from ocpp.exceptions import TypeConstraintViolationError

from chargepoint.diagnostics.service import DEFAULT_RETRIES, DEFAULT_RETRY_INTERVAL_S, LogKind
from chargepoint.maintenance import MaintenanceStatus
from chargepoint.ocpp.v16.handlers_diagnostics import diagnostics_reporter, log_reporter, upload_request
from chargepoint.ocpp.v16.handlers_extended_trigger import log_status_request, signed_firmware_request
from chargepoint.ocpp.v16.upload_notices import RETRY_S, UploadNotices
from test_diagnostics_service import GUARD_S, WatchedClock

NAMES = ("startTime", "stopTime")


def test_absent_fields_are_the_charge_points_choice() -> None:
    request = upload_request(LogKind.DIAGNOSTICS, "ftp://h/", None, None, None, None, NAMES)
    assert (request.retries, request.retry_interval_s) == (DEFAULT_RETRIES, DEFAULT_RETRY_INTERVAL_S)
    assert (request.oldest, request.latest) == (None, None)


def test_fields_are_taken_as_given_and_negative_counts_as_zero() -> None:
    request = upload_request(LogKind.SECURITY, "http://h/", -3, -5, "2026-01-01T10:00:00+02:00",
                             "2026-01-01T09:00:00Z", NAMES)
    assert (request.retries, request.retry_interval_s) == (0, 0.0)
    assert request.oldest == datetime(2026, 1, 1, 8, tzinfo=timezone.utc)
    assert request.latest == datetime(2026, 1, 1, 9, tzinfo=timezone.utc)


def test_a_date_time_that_is_not_one_is_refused() -> None:
    with pytest.raises(TypeConstraintViolationError) as caught:
        upload_request(LogKind.DIAGNOSTICS, "ftp://h/", 1, 1, "yesterday", None, NAMES)
    assert caught.value.details == {"cause": "startTime is not an ISO 8601 date-time"}


class FakeLink:
    def __init__(self) -> None:
        self.station = SimpleNamespace(maintenance=MaintenanceStatus())
        self.sent: list[object] = []
        self.upload_notices = SimpleNamespace(put=self.sent.append)


def test_diagnostics_statuses_fold_failures_into_upload_failed() -> None:
    link = FakeLink()
    reporter = diagnostics_reporter(link)  # type: ignore[arg-type]
    reporter.busy(True)
    assert link.station.maintenance.diagnostics == "Uploading"
    for status in ("Uploading", "PermissionDenied", "Uploaded", "BadMessage"):
        reporter.notify(status)
    reporter.busy(False)
    assert link.station.maintenance.diagnostics == "Idle"
    assert [m.status for m in link.sent] == ["Uploading", "UploadFailed", "Uploaded", "UploadFailed"]  # type: ignore[attr-defined]


def test_log_statuses_keep_their_reason_and_request_id() -> None:
    link = FakeLink()
    reporter = log_reporter(link, 17)  # type: ignore[arg-type]
    reporter.busy(True)
    assert log_status_request(link).status == "Uploading"  # type: ignore[arg-type]
    assert log_status_request(link).request_id == 17  # type: ignore[arg-type]
    reporter.notify("PermissionDenied")
    reporter.busy(False)
    idle = log_status_request(link)  # type: ignore[arg-type]
    assert (idle.status, idle.request_id) == ("Idle", None)
    assert [(m.status, m.request_id) for m in link.sent] == [("PermissionDenied", 17)]  # type: ignore[attr-defined]


def test_signed_firmware_status_comes_from_the_firmware_hook() -> None:
    link = FakeLink()
    assert (signed_firmware_request(link).status, signed_firmware_request(link).request_id) == ("Idle", None)  # type: ignore[arg-type]
    link.station.maintenance.signed_firmware_status = lambda: ("Downloading", 5)
    request = signed_firmware_request(link)  # type: ignore[arg-type]
    assert (request.status, request.request_id) == ("Downloading", 5)


class OfflineLink:
    def __init__(self, clock: WatchedClock) -> None:
        self.clock = clock
        self.online = False
        self.sent: list[object] = []

    async def request(self, payload: object) -> None:
        self.sent.append(payload)


async def test_notices_reached_offline_go_out_in_order_once_accepted_again() -> None:
    clock = WatchedClock()
    link = OfflineLink(clock)
    notices = UploadNotices(link)  # type: ignore[arg-type]
    notices.put("Uploading")
    notices.put("Uploaded")
    assert await clock.next_sleep() == RETRY_S
    assert link.sent == []
    link.online = True
    clock.advance(RETRY_S)
    await asyncio.wait_for(notices.idle(), GUARD_S)
    assert link.sent == ["Uploading", "Uploaded"]
