"""The firmware update state machine. One job at a time, each step persisted before the next
begins (state.py), so a restart or a power cut anywhere resumes where it stopped:

    scheduled ─► downloading ─► downloaded ─► verified ─► [install_scheduled] ─► waiting_idle
        ─► installing ─► switching ─(restart into the new release)─► trial ─► Installed
                                                                         └─► rollback: InstallationFailed

Charging is never interrupted: installing starts only when no transaction runs, and from then
on idle connectors are held Unavailable (errata 3.49, whitepaper L01.FR.06/07). The new release
is on trial until the CSMS accepts its BootNotification; a trial that times out, or a release
that keeps failing to start (boot.py counts the starts), is rolled back."""
from __future__ import annotations

import asyncio
import itertools
import logging
import os
import shutil
import sys
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path
from typing import Protocol

from chargepoint.config.model import FirmwareConfig
from chargepoint.firmware.download import DownloadError, redacted, supported
from chargepoint.firmware.installer import InstallError, Installer
from chargepoint.firmware.package import PackageError, python_fits, unpack
from chargepoint.firmware.releases import Releases, running_venv, runs_from
from chargepoint.firmware.signature import CertificateCheck, signature_valid
from chargepoint.firmware.state import (
    CANCELLABLE, DOWNLOADED, DOWNLOADING, INSTALL_SCHEDULED, INSTALLING, SCHEDULED, SWITCHING, TRIAL, VERIFIED,
    WAITING_IDLE, Job, Notice, StateFile,
)
from chargepoint.firmware.transitions import legacy_report, notice, roll_back, signed_report
from chargepoint.maintenance import MaintenanceStatus
from chargepoint.security.x509_checks import CertificateError, load_certificates
from chargepoint.timeutil import iso_utc, parse_iso
from hal.clock import Clock

log = logging.getLogger(__name__)

IDLE_POLL_S = 5.0  # how often a waiting update looks whether the transactions have ended
DRAIN_S = 10.0  # how long the notices before a restart may take to reach the CSMS
MAX_WAIT_STEP_S = 60.0  # waits for a date re-read the wall clock this often (NTP may move it)

Fetch = Callable[[str, Path], Awaitable[None]]


class IdleGate(Protocol):
    """The station, as the updater sees it."""

    def transactions_running(self) -> bool: ...

    def hold_for_update(self, hold: bool) -> None:
        """True: idle connectors become (and stay) Unavailable; False: back to what they were."""


class SecurityEvents(Protocol):
    """chargepoint.security.events.SecurityEvents, as the updater uses it."""

    def emit(self, event: str, tech_info: str | None = None) -> None: ...


@dataclass(frozen=True)
class UpdateRequest:
    location: str
    retrieve_at: datetime
    retries: int | None = None
    retry_interval_s: int | None = None
    signed: bool = False
    request_id: int | None = None
    install_at: datetime | None = None
    signing_certificate: str | None = None
    signature: str | None = None


