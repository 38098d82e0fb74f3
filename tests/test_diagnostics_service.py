"""The upload job: statuses in order, the retry schedule on the injected clock, permanent
failures, a new request cancelling the running one, archives cleaned up."""
from __future__ import annotations

import asyncio
import tarfile
import threading
from datetime import timedelta
from pathlib import Path

import pytest

from chargepoint.diagnostics.archive import LogPart
from chargepoint.diagnostics.service import LogKind, LogUploads, Reporter, UploadRequest, in_daemon_thread
from chargepoint.diagnostics.upload import FailureKind, UploadError
from hal.clock import ManualClock

GUARD_S = 5.0  # a bound on waiting for the job, never a measure of it


class WatchedClock(ManualClock):
    """A manual clock that says when someone starts sleeping on it."""

    def __init__(self) -> None:
        super().__init__()
        self.sleeps: list[float] = []
        self.sleeping = asyncio.Event()

    async def sleep(self, seconds: float) -> None:
        self.sleeps.append(seconds)
        self.sleeping.set()
        await super().sleep(seconds)

    async def next_sleep(self) -> float:
        await asyncio.wait_for(self.sleeping.wait(), GUARD_S)
        self.sleeping.clear()
        return self.sleeps[-1]


class ScriptedUpload:
    """Fails with the given errors in turn, then succeeds; records when each attempt began and
    what it was handed."""

    def __init__(self, clock: ManualClock, failures: list[UploadError], hold: asyncio.Event | None = None) -> None:
        self.clock = clock
        self.failures = list(failures)
        self.hold = hold
        self.attempts: list[float] = []
        self.archives: list[tuple[str, list[str]]] = []

    async def __call__(self, location: str, archive: Path, file_name: str) -> str:
        self.attempts.append(self.clock.monotonic())
        with tarfile.open(archive, "r:gz") as tar:
            self.archives.append((file_name, tar.getnames()))
        if self.hold is not None:
            await self.hold.wait()
        if self.failures:
            raise self.failures.pop(0)
        return location + file_name


class Recorder:
    def __init__(self) -> None:
        self.notified: list[str] = []
        self.busy: list[bool] = []

    def reporter(self) -> Reporter:
        return Reporter(self.notified.append, self.busy.append)


@pytest.fixture
def log_file(tmp_path: Path) -> Path:
    path = tmp_path / "borne.log"
    path.write_text("2026-01-01T00:00:00.000Z INFO x: hello\n")
    return path


def uploads(tmp_path: Path, clock: ManualClock, upload: ScriptedUpload, log_file: Path) -> LogUploads:
    return LogUploads(clock, "CP-1", tmp_path / "outgoing", lambda: [LogPart("borne.log", [log_file])],
                      lambda request: {"window": [str(request.oldest), str(request.latest)]}, upload=upload)


def failure(kind: FailureKind = FailureKind.UPLOAD_FAILURE, permanent: bool = False) -> UploadError:
    return UploadError(kind, "refused", permanent=permanent)


async def test_retries_follow_the_interval_then_the_failure_is_reported(tmp_path: Path, log_file: Path) -> None:
    clock = WatchedClock()
    upload = ScriptedUpload(clock, [failure(), failure(), failure(FailureKind.PERMISSION_DENIED)])
    service, seen = uploads(tmp_path, clock, upload, log_file), Recorder()
    request = UploadRequest(LogKind.DIAGNOSTICS, "http://csms/up/", retries=2, retry_interval_s=30)
    start = clock.monotonic()
    service.start("GetDiagnostics", request, service.file_name(LogKind.DIAGNOSTICS), seen.reporter())
    for _ in range(2):
        assert await clock.next_sleep() == 30
        clock.advance(30)
    await asyncio.wait_for(service.wait("GetDiagnostics"), GUARD_S)
    assert [t - start for t in upload.attempts] == [0, 30, 60]
    assert clock.sleeps == [30, 30]
    assert seen.notified == ["Uploading", "PermissionDenied"]  # the last attempt's reason
    assert seen.busy == [True, False]
    assert not service.busy("GetDiagnostics")


async def test_a_retry_that_works_reports_uploaded(tmp_path: Path, log_file: Path) -> None:
    clock = WatchedClock()
    upload = ScriptedUpload(clock, [failure()])
    service, seen = uploads(tmp_path, clock, upload, log_file), Recorder()
    name = service.file_name(LogKind.DIAGNOSTICS)
    service.start("GetDiagnostics", UploadRequest(LogKind.DIAGNOSTICS, "ftp://h/", retries=5, retry_interval_s=10),
                  name, seen.reporter())
    assert await clock.next_sleep() == 10
    clock.advance(10)
    await asyncio.wait_for(service.wait("GetDiagnostics"), GUARD_S)
    assert len(upload.attempts) == 2
    assert seen.notified == ["Uploading", "Uploaded"]
    assert name == "CP-1-diagnostics-20260101T000000Z.tar.gz"
    root = name.removesuffix(".tar.gz")
    assert upload.archives[0] == (name, [f"{root}/borne.log", f"{root}/summary.json"])
    assert list((tmp_path / "outgoing").iterdir()) == []  # the archive is gone once reported


async def test_no_retries_means_one_attempt(tmp_path: Path, log_file: Path) -> None:
    clock = WatchedClock()
    upload = ScriptedUpload(clock, [failure()])
    service, seen = uploads(tmp_path, clock, upload, log_file), Recorder()
    service.start("GetLog", UploadRequest(LogKind.DIAGNOSTICS, "http://h/", retries=0, retry_interval_s=10),
                  "f.tar.gz", seen.reporter())
    await asyncio.wait_for(service.wait("GetLog"), GUARD_S)
    assert len(upload.attempts) == 1 and clock.sleeps == []
    assert seen.notified == ["Uploading", "UploadFailure"]


