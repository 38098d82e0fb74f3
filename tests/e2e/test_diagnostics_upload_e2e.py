"""GetDiagnostics and GetLog against the running controller: the answer names the file, the
status notifications follow it in order, and the archive that reaches the server holds the
controller's own log lines of the asked window and its summary, without secrets."""
from __future__ import annotations

import io
import json
import tarfile
import threading
from datetime import datetime, timedelta, timezone
from pathlib import Path

import pytest
from ocpp.v16 import call

from chargepoint.diagnostics.logwindow import line_stamp
from csms import TestCsms
from e2e_harness import CP_ID, WAIT, E2E
from ftp_upload_peer import FtpUploadPeer
from http_upload_peer import HttpUploadPeer

pytestmark = pytest.mark.timeout(90)


def iso(moment: datetime) -> str:
    return moment.astimezone(timezone.utc).strftime("%Y-%m-%dT%H:%M:%S.000Z")


def members(data: bytes) -> dict[str, bytes]:
    with tarfile.open(fileobj=io.BytesIO(data), mode="r:gz") as tar:
        return {m.name: tar.extractfile(m).read() for m in tar.getmembers() if m.isfile()}  # type: ignore[union-attr]


async def final_status(csms: TestCsms, action: str, since: int, request_id: int | None = None) -> dict:
    """The first status notification of `action` after `since` that ends an upload."""
    record = await csms.wait_for(
        action, lambda p: p["status"] != "Uploading" and p.get("requestId") == request_id, timeout=WAIT, since=since)
    return record.payload


def statuses(csms: TestCsms, action: str, since: int) -> list[dict]:
    return [r.payload for r in csms.received[since:] if r.action == action]


async def test_get_diagnostics_uploads_the_log_window_and_summary_over_http(ready: E2E, tmp_path: Path) -> None:
    csms = ready.csms
    now = datetime.now(timezone.utc)
    with HttpUploadPeer(credentials=("cp", "hunter2")) as peer:
        mark = csms.mark()
        result = await csms.call(call.GetDiagnostics(location=peer.url("/diag/", userinfo="cp:hunter2"),
                                                     start_time=iso(now - timedelta(hours=1)),
                                                     stop_time=iso(now + timedelta(hours=1))), timeout=WAIT)
        name = result.file_name
        assert name.startswith(f"{CP_ID}-diagnostics-") and name.endswith(".tar.gz")
        assert await final_status(csms, "DiagnosticsStatusNotification", mark) == {"status": "Uploaded"}
    assert statuses(csms, "DiagnosticsStatusNotification", mark) == [{"status": "Uploading"}, {"status": "Uploaded"}]
    [got] = peer.received
    assert (got.method, got.path, got.filename) == ("POST", f"/diag/{name}", name)
    root = name.removesuffix(".tar.gz")
    files = members(got.data)
    assert sorted(files) == [f"{root}/borne.log", f"{root}/summary.json"]
    log = files[f"{root}/borne.log"].decode()
    assert "chargepoint.ocpp.v16.link: OCPP link accepted" in log
    for line in log.splitlines():
        moment = line_stamp(line)
        assert moment is None or now - timedelta(hours=1) <= moment <= now + timedelta(hours=1), line
    summary = json.loads(files[f"{root}/summary.json"])
    assert summary["status"]["chargepoint"] == CP_ID
    assert summary["status"]["ocpp"]["state"] == "accepted"
    assert {k["key"] for k in summary["configuration_keys"]} >= {"HeartbeatInterval", "MeterValuesSampledData"}
    assert summary["firmware_toml"]["chargepoint"]["id"] == CP_ID
    assert summary["versions"]["borne"]
    # The retained log is where the configuration put it, and the password went nowhere.
    retained = (tmp_path / "logs" / "borne.log").read_text()
    assert "OCPP link accepted" in retained
    assert "hunter2" not in retained and b"hunter2" not in got.data


async def test_get_diagnostics_window_in_the_past_sends_the_summary_alone(ready: E2E) -> None:
    csms = ready.csms
    with HttpUploadPeer() as peer:
        mark = csms.mark()
        result = await csms.call(call.GetDiagnostics(location=peer.url("/diag/"), start_time="2001-01-01T00:00:00Z",
                                                     stop_time="2001-01-02T00:00:00Z"), timeout=WAIT)
        assert await final_status(csms, "DiagnosticsStatusNotification", mark) == {"status": "Uploaded"}
    root = result.file_name.removesuffix(".tar.gz")
    files = members(peer.received[0].data)
    assert files[f"{root}/borne.log"] == b""
    assert json.loads(files[f"{root}/summary.json"])["window"] == {"oldest": "2001-01-01T00:00:00.000Z",
                                                                    "latest": "2001-01-02T00:00:00.000Z"}


async def test_get_diagnostics_retries_then_reports_upload_failed(ready: E2E) -> None:
    csms = ready.csms
    with HttpUploadPeer(answer=500) as peer:
        mark = csms.mark()
        await csms.call(call.GetDiagnostics(location=peer.url("/diag/"), retries=2, retry_interval=5), timeout=WAIT)
        assert await final_status(csms, "DiagnosticsStatusNotification", mark) == {"status": "UploadFailed"}
    assert statuses(csms, "DiagnosticsStatusNotification", mark) == [{"status": "Uploading"},
                                                                      {"status": "UploadFailed"}]
    assert [method for method, _ in peer.requests] == ["POST", "POST", "POST"]  # first try and two retries
    assert "upload 3 of 3" in ready.cp.log()