class FirmwareUpdater:
    def __init__(self, settings: FirmwareConfig, clock: Clock, releases: Releases, installer: Installer,
                 fetch: Fetch, gate: IdleGate, restart: Callable[[str], None], *,
                 check_certificate: CertificateCheck | None = None, events: SecurityEvents | None = None,
                 online: Callable[[], bool] = lambda: False, maintenance: MaintenanceStatus | None = None,
                 venv: Path | None = None, origin_python: str = sys.executable) -> None:
        self.settings = settings
        self.clock = clock
        self.releases = releases
        self.installer = installer
        self.fetch = fetch
        self.gate = gate
        self.restart = restart
        self.check_certificate = check_certificate
        self.events = events
        self.online = online
        self.maintenance = maintenance
        self.venv = venv or running_venv()
        self.origin_python = origin_python
        self.file = StateFile(settings.state_file)
        self.state = self.file.load()
        self.package = settings.work_dir / "package.tar.gz"
        self._unpacks = itertools.count(1)
        self._wakeup = asyncio.Event()
        self._queued = asyncio.Event()
        self._accepted = asyncio.Event()
        self._step: asyncio.Task[None] | None = None
        self._started = clock.monotonic()
        if maintenance is not None:
            maintenance.signed_firmware_status = self.signed_status
        self._publish()

    # ---- requests ----------------------------------------------------------------------------

    @property
    def busy(self) -> bool:
        return self.state.job is not None

    def can_replace(self) -> bool:
        """A newer request may cancel the job in progress until installation begins (L01.FR.26/27)."""
        return self.state.job is None or self.state.job.phase in CANCELLABLE

    def verify_certificate(self, pem: str) -> str | None:
        """None when the signing certificate is trusted, else why not (the SecurityEvent's techInfo)."""
        if self.check_certificate is None:
            return "no ManufacturerRootCertificate store is available"
        try:
            self.check_certificate(pem, self.clock.now())
        except CertificateError as exc:
            return str(exc)
        return None

    def start(self, request: UpdateRequest) -> bool:
        """Begin `request`, cancelling a job that may still be cancelled; False when one that may
        not is in progress (the request is then ignored)."""
        if not self.can_replace():
            log.warning("firmware update to %s ignored: another one is being installed", redacted(request.location))
            return False
        if self.state.job is not None:
            log.warning("firmware update %s cancelled by a newer request", redacted(self.state.job.location))
            if self._step is not None:
                self._step.cancel()
            self.gate.hold_for_update(False)
        attempts = request.retries if request.retries is not None else self.settings.default_retries
        interval = request.retry_interval_s if request.retry_interval_s is not None \
            else self.settings.default_retry_interval_s
        job = Job(location=request.location, retrieve_at=iso_utc(request.retrieve_at), retries=max(1, attempts),
                  retry_interval_s=max(0, interval), signed=request.signed, request_id=request.request_id,
                  install_at=iso_utc(request.install_at) if request.install_at else None,
                  signing_certificate=request.signing_certificate, signature=request.signature)
        self.state.job = job
        if request.retrieve_at > self.clock.now():
            self._notice(job, "DownloadScheduled")
        self._save()
        log.info("firmware update from %s accepted (retrieve after %s)", redacted(job.location), job.retrieve_at)
        self._wakeup.set()
        return True

    def csms_accepted(self) -> None:
        """The CSMS accepted this process's BootNotification: a release on trial has passed."""
        self._accepted.set()

    # ---- what the CSMS is told ---------------------------------------------------------------

    async def next_notice(self) -> Notice:
        """The oldest status notification not yet delivered (it stays queued until delivered)."""
        while not self.state.outbox:
            self._queued.clear()
            await self._queued.wait()
        return self.state.outbox[0]

    def delivered(self, sent: Notice) -> None:
        if self.state.outbox and self.state.outbox[0] is sent:
            self.state.outbox.pop(0)
            self._save()

    def signed_status(self) -> tuple[str, int | None]:
        return signed_report(self.state)

    # ---- the driver --------------------------------------------------------------------------

    async def run(self) -> None:
        try:
            while True:
                job = self.state.job
                if job is None:
                    self._wakeup.clear()
                    await self._wakeup.wait()
                    continue
                self._step = asyncio.ensure_future(self._advance(job))
                await asyncio.wait([self._step])
                if self._step.cancelled():
                    continue  # replaced by a newer request
                error = self._step.exception()
                if error is not None and self.state.job is job:
                    log.error("firmware update failed in %s", job.phase, exc_info=error)
                    self._fail(job, "DownloadFailed" if job.phase in (SCHEDULED, DOWNLOADING) else "InstallationFailed")
        finally:
            if self._step is not None:
                self._step.cancel()

    async def _advance(self, job: Job) -> None:
        step = {
            SCHEDULED: self._scheduled, DOWNLOADING: self._downloading, DOWNLOADED: self._downloaded,
            VERIFIED: self._verified, INSTALL_SCHEDULED: self._install_scheduled, WAITING_IDLE: self._waiting_idle,
            INSTALLING: self._installing, SWITCHING: self._switching, TRIAL: self._trial,
        }[job.phase]
        await step(job)

    async def _scheduled(self, job: Job) -> None:
        await self._until(parse_iso(job.retrieve_at))
        self._enter(job, DOWNLOADING, "Downloading")

    async def _downloading(self, job: Job) -> None:
        if job.next_attempt_at is not None:
            await self._until(parse_iso(job.next_attempt_at))
        job.attempts += 1  # counted before it runs: a power cut mid-transfer used it up
        job.next_attempt_at = None
        self._save()
        if not supported(job.location):
            log.error("firmware location %s: only http, https and ftp are supported", redacted(job.location))
            job.attempts = job.retries
            self._fail(job, "DownloadFailed")
            return
        try:
            await self.fetch(job.location, self.package)
        except DownloadError as exc:
            log.warning("firmware download attempt %d of %d failed: %s", job.attempts, job.retries, exc)
            if job.attempts >= job.retries:
                self._fail(job, "DownloadFailed")
                return
            job.next_attempt_at = iso_utc(self.clock.now() + timedelta(seconds=job.retry_interval_s))
            self._save()
            return
        self._enter(job, DOWNLOADED, "Downloaded")

    async def _downloaded(self, job: Job) -> None:
        if not self.package.is_file():
            log.warning("the downloaded firmware is gone: downloading it again")
            job.attempts, job.next_attempt_at = 0, None
            self._enter(job, DOWNLOADING, "Downloading")
            return
        if job.signed and not self._signature_ok(job):
            return
        checked = self._unpack_dir()
        try:
            manifest = await asyncio.to_thread(unpack, self.package, checked)
            if not python_fits(manifest.requires_python):
                raise PackageError(f"the release needs Python {manifest.requires_python}")
        except PackageError as exc:
            log.error("firmware package refused: %s", exc)
            self._fail(job, "InstallVerificationFailed" if job.signed else "InstallationFailed")
            return
        finally:
            shutil.rmtree(checked, ignore_errors=True)
        job.version = manifest.version
        self._enter(job, VERIFIED, "SignatureVerified" if job.signed else None)

    def _signature_ok(self, job: Job) -> bool:
        try:
            certificate = load_certificates(job.signing_certificate or "")[0]
            valid = signature_valid(certificate, job.signature or "", self.package)
        except CertificateError:
            valid = False
        if not valid:
            log.error("firmware signature is not valid")
            self._security_event("InvalidFirmwareSignature", "the signature does not match the downloaded file")
            self._fail(job, "InvalidSignature")
        return valid

    async def _verified(self, job: Job) -> None:
        install_at = parse_iso(job.install_at) if job.install_at else None
        if install_at is not None and install_at > self.clock.now():
            self._enter(job, INSTALL_SCHEDULED, "InstallScheduled")
        else:
            self._enter(job, WAITING_IDLE, None)

    async def _install_scheduled(self, job: Job) -> None:
        await self._until(parse_iso(job.install_at or job.retrieve_at))
        self._enter(job, WAITING_IDLE, None)

    async def _waiting_idle(self, job: Job) -> None:
        await self._idle()
        self._enter(job, INSTALLING, "Installing")

    async def _installing(self, job: Job) -> None:
        self.gate.hold_for_update(True)
        target = Path(job.release_dir) if job.release_dir else None
        # Unpacked and checked again from the downloaded file: the copy checked after the download
        # may have waited on the disk for hours.
        unpacked = self._unpack_dir()
        try:
            manifest = await asyncio.to_thread(unpack, self.package, unpacked)
            if target is None:
                target = self.releases.new_dir(manifest.version)
                job.release_dir = str(target)
                self._save()
            await self.installer.install(unpacked, manifest, target, iso_utc(self.clock.now()))
        except (PackageError, InstallError, OSError) as exc:
            log.error("firmware installation failed: %s", exc)
            if target is not None:
                shutil.rmtree(target, ignore_errors=True)
            self.gate.hold_for_update(False)
            self._fail(job, "InstallationFailed")
            return
        finally:
            shutil.rmtree(unpacked, ignore_errors=True)
        links = self.releases.links()
        job.old_current = str(links.current) if links.current else None
        job.old_previous = str(links.previous) if links.previous else None
        job.origin_python = self.origin_python
        self._enter(job, SWITCHING, None)

    async def _switching(self, job: Job) -> None:
        await self._idle()  # nothing may have started meanwhile: the restart would stop it
        self.releases.switch(Path(job.release_dir or ""))
        job.trial_starts, job.counted_invocation = 0, None
        self._enter(job, TRIAL, "InstallRebooting")
        await self._drain()
        log.warning("firmware %s installed: restarting into it", job.version)
        self.restart("FirmwareUpdate")
        await asyncio.Event().wait()  # until the restart tears this process down

    async def _trial(self, job: Job) -> None:
        if not runs_from(Path(job.release_dir or ""), self.venv):
            log.warning("firmware %s is on trial but this process runs another release", job.version)
            await asyncio.Event().wait()
        remaining = self.settings.trial_timeout_s - (self.clock.monotonic() - self._started)
        waiter = asyncio.ensure_future(self._accepted.wait())
        timer = asyncio.ensure_future(self.clock.sleep(max(0.0, remaining)))
        try:
            await asyncio.wait([waiter, timer], return_when=asyncio.FIRST_COMPLETED)
        finally:
            waiter.cancel()
            timer.cancel()
        if self._accepted.is_set():
            self._confirm(job)
            return
        roll_back(self.state, self.releases,
                  f"not accepted by the CSMS within {self.settings.trial_timeout_s:g} s of starting")
        self._save()
        self._publish()
        await self._drain()
        self.restart("FirmwareRollback")
        await asyncio.Event().wait()

    def _confirm(self, job: Job) -> None:
        log.info("firmware %s accepted by the CSMS: it is permanent", job.version)
        self.state.job = None
        self._notice(job, "Installed")
        self._save()
        self._security_event("FirmwareUpdated", f"version {job.version}")
        for removed in self.releases.prune():
            log.info("removed the old release %s", removed.name)
        self._clean_work()

    # ---- helpers -----------------------------------------------------------------------------

    def _enter(self, job: Job, phase: str, status: str | None) -> None:
        job.phase = phase
        if status is not None:
            self._notice(job, status)
        self._save()

    def _fail(self, job: Job, status: str) -> None:
        """A final failure: the job ends, the running release stays."""
        self.state.job = None
        self._notice(job, status)
        self._save()
        self.gate.hold_for_update(False)
        self._clean_work()

    def _clean_work(self) -> None:
        self.package.unlink(missing_ok=True)
        for leftover in self.settings.work_dir.glob("unpacked-*"):
            shutil.rmtree(leftover, ignore_errors=True)

    def _unpack_dir(self) -> Path:
        """A directory of its own for each unpacking: one a cancelled job's thread may still be
        writing is never shared."""
        return self.settings.work_dir / f"unpacked-{os.getpid()}-{next(self._unpacks)}"

    def _notice(self, job: Job, status: str) -> None:
        if notice(self.state, job, status):
            self._queued.set()
        self._publish()

    def _publish(self) -> None:
        if self.maintenance is not None:
            self.maintenance.firmware = legacy_report(self.state)

    def _save(self) -> None:
        """A state that cannot be written (a full or failing disk) is logged, not raised: charging
        must go on, and a restart resumes from the last state that was written."""
        try:
            self.file.save(self.state)
        except OSError as exc:
            log.error("cannot write the firmware update state %s: %s", self.file.path, exc)

    def _security_event(self, event_type: str, tech_info: str) -> None:
        if self.events is not None:
            self.events.emit(event_type, tech_info)

    async def _until(self, moment: datetime) -> None:
        while (left := (moment - self.clock.now()).total_seconds()) > 0:
            await self.clock.sleep(min(left, MAX_WAIT_STEP_S))

    async def _idle(self) -> None:
        self.gate.hold_for_update(True)
        while self.gate.transactions_running():
            await self.clock.sleep(IDLE_POLL_S)
            self.gate.hold_for_update(True)

    async def _drain(self) -> None:
        """Give the notices queued so far a chance to reach the CSMS before a restart."""
        deadline = self.clock.monotonic() + DRAIN_S
        while self.state.outbox and self.online() and self.clock.monotonic() < deadline:
            await self.clock.sleep(0.1)
