"""A firmware updater on a manual clock with fakes around it: a release tree under a temporary
root (a factory release current), a fetch that copies a package built for the test (or fails),
an installer that makes a release directory (or fails, or waits), a station gate, and a restart
that only records. `Rig.next_process()` plays the restart: the start-up check, then a new
updater from the persisted state, running as the release `current` names."""
from __future__ import annotations

import asyncio
import json
import shutil
import time
from collections.abc import Callable
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any

from chargepoint.config.model import FirmwareConfig
from chargepoint.firmware.boot import StartVerdict, startup_check
from chargepoint.firmware.download import DownloadError
from chargepoint.firmware.installer import InstallError, write_release_file
from chargepoint.firmware.package import Manifest, write_archive, write_manifest
from chargepoint.firmware.releases import Releases
from chargepoint.firmware.state import StateFile
from chargepoint.firmware.updater import FirmwareUpdater, UpdateRequest
from chargepoint.maintenance import MaintenanceStatus
from hal.clock import ManualClock


def make_release(root: Path, name: str, version: str) -> Path:
    release = root / "releases" / name
    (release / "venv" / "bin").mkdir(parents=True)
    (release / "venv" / "bin" / "python").write_text("")
    write_release_file(release, {"version": version})
    return release


def make_package(directory: Path, version: str, tamper: bool = False) -> Path:
    """A package in the real format; its one wheel is not a real wheel (the installer is fake)."""
    root = directory / f"pkg-{version}"
    (root / "wheels").mkdir(parents=True)
    wheel = f"wheels/borne-{version}-py3-none-any.whl"
    (root / wheel).write_bytes(b"wheel " + version.encode())
    write_manifest(root, version, wheel, ">=3.11", "2026-01-01T00:00:00.000Z")
    if tamper:
        (root / wheel).write_bytes(b"something else")
    return write_archive(root, directory / f"borne-{version}.tar.gz")


class FakeFetch:
    def __init__(self, package: Path) -> None:
        self.package = package
        self.failures = 0  # the next this many attempts fail
        self.calls: list[str] = []
        self.gate: asyncio.Event | None = None  # when set: each attempt waits for it

    async def __call__(self, url: str, dest: Path) -> None:
        self.calls.append(url)
        if self.gate is not None:
            await self.gate.wait()
        if self.failures > 0:
            self.failures -= 1
            raise DownloadError("connection refused")
        dest.parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(self.package, dest)


class FakeInstaller:
    def __init__(self) -> None:
        self.fail = False
        self.calls: list[Path] = []
        self.gate: asyncio.Event | None = None  # when set: waits half-way through, for it

    async def install(self, unpacked: Path, manifest: Manifest, target: Path, installed_at: str) -> None:
        self.calls.append(target)
        if target.exists():
            shutil.rmtree(target)
        (target / "venv" / "bin").mkdir(parents=True)
        if self.gate is not None:
            await self.gate.wait()
        if self.fail:
            raise InstallError("pip install failed")
        (target / "venv" / "bin" / "python").write_text("")
        write_release_file(target, {"version": manifest.version, "installed_at": installed_at})


class FakeGate:
    def __init__(self) -> None:
        self.running = False
        self.holds: list[bool] = []

    def transactions_running(self) -> bool:
        return self.running

    def hold_for_update(self, hold: bool) -> None:
        self.holds.append(hold)

    @property
    def held(self) -> bool:
        return bool(self.holds) and self.holds[-1]


class FakeEvents:
    def __init__(self) -> None:
        self.emitted: list[tuple[str, str | None]] = []

    def emit(self, event: str, tech_info: str | None = None) -> None:
        self.emitted.append((event, tech_info))


class Rig:
    def __init__(self, tmp: Path, **settings: Any) -> None:
        self.tmp = tmp
        self.settings = FirmwareConfig(root=tmp / "root", work_dir=tmp / "work", state_file=tmp / "state.json",
                                       **settings)
        self.releases = Releases(self.settings.root)
        self.factory = make_release(self.settings.root, "1.0", "1.0")
        self.releases.switch(self.factory)
        self.package = make_package(tmp, "2.0")
        # Real time at the start: the test certificates are valid from now on.
        self.clock = ManualClock(datetime.now(timezone.utc))
        self.fetch = FakeFetch(self.package)
        self.installer = FakeInstaller()
        self.gate = FakeGate()
        self.events = FakeEvents()
        self.maintenance = MaintenanceStatus()
        self.restarts: list[str] = []
        self.online = False  # no CSMS: notices stay queued, nothing to wait for before a restart
        self.check_certificate: Callable[..., Any] | None = None
        self.running = self.factory
        self.updater = self._updater(self.factory)
        self.task: asyncio.Task[None] | None = None

    def _updater(self, release: Path) -> FirmwareUpdater:
        return FirmwareUpdater(self.settings, self.clock, self.releases, self.installer, self.fetch, self.gate,
                               self.restarts.append, check_certificate=self.check_certificate,
                               events=self.events, online=lambda: self.online, maintenance=self.maintenance,
                               venv=(release / "venv").resolve(), origin_python="/usr/bin/python3")

    def request(self, retrieve_in_s: float = 0, **kwargs: Any) -> UpdateRequest:
        moment = self.clock.now()
        return UpdateRequest(kwargs.pop("location", "http://example.test/borne-2.0.tar.gz"),
                             moment + timedelta(seconds=retrieve_in_s), **kwargs)

    def start(self) -> None:
        self.task = asyncio.ensure_future(self.updater.run())

    async def stop(self) -> None:
        """The process ends (a restart or a power cut): the updater is gone, its files stay."""
        if self.task is not None:
            self.task.cancel()
            await asyncio.gather(self.task, return_exceptions=True)
            self.task = None

    async def next_process(self, invocation: str | None = None) -> list[StartVerdict]:
        """Restart: systemd starts the current release; its start-up check may replace it (exec)
        with another release, which checks again; the last one runs a new updater."""
        await self.stop()
        running = self.releases.links().current or self.factory
        verdicts = []
        while True:
            verdict = startup_check(self.settings, invocation, venv=(running / "venv").resolve())
            verdicts.append(verdict)
            if verdict.python is None:
                break
            running = Path(verdict.python).parent.parent.parent
        self.running = running
        self.updater = self._updater(running)
        self.start()
        await settle()
        return verdicts

    def notices(self) -> list[str]:
        return [n.status for n in self.updater.state.outbox]

    def persisted(self) -> dict[str, Any]:
        return json.loads(self.settings.state_file.read_text())

    def phase(self) -> str | None:
        job = StateFile(self.settings.state_file).load().job
        return job.phase if job else None

    async def advance(self, seconds: float, step: float = 1.0) -> None:
        for _ in range(max(1, round(seconds / step))):
            self.clock.advance(step)
            await settle()


async def settle(rounds: int = 20) -> None:
    """Let every ready task run (a few loop turns)."""
    for _ in range(rounds):
        await asyncio.sleep(0)


async def until(predicate: Callable[[], Any], what: str = "the condition", timeout_s: float = 10.0) -> Any:
    """Wait for work done in threads (unpacking): polls, never asserts how long it took."""
    deadline = time.monotonic() + timeout_s
    while True:
        value = predicate()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        await asyncio.sleep(0.005)