async def test_triggered_diagnostics_status_follows_the_upload(ready: E2E) -> None:
    csms = ready.csms
    hold = threading.Event()
    try:
        with HttpUploadPeer(hold=hold) as peer:
            mark = csms.mark()
            await csms.call(call.GetDiagnostics(location=peer.url("/diag/"), retries=0), timeout=WAIT)
            await csms.wait_for("DiagnosticsStatusNotification", timeout=WAIT, since=mark)
            during = csms.mark()
            answer = await csms.call(call.TriggerMessage(requested_message="DiagnosticsStatusNotification"),
                                     timeout=WAIT)
            assert answer.status == "Accepted"
            triggered = await csms.wait_for("DiagnosticsStatusNotification", timeout=WAIT, since=during)
            assert triggered.payload == {"status": "Uploading"}
            hold.set()
            assert await final_status(csms, "DiagnosticsStatusNotification", mark) == {"status": "Uploaded"}
    finally:
        hold.set()
    after = csms.mark()
    await csms.call(call.TriggerMessage(requested_message="DiagnosticsStatusNotification"), timeout=WAIT)
    idle = await csms.wait_for("DiagnosticsStatusNotification", timeout=WAIT, since=after)
    assert idle.payload == {"status": "Idle"}


async def test_get_log_diagnostics_over_ftp(ready: E2E) -> None:
    csms = ready.csms
    async with FtpUploadPeer(directories={"", "logs"}) as peer:
        mark = csms.mark()
        result = await csms.call(call.GetLog(log={"remoteLocation": peer.url("/logs/")}, log_type="DiagnosticsLog",
                                             request_id=42, retries=1, retry_interval=5), timeout=WAIT)
        assert result.status == "Accepted"
        assert await final_status(csms, "LogStatusNotification", mark, 42) == {"status": "Uploaded", "requestId": 42}
    assert statuses(csms, "LogStatusNotification", mark) == [{"status": "Uploading", "requestId": 42},
                                                              {"status": "Uploaded", "requestId": 42}]
    [stored] = peer.stored
    assert stored.path == f"logs/{result.filename}"
    root = result.filename.removesuffix(".tar.gz")
    files = members(stored.data)
    assert "OCPP link accepted" in files[f"{root}/borne.log"].decode()
    assert f"{root}/summary.json" in files


async def test_get_log_failure_reason_reaches_the_csms(ready: E2E) -> None:
    csms = ready.csms
    async with FtpUploadPeer() as peer:
        mark = csms.mark()
        result = await csms.call(call.GetLog(log={"remoteLocation": peer.url("/", password="wrong")},
                                             log_type="DiagnosticsLog", request_id=7, retries=0), timeout=WAIT)
        assert result.status == "Accepted"
        assert await final_status(csms, "LogStatusNotification", mark, 7) == {"status": "PermissionDenied",
                                                                              "requestId": 7}
    mark = csms.mark()
    result = await csms.call(call.GetLog(log={"remoteLocation": "sftp://example.org/logs/"}, log_type="DiagnosticsLog",
                                         request_id=8), timeout=WAIT)
    assert await final_status(csms, "LogStatusNotification", mark, 8) == {"status": "NotSupportedOperation",
                                                                          "requestId": 8}


async def test_a_new_get_log_cancels_the_running_upload(ready: E2E) -> None:
    csms = ready.csms
    hold = threading.Event()
    try:
        with HttpUploadPeer(hold=hold) as peer:
            mark = csms.mark()
            first = await csms.call(call.GetLog(log={"remoteLocation": peer.url("/a/")}, log_type="DiagnosticsLog",
                                                request_id=1, retries=0), timeout=WAIT)
            assert first.status == "Accepted"
            await csms.wait_for("LogStatusNotification", lambda p: p == {"status": "Uploading", "requestId": 1},
                                timeout=WAIT, since=mark)
            during = csms.mark()
            await csms.call(call.ExtendedTriggerMessage(requested_message="LogStatusNotification"), timeout=WAIT)
            triggered = await csms.wait_for("LogStatusNotification", timeout=WAIT, since=during)
            assert triggered.payload == {"status": "Uploading", "requestId": 1}
            second = await csms.call(call.GetLog(log={"remoteLocation": peer.url("/b/")}, log_type="DiagnosticsLog",
                                                 request_id=2, retries=0), timeout=WAIT)
            assert second.status == "AcceptedCanceled" and second.filename
            await csms.wait_for("LogStatusNotification", lambda p: p == {"status": "Uploading", "requestId": 2},
                                timeout=WAIT, since=mark)
            hold.set()
            assert await final_status(csms, "LogStatusNotification", mark, 2) == {"status": "Uploaded",
                                                                                  "requestId": 2}
    finally:
        hold.set()
    about_first = [p for p in statuses(csms, "LogStatusNotification", mark) if p.get("requestId") == 1]
    assert about_first == [{"status": "Uploading", "requestId": 1}] * 2  # its own, and the triggered one
