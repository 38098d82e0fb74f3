"""OCA OCPP 1.6 compliance cases, Charge Point side: firmware update and diagnostics
(TC_044_2_CS, TC_044_3_CS, TC_045_1_CS, TC_045_2_CS).

Each case runs once Borne handles its operation or advertises FirmwareManagement in
SupportedFeatureProfiles (`oca16.require`), and is skipped until then."""
from __future__ import annotations

import http.server
import socket
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import datetime, timezone
from functools import partial
from pathlib import Path

import pytest
from ocpp.v16 import call

from csms import TestCsms
from e2e_harness import WAIT
from http_upload_peer import HttpUploadPeer
from oca16 import Station, require

pytestmark = [pytest.mark.asyncio(loop_scope="module"), pytest.mark.timeout(60)]

CP_CONFIG = {"firmware": {"unsigned_updates": True}}


def now_z() -> str:
    return datetime.now(timezone.utc).strftime("%Y-%m-%dT%H:%M:%S.000Z")


def closed_port() -> int:
    """A loopback port nobody listens on."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@contextmanager
def file_server(root: Path) -> Iterator[str]:
    """Serves `root` over http on loopback; yields its base URL."""
    handler = partial(http.server.SimpleHTTPRequestHandler, directory=str(root))
    handler.log_message = lambda *args: None  # type: ignore[attr-defined]
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()


def firmware_statuses(csms: TestCsms, since: int) -> list[str]:
    return [r.payload["status"] for r in csms.received[since:] if r.action == "FirmwareStatusNotification"]


async def firmware_until(st: Station, since: int, final: str) -> list[str]:
    await st.csms.wait_for("FirmwareStatusNotification", lambda p: p["status"] == final, timeout=WAIT, since=since)
    return firmware_statuses(st.csms, since)


async def test_tc_044_2_cs_firmware_update_download_failed(cp: Station) -> None:
    """TC_044_2_CS Firmware Update - Download Failed.

    UpdateFirmware for a location that cannot be reached: answered (empty conf), then
    FirmwareStatusNotification Downloading and DownloadFailed, and nothing installed."""
    await require(cp, "UpdateFirmware", "FirmwareManagement")
    mark = cp.csms.mark()
    await cp.call(call.UpdateFirmware(location=f"http://127.0.0.1:{closed_port()}/borne.tar.gz",
                                      retrieve_date=now_z(), retries=0))
    statuses = await firmware_until(cp, mark, "DownloadFailed")
    assert statuses[0] == "Downloading" and statuses[-1] == "DownloadFailed", statuses
    assert not {"Installing", "Installed"} & set(statuses)


async def test_tc_044_3_cs_firmware_update_installation_failed(cp: Station, tmp_path: Path) -> None:
    """TC_044_3_CS Firmware Update - Installation Failed.

    UpdateFirmware for a file that downloads but is no firmware: Downloading, Downloaded, then
    InstallationFailed; the controller keeps running."""
    await require(cp, "UpdateFirmware", "FirmwareManagement")
    (tmp_path / "broken.tar.gz").write_bytes(b"this is not a firmware package\n" * 64)
    mark = cp.csms.mark()
    with file_server(tmp_path) as base:
        await cp.call(call.UpdateFirmware(location=f"{base}/broken.tar.gz", retrieve_date=now_z(), retries=0))
        statuses = await firmware_until(cp, mark, "InstallationFailed")
    assert statuses[:2] == ["Downloading", "Downloaded"], statuses
    assert "Installed" not in statuses
    assert cp.cp.running


async def test_tc_045_1_cs_get_diagnostics(cp: Station) -> None:
    """TC_045_1_CS Get Diagnostics.

    GetDiagnostics: answered with a fileName; DiagnosticsStatusNotification Uploading then
    Uploaded; the file reaches the location under that name."""
    await require(cp, "GetDiagnostics", "FirmwareManagement")
    mark = cp.csms.mark()
    with HttpUploadPeer() as peer:
        result = await cp.call(call.GetDiagnostics(location=peer.url("/diag/"), retries=0))
        assert result.file_name
        await cp.csms.wait_for("DiagnosticsStatusNotification", lambda p: p["status"] == "Uploaded",
                               timeout=WAIT, since=mark)
    statuses = [r.payload["status"] for r in cp.csms.received[mark:] if r.action == "DiagnosticsStatusNotification"]
    assert statuses == ["Uploading", "Uploaded"]
    assert [r.filename for r in peer.received] == [result.file_name]


async def test_tc_045_2_cs_get_diagnostics_upload_failed(cp: Station) -> None:
    """TC_045_2_CS Get Diagnostics - Upload Failed.

    GetDiagnostics for a location that cannot be reached: answered, then
    DiagnosticsStatusNotification UploadFailed (after Uploading)."""
    await require(cp, "GetDiagnostics", "FirmwareManagement")
    mark = cp.csms.mark()
    await cp.call(call.GetDiagnostics(location=f"http://127.0.0.1:{closed_port()}/diag/", retries=0))
    await cp.csms.wait_for("DiagnosticsStatusNotification", lambda p: p["status"] == "UploadFailed",
                           timeout=WAIT, since=mark)
    statuses = [r.payload["status"] for r in cp.csms.received[mark:] if r.action == "DiagnosticsStatusNotification"]
    assert statuses[-1] == "UploadFailed" and "Uploaded" not in statuses