async def test_a_location_that_cannot_work_is_not_retried(tmp_path: Path, log_file: Path) -> None:
    clock = WatchedClock()
    upload = ScriptedUpload(clock, [failure(FailureKind.NOT_SUPPORTED, permanent=True)])
    service, seen = uploads(tmp_path, clock, upload, log_file), Recorder()
    service.start("GetLog", UploadRequest(LogKind.DIAGNOSTICS, "sftp://h/", retries=3, retry_interval_s=10),
                  "f.tar.gz", seen.reporter())
    await asyncio.wait_for(service.wait("GetLog"), GUARD_S)
    assert len(upload.attempts) == 1 and clock.sleeps == []
    assert seen.notified == ["Uploading", "NotSupportedOperation"]


async def test_a_new_request_cancels_the_running_one(tmp_path: Path, log_file: Path) -> None:
    clock = WatchedClock()
    stuck = asyncio.Event()
    upload = ScriptedUpload(clock, [], hold=stuck)
    service = uploads(tmp_path, clock, upload, log_file)
    first, second = Recorder(), Recorder()
    request = UploadRequest(LogKind.DIAGNOSTICS, "http://h/", retries=0)
    assert service.start("GetLog", request, "first.tar.gz", first.reporter()) is False
    await asyncio.wait_for(_until(lambda: len(upload.attempts) == 1), GUARD_S)
    assert service.busy("GetLog")
    upload.hold = None
    assert service.start("GetLog", request, "second.tar.gz", second.reporter()) is True
    await asyncio.wait_for(service.wait("GetLog"), GUARD_S)
    assert first.notified == ["Uploading"] and first.busy == [True]  # nothing after its cancellation
    assert second.notified == ["Uploading", "Uploaded"] and second.busy == [True, False]
    assert [name for name, _ in upload.archives] == ["first.tar.gz", "second.tar.gz"]
    assert list((tmp_path / "outgoing").iterdir()) == []


async def test_channels_run_side_by_side(tmp_path: Path, log_file: Path) -> None:
    clock = WatchedClock()
    upload = ScriptedUpload(clock, [])
    service, diagnostics, logs = uploads(tmp_path, clock, upload, log_file), Recorder(), Recorder()
    request = UploadRequest(LogKind.DIAGNOSTICS, "http://h/", retries=0)
    service.start("GetDiagnostics", request, "a.tar.gz", diagnostics.reporter())
    assert service.start("GetLog", request, "b.tar.gz", logs.reporter()) is False
    await asyncio.wait_for(asyncio.gather(service.wait("GetDiagnostics"), service.wait("GetLog")), GUARD_S)
    assert diagnostics.notified == logs.notified == ["Uploading", "Uploaded"]


async def test_an_archive_that_cannot_be_built_is_a_failed_upload(tmp_path: Path, log_file: Path) -> None:
    clock = WatchedClock()
    upload = ScriptedUpload(clock, [])

    def broken_log() -> list[LogPart]:
        raise PermissionError("log directory unreadable")

    service = LogUploads(clock, "CP-1", tmp_path / "outgoing", broken_log, lambda request: {}, upload=upload)
    seen = Recorder()
    service.start("GetDiagnostics", UploadRequest(LogKind.DIAGNOSTICS, "http://h/"), "x.tar.gz", seen.reporter())
    await asyncio.wait_for(service.wait("GetDiagnostics"), GUARD_S)
    assert upload.attempts == [] and seen.notified == ["Uploading", "UploadFailure"] and seen.busy == [True, False]


async def test_security_log_only_where_there_is_one_and_leftovers_cleared(tmp_path: Path, log_file: Path) -> None:
    clock = WatchedClock()
    outgoing = tmp_path / "outgoing"
    outgoing.mkdir()
    (outgoing / "CP-1-diagnostics-20250101T000000Z.tar.gz").write_bytes(b"interrupted by a restart")
    upload = ScriptedUpload(clock, [])
    without = uploads(tmp_path, clock, upload, log_file)
    assert list(outgoing.iterdir()) == []
    assert without.available(LogKind.DIAGNOSTICS) and not without.available(LogKind.SECURITY)
    with_log = LogUploads(clock, "CP-1", outgoing, lambda: [], lambda request: {},
                          security_log=lambda: [LogPart("security.log", [log_file])], upload=upload)
    assert with_log.available(LogKind.SECURITY)
    clock.advance(timedelta(hours=1).total_seconds())
    name = with_log.file_name(LogKind.SECURITY)
    assert name == "CP-1-securitylog-20260101T010000Z.tar.gz"
    seen = Recorder()
    with_log.start("GetLog", UploadRequest(LogKind.SECURITY, "http://h/", retries=0), name, seen.reporter())
    await asyncio.wait_for(with_log.wait("GetLog"), GUARD_S)
    root = name.removesuffix(".tar.gz")
    assert upload.archives == [(name, [f"{root}/security.log"])]  # no summary with the security log


async def test_blocking_work_runs_in_a_daemon_thread() -> None:
    """A transfer stuck on a silent server must not hold up the process's exit."""
    seen: dict[str, bool] = {}

    def work(value: int) -> int:
        seen["daemon"] = threading.current_thread().daemon
        return value * 2

    assert await in_daemon_thread(work, 21) == 42 and seen["daemon"]
    with pytest.raises(ValueError):
        await in_daemon_thread(int, "not a number")


async def _until(predicate) -> None:
    while not predicate():
        await asyncio.sleep(0)
