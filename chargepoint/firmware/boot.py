"""The start-up side of an update, run before anything else of the controller (and, from the
previous release, as the unit's ExecStartPre: `chargepoint firmware boot-check`).

A release on trial gets `max_trial_starts` starts. Each start counts once: under systemd the
unit's INVOCATION_ID tells one start from the next (ExecStartPre and ExecStart of one start share
it), elsewhere every process start counts. One start too many, whatever made the earlier ones
fail (a crash at import, the watchdog, a power cut), and the previous release is restored.
The check also finishes a switch a power cut interrupted, and says when this process is not the
release it should be, so that the caller replaces itself (exec) with the right one."""
from __future__ import annotations

import logging
import os
import sys
from dataclasses import dataclass
from pathlib import Path

from chargepoint.config.model import FirmwareConfig
from chargepoint.firmware.releases import Releases, running_venv, runs_from
from chargepoint.firmware.state import SWITCHING, TRIAL, StateFile
from chargepoint.firmware.transitions import notice, roll_back

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class StartVerdict:
    python: str | None = None  # the interpreter this process should be replaced by, if any
    rolled_back: bool = False
    trial_starts: int | None = None  # the starts of the release on trial so far, if one is


def startup_check(settings: FirmwareConfig, invocation_id: str | None = None,
                  venv: Path | None = None) -> StartVerdict:
    venv = venv or running_venv()
    file = StateFile(settings.state_file)
    state = file.load()
    releases = Releases(settings.root)
    job = state.job
    resume, state.resume_python = state.resume_python, None
    changed = resume is not None
    if job is not None and job.phase == SWITCHING and job.release_dir:
        log.warning("finishing the switch to firmware %s interrupted by a restart", job.version)
        releases.switch(Path(job.release_dir))
        job.phase, job.trial_starts, job.counted_invocation = TRIAL, 0, None
        notice(state, job, "InstallRebooting")
        changed = True
    if job is not None and job.phase == TRIAL:
        if invocation_id is None or invocation_id != job.counted_invocation:
            job.trial_starts += 1
            job.counted_invocation = invocation_id
            changed = True
            log.warning("firmware %s on trial: start %d (%d allowed)", job.version, job.trial_starts,
                        settings.max_trial_starts)
        if job.trial_starts > settings.max_trial_starts:
            roll_back(state, releases, f"it did not come up in {settings.max_trial_starts} starts")
            resume, state.resume_python = state.resume_python, None
            file.save(state)
            return StartVerdict(python=_other(resume or _python(releases), venv), rolled_back=True)
    if changed:
        file.save(state)
    if job is not None and job.phase == TRIAL:
        python = None if runs_from(Path(job.release_dir or ""), venv) else _other(_python(releases), venv)
        return StartVerdict(python=python, trial_starts=job.trial_starts)
    return StartVerdict(python=_other(resume, venv))


def trial_failed(settings: FirmwareConfig, why: str, venv: Path | None = None) -> bool:
    """The release on trial failed in this very process: roll back now rather than wait for
    the start count. True when it was rolled back (restart with restart_argv then)."""
    file = StateFile(settings.state_file)
    state = file.load()
    job = state.job
    if job is None or job.phase != TRIAL or not runs_from(Path(job.release_dir or ""), venv or running_venv()):
        return False
    roll_back(state, Releases(settings.root), why)
    file.save(state)
    return True


def restart_argv(settings: FirmwareConfig, args: list[str]) -> list[str]:
    """How the controller restarts (Reset, update, rollback): the interpreter of the current
    release when there is one, else the interpreter a rollback asked for, else this one."""
    python = _python(Releases(settings.root)) or StateFile(settings.state_file).load().resume_python \
        or sys.executable
    return [python, "-m", "chargepoint", *args]


def _python(releases: Releases) -> str | None:
    python = releases.python()
    return str(python) if python is not None else None


def _other(python: str | None, venv: Path) -> str | None:
    """`python`, unless it is this process's own interpreter (no exec loop)."""
    if python is None:
        return None
    candidate = Path(python)
    if os.path.realpath(candidate.parent.parent) == str(venv):
        return None
    return python
