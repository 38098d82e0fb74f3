"""State changes shared by the running updater and the start-up check: what a status notice
does to the state, and the rollback. Both act on the persisted state only, so whichever process
gets there first (the new release, or the previous one's start-up check) does the same thing."""
from __future__ import annotations

import logging
from pathlib import Path

from chargepoint.firmware.releases import Releases
from chargepoint.firmware.state import MAX_QUEUED_NOTICES, Job, Notice, UpdateState

log = logging.getLogger(__name__)

IDLE = "Idle"
# OCPP 1.6 FirmwareStatus; the signed statuses (whitepaper FirmwareStatusEnumType) add the others.
LEGACY_STATUSES = frozenset({"Downloaded", "DownloadFailed", "Downloading", "Idle", "InstallationFailed",
                             "Installing", "Installed"})
SIGNED_STATUSES = LEGACY_STATUSES | {"DownloadScheduled", "DownloadPaused", "InstallRebooting",
                                     "InstallScheduled", "InstallVerificationFailed", "InvalidSignature",
                                     "SignatureVerified"}


def notice(state: UpdateState, job: Job, status: str) -> bool:
    """Queue `status` for the CSMS when the job's kind of notification has it; True if queued."""
    allowed = SIGNED_STATUSES if job.signed else LEGACY_STATUSES
    if status not in allowed:
        return False
    state.outbox.append(Notice(status, job.signed, job.request_id))
    del state.outbox[:-MAX_QUEUED_NOTICES]
    state.last_status = status
    state.last_signed = job.signed
    state.last_request_id = job.request_id
    return True


def roll_back(state: UpdateState, releases: Releases, why: str) -> None:
    """Put the links back as they were before the switch and end the job with InstallationFailed.
    The caller saves the state and restarts into the restored release."""
    job = state.job
    if job is None:
        return
    log.error("firmware %s is rolled back: %s", job.version, why)
    old_current = Path(job.old_current) if job.old_current else None
    old_previous = Path(job.old_previous) if job.old_previous else None
    releases.restore(old_current, old_previous)
    if old_current is None:
        # No release was current before: go back to the interpreter the update came from.
        state.resume_python = job.origin_python
    notice(state, job, "InstallationFailed")
    state.job = None


def legacy_report(state: UpdateState) -> str:
    """What TriggerMessage(FirmwareStatusNotification) reports: the status of the update in
    progress, Idle when none is (OCPP 1.6 §4.5)."""
    job = state.job
    if job is None or job.signed or state.last_signed or state.last_status not in LEGACY_STATUSES:
        return IDLE
    return state.last_status


def signed_report(state: UpdateState) -> tuple[str, int | None]:
    """What ExtendedTriggerMessage(FirmwareStatusNotification) reports: the last status sent
    for a signed update, or Idle after Installed or when there was none (L01.FR.28/29)."""
    if not state.last_signed or state.last_status == "Installed":
        return IDLE, None
    return state.last_status, state.last_request_id
