"""The update state machine's memory: one small JSON file, replaced atomically (write, fsync,
rename, fsync the directory) at every step, so a power cut at any moment leaves either the step
before or the step after, and the next start carries on from there."""
from __future__ import annotations

import json
import logging
import os
from dataclasses import asdict, dataclass, field, fields
from pathlib import Path
from typing import Any

log = logging.getLogger(__name__)

# Phases of a job, in the order they are normally passed.
SCHEDULED = "scheduled"  # waiting for retrieveDate
DOWNLOADING = "downloading"  # attempts so far in `attempts`; between attempts `next_attempt_at`
DOWNLOADED = "downloaded"  # the package is in the work directory, nothing checked yet
VERIFIED = "verified"  # signature (signed updates) and manifest checked
INSTALL_SCHEDULED = "install_scheduled"  # waiting for installDateTime (signed updates)
WAITING_IDLE = "waiting_idle"  # waiting for the transactions to end; idle connectors held
INSTALLING = "installing"  # building the release beside the running one
SWITCHING = "switching"  # links being switched; old targets recorded for a rollback
TRIAL = "trial"  # the new release runs, not yet accepted by the CSMS
PHASES = (SCHEDULED, DOWNLOADING, DOWNLOADED, VERIFIED, INSTALL_SCHEDULED, WAITING_IDLE, INSTALLING,
          SWITCHING, TRIAL)
# Up to here a newer request may still replace the job (L01.FR.26); later ones it may not.
CANCELLABLE = (SCHEDULED, DOWNLOADING, DOWNLOADED, VERIFIED, INSTALL_SCHEDULED, WAITING_IDLE)

MAX_QUEUED_NOTICES = 50


@dataclass
class Job:
    """One firmware update, from the request to the confirmed (or rolled back) release."""

    location: str
    retrieve_at: str  # ISO 8601 UTC
    retries: int  # download attempts in all, at least 1
    retry_interval_s: int
    signed: bool = False
    request_id: int | None = None
    install_at: str | None = None  # signed updates only
    signing_certificate: str | None = None
    signature: str | None = None
    phase: str = SCHEDULED
    attempts: int = 0
    next_attempt_at: str | None = None
    version: str | None = None  # from the package manifest
    release_dir: str | None = None  # where the release is installed
    old_current: str | None = None  # link targets before the switch, restored by a rollback
    old_previous: str | None = None
    origin_python: str | None = None  # the interpreter to return to when no release was current
    trial_starts: int = 0
    counted_invocation: str | None = None  # the systemd start already counted


@dataclass
class Notice:
    """A status notification waiting for the CSMS's answer."""

    status: str
    signed: bool = False
    request_id: int | None = None


@dataclass
class UpdateState:
    job: Job | None = None
    outbox: list[Notice] = field(default_factory=list)
    last_status: str = "Idle"  # the last status notified, for triggered reports
    last_signed: bool = False
    last_request_id: int | None = None
    resume_python: str | None = None  # after a rollback to no release: the interpreter to restart


class StateFile:
    def __init__(self, path: Path) -> None:
        self.path = Path(path)

    def load(self) -> UpdateState:
        """The persisted state; a damaged file is moved aside (an update in flight is lost, the
        running release stays) rather than stopping the charge point."""
        try:
            raw = json.loads(self.path.read_text())
            return _from_json(raw)
        except FileNotFoundError:
            return UpdateState()
        except (OSError, ValueError, TypeError, KeyError) as exc:
            aside = self.path.with_name(self.path.name + ".damaged")
            log.error("firmware update state %s is unreadable (%s); moved to %s", self.path, exc, aside)
            try:
                os.replace(self.path, aside)
            except OSError:
                pass
            return UpdateState()

    def save(self, state: UpdateState) -> None:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        tmp = self.path.with_name(f".{self.path.name}.{os.getpid()}.tmp")
        data = json.dumps(asdict(state), indent=1, sort_keys=True).encode()
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o640)
        try:
            os.write(fd, data)
            os.fsync(fd)
        finally:
            os.close(fd)
        os.replace(tmp, self.path)
        fsync_dir(self.path.parent)


def fsync_dir(path: Path) -> None:
    """A rename is durable only once its directory is."""
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def _known(cls: type, raw: dict[str, Any]) -> dict[str, Any]:
    """Fields this release knows; a newer release's extra fields are ignored, not fatal."""
    names = {f.name for f in fields(cls)}
    return {k: v for k, v in raw.items() if k in names}


def _from_json(raw: dict[str, Any]) -> UpdateState:
    job_raw = raw.get("job")
    job = Job(**_known(Job, job_raw)) if isinstance(job_raw, dict) else None
    if job is not None and job.phase not in PHASES:
        log.error("firmware update in unknown phase %r is dropped", job.phase)
        job = None
    outbox = [Notice(**_known(Notice, n)) for n in raw.get("outbox", []) if isinstance(n, dict)]
    rest = _known(UpdateState, raw)
    rest.pop("job", None)
    rest.pop("outbox", None)
    return UpdateState(job=job, outbox=outbox, **rest)
