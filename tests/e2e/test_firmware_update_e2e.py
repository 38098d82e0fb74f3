"""Firmware updates end to end: the real controller, started the way the systemd unit starts it
(ExecStartPre `chargepoint firmware boot-check` from the previous release, ExecStart the current
release, a fresh INVOCATION_ID per start, restarted whenever it exits), a release tree under a
temporary root whose first release is this test environment, the TestCsms, and the package
served over http on loopback. The installer is the real one: a virtual environment built from
the package's wheels, offline.

A good release: Downloading, Downloaded, Installing, (restart into it), Installed. A release
that crashes at every start: it is rolled back after its allowed starts and the previous
release reports InstallationFailed."""
from __future__ import annotations

import asyncio
import contextlib
import json
import os
import shutil
import signal
import sys
import uuid
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import pytest
from ocpp.v16 import call

from chargepoint.firmware.build import build_package
from chargepoint.firmware.installer import write_release_file
from chargepoint.firmware.releases import Releases
from csms import TestCsms
from e2e_harness import SUBPROCESS_ENV, TIME_SCALE, WAIT, write_config
from firmware_helpers import FileServer, borne_wheel, wheelhouse

pytestmark = pytest.mark.timeout(240)

PROJECT = Path(__file__).resolve().parent.parent.parent
INSTALL_WAIT = 150.0  # building a venv from wheels: seconds on a PC, minutes on a slow CI box
MAX_TRIAL_STARTS = 2


@pytest.fixture(scope="module")
def wheels(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return wheelhouse(tmp_path_factory.mktemp("wheelhouse"))


def package(directory: Path, wheels: Path, version: str, replace: dict[str, str] | None = None) -> Path:
    wheel_dir = directory / f"wheel-{version}"
    wheel_dir.mkdir(parents=True)
    project_wheel = borne_wheel(wheel_dir, version, replace)
    return build_package(PROJECT, directory / "served", project_wheel=project_wheel, wheelhouses=[wheels])


def factory_release(root: Path) -> Path:
    """This test environment as the box's first release (its venv is the one running the tests)."""
    release = root / "releases" / "factory"
    release.mkdir(parents=True)
    (release / "venv").symlink_to(Path(sys.prefix).resolve())
    write_release_file(release, {"version": "factory"})
    Releases(root).switch(release)
    return release


class UnitProcess:
    """The controller as chargepoint.service runs it, with Restart=always."""

    def __init__(self, root: Path, config: Path, log_path: Path, max_starts: int = 10) -> None:
        self.root = root
        self.config = config
        self.log_path = log_path
        self.max_starts = max_starts
        self.starts = 0
        self.proc: asyncio.subprocess.Process | None = None
        self._supervisor: asyncio.Task[None] | None = None
        self._stopping = False

    def start(self) -> None:
        self._supervisor = asyncio.ensure_future(self._supervise())

    async def _supervise(self) -> None:
        with open(self.log_path, "ab") as log:
            while not self._stopping and self.starts < self.max_starts:
                self.starts += 1
                env = {**SUBPROCESS_ENV, "INVOCATION_ID": uuid.uuid4().hex}
                previous = self.root / "previous" / "venv" / "bin" / "python"
                if previous.exists():  # ExecStartPre=-...: a failure is ignored
                    pre = await asyncio.create_subprocess_exec(
                        str(previous), "-m", "chargepoint", "firmware", "boot-check", "--config", str(self.config),
                        stdin=asyncio.subprocess.DEVNULL, stdout=log, stderr=asyncio.subprocess.STDOUT,
                        cwd=str(self.config.parent), env=env)
                    await pre.wait()
                python = self.root / "current" / "venv" / "bin" / "python"
                self.proc = await asyncio.create_subprocess_exec(
                    str(python), "-m", "chargepoint", "run", "--config", str(self.config),
                    "--time-scale", str(TIME_SCALE), stdin=asyncio.subprocess.DEVNULL, stdout=log,
                    stderr=asyncio.subprocess.STDOUT, cwd=str(self.config.parent), env=env)
                await self.proc.wait()
                if not self._stopping:
                    await asyncio.sleep(0.2)  # RestartSec

    async def stop(self) -> None:
        self._stopping = True
        proc = self.proc
        if proc is not None and proc.returncode is None:
            with contextlib.suppress(ProcessLookupError):
                proc.send_signal(signal.SIGTERM)
            try:
                await asyncio.wait_for(proc.wait(), 10)
            except asyncio.TimeoutError:
                with contextlib.suppress(ProcessLookupError):
                    proc.kill()
        if self._supervisor is not None:
            self._supervisor.cancel()
            await asyncio.gather(self._supervisor, return_exceptions=True)

    def log(self) -> str:
        return self.log_path.read_text(errors="replace") if self.log_path.exists() else ""


@pytest.fixture
async def unit(csms: TestCsms, tmp_path: Path) -> Any:
    root = tmp_path / "fw"
    factory_release(root)
    socket_dir = Path(os.path.realpath("/tmp")) / f"b{uuid.uuid4().hex[:8]}"
    socket_dir.mkdir()
    config = write_config(tmp_path / "firmware.toml", csms.url, tmp_path / "state" / "borne.db",
                          socket_dir / "s.sock", {"firmware": {
                              "root": str(root), "trial_timeout_s": 600, "max_trial_starts": MAX_TRIAL_STARTS,
                              "default_retry_interval_s": 5}})
    process = UnitProcess(root, config, tmp_path / "controller.log")
    try:
        yield process
    finally:
        await process.stop()
        shutil.rmtree(socket_dir, ignore_errors=True)


def firmware_statuses(csms: TestCsms, since: int = 0) -> list[str]:
    return [r.payload["status"] for r in csms.received[since:] if r.action == "FirmwareStatusNotification"]


async def boot(csms: TestCsms, unit: UnitProcess, since: int = 0, version: str | None = None,
               timeout: float = WAIT) -> dict[str, Any]:
    record = await csms.wait_for("BootNotification", timeout=timeout, since=since)
    if version is not None:
        assert record.payload.get("firmwareVersion") == version, (record.payload, unit.log()[-3000:])
    await csms.wait_for("StatusNotification", lambda p: p["connectorId"] == 1, timeout=WAIT, since=since)
    return record.payload


async def request_update(csms: TestCsms, url: str) -> None:
    now = datetime.now(timezone.utc).strftime("%Y-%m-%dT%H:%M:%S.000Z")
    result = await csms.call(call.UpdateFirmware(location=url, retrieve_date=now, retries=2, retry_interval=5),
                             timeout=WAIT)
    assert result is not None


async def test_tc_044_1_cs_firmware_update_download_and_install(csms: TestCsms, unit: UnitProcess,
                                                               tmp_path: Path, wheels: Path) -> None:
    """TC_044_1_CS Firmware Update - Download and Install.

    UpdateFirmware for a good release over http: FirmwareStatusNotification Downloading,
    Downloaded, Installing; the controller restarts into the new release (BootNotification with its
    firmwareVersion, then StatusNotification), which reports Installed. Also: the FirmwareUpdated
    security event, the release links, and a triggered status once the update is over."""
    archive = package(tmp_path, wheels, "2.0.0")
    unit.start()
    await boot(csms, unit)
    with FileServer(archive.parent) as server:
        mark = csms.mark()
        await request_update(csms, server.url(archive.name))
        await csms.wait_for("FirmwareStatusNotification", lambda p: p["status"] == "Installing", timeout=WAIT,
                            since=mark)
        await boot(csms, unit, since=mark + 1, version="2.0.0", timeout=INSTALL_WAIT)  # the new release boots
        await csms.wait_for("FirmwareStatusNotification", lambda p: p["status"] == "Installed",
                            timeout=INSTALL_WAIT, since=mark)
    assert firmware_statuses(csms, mark) == ["Downloading", "Downloaded", "Installing", "Installed"], unit.log()[-4000:]
    await csms.wait_for("SecurityEventNotification", lambda p: p["type"] == "FirmwareUpdated", timeout=WAIT,
                        since=mark)
    links = Releases(tmp_path / "fw").links()
    assert links.current is not None and links.current.name == "2.0.0"
    assert links.previous is not None and links.previous.name == "factory"
    assert unit.starts == 1  # one start: the update restarted the process in place
    state = json.loads((tmp_path / "state" / "firmware-update.json").read_text())
    assert state["job"] is None and state["outbox"] == []
    # The new release answers a triggered status: nothing runs now.
    result = await csms.call(call.TriggerMessage(requested_message="FirmwareStatusNotification"), timeout=WAIT)
    assert result.status == "Accepted"
    triggered = await csms.wait_for("FirmwareStatusNotification", timeout=WAIT, since=csms.mark() - 1)
    assert triggered.payload["status"] in ("Installed", "Idle")


async def test_tc_044_3_cs_firmware_update_installation_failed(csms: TestCsms, unit: UnitProcess,
                                                              tmp_path: Path, wheels: Path) -> None:
    """TC_044_3_CS Firmware Update - Installation Failed.

    UpdateFirmware for a release that installs but crashes at every start: FirmwareStatusNotification
    Downloading, Downloaded, Installing; after its allowed starts it is rolled back, the previous
    release boots and reports InstallationFailed."""
    # It passes the installer's checks (`chargepoint config check`) but dies as soon as it runs.
    archive = package(tmp_path, wheels, "2.0.1", replace={"chargepoint/app.py": "import os\nos._exit(70)\n"})
    unit.start()
    await boot(csms, unit)
    with FileServer(archive.parent) as server:
        mark = csms.mark()
        await request_update(csms, server.url(archive.name))
        await csms.wait_for("FirmwareStatusNotification", lambda p: p["status"] == "Installing", timeout=WAIT,
                            since=mark)
        await csms.wait_for("FirmwareStatusNotification", lambda p: p["status"] == "InstallationFailed",
                            timeout=INSTALL_WAIT, since=mark)
    assert firmware_statuses(csms, mark) == ["Downloading", "Downloaded", "Installing", "InstallationFailed"], \
        unit.log()[-4000:]
    boots = [r.payload for r in csms.received[mark:] if r.action == "BootNotification"]
    assert boots and all(b.get("firmwareVersion") != "2.0.1" for b in boots)  # the broken one never booted
    links = Releases(tmp_path / "fw").links()
    assert links.current is not None and links.current.name == "factory" and links.previous is None
    assert unit.starts == 1 + MAX_TRIAL_STARTS  # the exec'd first start, then systemd's restarts
    assert "rolled back" in unit.log()
