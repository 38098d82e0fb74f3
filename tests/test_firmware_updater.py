"""The firmware update state machine with a manual clock and a fake installer: every transition,
download retries, waiting for the transactions, the trial of the new release with its
confirmation or rollback, and a restart (a power cut) after every persisted step."""
from __future__ import annotations

from pathlib import Path

import pytest

from chargepoint.firmware.state import (
    DOWNLOADED, DOWNLOADING, INSTALLING, SCHEDULED, SWITCHING, TRIAL, VERIFIED, WAITING_IDLE, StateFile,
)
from chargepoint.firmware.updater import IDLE_POLL_S
from firmware_rig import Rig, make_package, settle, until

pytestmark = pytest.mark.timeout(30)

UPDATE = ["Downloading", "Downloaded", "Installing"]


async def installed_and_switched(rig: Rig) -> None:
    """Drive a started update to its restart request."""
    await until(lambda: rig.restarts, "the restart into the new release")


async def test_update_downloads_installs_switches_and_restarts(tmp_path: Path) -> None:
    rig = Rig(tmp_path)
    rig.start()
    assert rig.updater.start(rig.request())
    await installed_and_switched(rig)
    assert rig.notices() == UPDATE
    assert rig.restarts == ["FirmwareUpdate"]
    links = rig.releases.links()
    assert links.current == rig.installer.calls[0].resolve() and links.previous == rig.factory.resolve()
    assert rig.phase() == TRIAL
    assert rig.fetch.calls == ["http://example.test/borne-2.0.tar.gz"]
    assert rig.gate.held  # idle connectors stay Unavailable until the restart
    await rig.stop()


async def test_new_release_confirmed_once_the_csms_accepts_it(tmp_path: Path) -> None:
    rig = Rig(tmp_path)
    (tmp_path / "root" / "releases" / "0.9").mkdir()  # an old leftover
    rig.start()
    rig.updater.start(rig.request())
    await installed_and_switched(rig)
    verdicts = await rig.next_process()
    assert [v.python for v in verdicts] == [None]  # systemd already runs the new release
    assert rig.running == rig.installer.calls[0]
    await rig.advance(30)
    assert rig.phase() == TRIAL and "Installed" not in rig.notices()
    rig.updater.csms_accepted()
    await until(lambda: rig.phase() is None, "the confirmation")
    assert rig.notices() == [*UPDATE, "Installed"]
    assert rig.events.emitted == [("FirmwareUpdated", "version 2.0")]
    assert not (tmp_path / "root" / "releases" / "0.9").exists()  # pruned; current and previous kept
    assert rig.releases.links().previous == rig.factory.resolve()
    assert rig.maintenance.firmware == "Idle"
    await rig.stop()


async def test_download_waits_for_the_retrieve_date(tmp_path: Path) -> None:
    rig = Rig(tmp_path)
    rig.start()
    rig.updater.start(rig.request(retrieve_in_s=3600))
    await rig.advance(3590, step=10)
    assert rig.fetch.calls == [] and rig.phase() == SCHEDULED
    assert rig.notices() == []  # DownloadScheduled exists only for signed updates
    await rig.advance(20, step=10)
    await until(lambda: rig.fetch.calls, "the download")
    await rig.stop()


async def test_download_retries_spaced_by_the_interval_then_fails(tmp_path: Path) -> None:
    rig = Rig(tmp_path)
    rig.fetch.failures = 10
    rig.start()
    rig.updater.start(rig.request(retries=3, retry_interval_s=120))
    await settle()
    assert len(rig.fetch.calls) == 1
    await rig.advance(119)
    assert len(rig.fetch.calls) == 1
    await rig.advance(1)
    assert len(rig.fetch.calls) == 2
    await rig.advance(120)
    assert len(rig.fetch.calls) == 3
    assert rig.notices() == ["Downloading", "DownloadFailed"]
    assert rig.phase() is None and not rig.restarts
    await rig.advance(600, step=60)
    assert len(rig.fetch.calls) == 3
    assert rig.maintenance.firmware == "Idle"
    await rig.stop()


async def test_a_retry_that_succeeds_goes_on(tmp_path: Path) -> None:
    rig = Rig(tmp_path, default_retries=2, default_retry_interval_s=30)
    rig.fetch.failures = 1
    rig.start()
    rig.updater.start(rig.request())  # no retries given: the configured defaults
    await settle()
    assert rig.maintenance.firmware == "Downloading"
    await rig.advance(30)
    await installed_and_switched(rig)
    assert len(rig.fetch.calls) == 2 and rig.notices() == UPDATE
    await rig.stop()


async def test_installation_waits_until_no_transaction_runs(tmp_path: Path) -> None:
    rig = Rig(tmp_path)
    rig.gate.running = True
    rig.start()
    rig.updater.start(rig.request())
    await until(lambda: rig.phase() == WAITING_IDLE, "waiting for the transactions")
    await rig.advance(10 * IDLE_POLL_S)
    assert rig.notices() == ["Downloading", "Downloaded"] and rig.installer.calls == []
    assert rig.gate.held
    rig.gate.running = False
    await rig.advance(IDLE_POLL_S)
    await installed_and_switched(rig)
    assert rig.notices() == UPDATE
    await rig.stop()


async def test_failed_installation_keeps_the_running_release(tmp_path: Path) -> None:
    rig = Rig(tmp_path)
    rig.installer.fail = True
    rig.start()
    rig.updater.start(rig.request())
    await until(lambda: "InstallationFailed" in rig.notices(), "the failure")
    assert rig.notices() == [*UPDATE, "InstallationFailed"]
    assert rig.releases.links().current == rig.factory.resolve() and rig.releases.links().previous is None
    assert not rig.installer.calls[0].exists()
    assert rig.gate.holds[-1] is False and not rig.restarts
    assert not (tmp_path / "work" / "package.tar.gz").exists()
    await rig.stop()


@pytest.mark.parametrize("signed", [False, True])
async def test_package_that_fails_its_checksum_is_not_installed(tmp_path: Path, signed: bool) -> None:
    rig = Rig(tmp_path)
    rig.fetch.package = make_package(tmp_path / "bad", "2.0", tamper=True)
    if signed:
        from test_firmware_signed import sign_for
        request = sign_for(rig, rig.fetch.package)
    else:
        request = rig.request()
    rig.start()
    rig.updater.start(request)
    final = "InstallVerificationFailed" if signed else "InstallationFailed"
    await until(lambda: final in rig.notices(), final)
    assert rig.installer.calls == [] and rig.phase() is None
    await rig.stop()


async def test_trial_not_accepted_in_time_rolls_back(tmp_path: Path) -> None:
    rig = Rig(tmp_path, trial_timeout_s=300)
    rig.start()
    rig.updater.start(rig.request())
    await installed_and_switched(rig)
    new = rig.releases.links().current
    await rig.next_process()
    await rig.advance(299)
    assert rig.restarts == ["FirmwareUpdate"]
    await rig.advance(1)
    assert rig.restarts == ["FirmwareUpdate", "FirmwareRollback"]
    links = rig.releases.links()
    assert links.current == rig.factory.resolve() and links.previous is None
    assert rig.notices()[-1] == "InstallationFailed" and rig.phase() is None
    verdicts = await rig.next_process()  # the previous release again
    assert rig.running == rig.factory and [v.python for v in verdicts] == [None]
    assert rig.notices() == [*UPDATE, "InstallationFailed"]
    rig.releases.prune()
    assert new is not None and not new.exists()
    await rig.stop()


async def test_crash_loop_of_the_new_release_rolls_back(tmp_path: Path) -> None:
    rig = Rig(tmp_path, max_trial_starts=3)
    rig.start()
    rig.updater.start(rig.request())
    await installed_and_switched(rig)
    new = rig.releases.links().current
    # The exec into the new release is the first start, then systemd restarts it after each crash.
    for n, invocation in enumerate(["a", "b", "c"], start=1):
        verdicts = await rig.next_process(invocation)
        assert verdicts[0].python is None and rig.running == new
        assert StateFile(rig.settings.state_file).load().job.trial_starts == n  # type: ignore[union-attr]
    verdicts = await rig.next_process("d")
    assert verdicts[0].rolled_back and rig.running == rig.factory
    assert rig.releases.links().current == rig.factory.resolve()
    assert rig.notices() == [*UPDATE, "InstallationFailed"]
    await rig.stop()


async def test_one_start_counts_once_whoever_checks(tmp_path: Path) -> None:
    """ExecStartPre (the previous release) and ExecStart (the new one) share INVOCATION_ID."""
    rig = Rig(tmp_path, max_trial_starts=1)
    rig.start()
    rig.updater.start(rig.request())
    await installed_and_switched(rig)
    for _ in range(3):
        verdicts = await rig.next_process("same-start")
        assert not verdicts[0].rolled_back
    assert StateFile(rig.settings.state_file).load().job.trial_starts == 1  # type: ignore[union-attr]
    await rig.stop()


async def test_newer_request_replaces_a_download_in_progress(tmp_path: Path) -> None:
    import asyncio
    rig = Rig(tmp_path)
    rig.fetch.gate = asyncio.Event()
    rig.start()
    rig.updater.start(rig.request(location="http://example.test/old.tar.gz"))
    await settle()
    assert rig.updater.can_replace()
    assert rig.updater.start(rig.request(location="http://example.test/new.tar.gz"))
    rig.fetch.gate.set()
    await installed_and_switched(rig)
    assert rig.fetch.calls == ["http://example.test/old.tar.gz", "http://example.test/new.tar.gz"]
    assert rig.notices() == ["Downloading", *UPDATE]
    await rig.stop()


async def test_request_during_installation_is_ignored(tmp_path: Path) -> None:
    import asyncio
    rig = Rig(tmp_path)
    rig.installer.gate = asyncio.Event()
    rig.start()
    rig.updater.start(rig.request())
    await until(lambda: rig.installer.calls, "the installation")
    assert not rig.updater.can_replace()
    assert not rig.updater.start(rig.request(location="http://example.test/other.tar.gz"))
    rig.installer.gate.set()
    await installed_and_switched(rig)
    assert rig.fetch.calls == ["http://example.test/borne-2.0.tar.gz"]
    await rig.stop()


async def test_unsupported_location_fails_without_retrying(tmp_path: Path) -> None:
    rig = Rig(tmp_path)
    rig.start()
    rig.updater.start(rig.request(location="sftp://example.test/borne.tar.gz", retries=5))
    await settle()
    assert rig.notices() == ["Downloading", "DownloadFailed"] and rig.fetch.calls == []
    await rig.stop()


# ---- power cuts: the process dies after any persisted step, the next start carries on -------------


async def _cut_when(rig: Rig, phase: str) -> None:
    await until(lambda: rig.phase() == phase or rig.restarts, f"phase {phase}")
    await rig.stop()


@pytest.mark.parametrize("phase", [SCHEDULED, DOWNLOADING, DOWNLOADED, VERIFIED, WAITING_IDLE, INSTALLING])
async def test_power_cut_before_the_switch_resumes(tmp_path: Path, phase: str) -> None:
    import asyncio
    rig = Rig(tmp_path)
    hold = asyncio.Event()
    # Hold the machine in the phase where it would otherwise pass too fast to be cut.
    if phase == SCHEDULED:
        request = rig.request(retrieve_in_s=60)
    else:
        request = rig.request()
    if phase == DOWNLOADING:
        rig.fetch.gate = hold  # mid-transfer
    elif phase in (DOWNLOADED, VERIFIED):
        rig.gate.running = True  # stops at WAITING_IDLE; the state is rewritten to `phase` below
    elif phase == WAITING_IDLE:
        rig.gate.running = True
    elif phase == INSTALLING:
        rig.installer.gate = hold  # half-built release directory
    rig.start()
    rig.updater.start(request)
    await _cut_when(rig, WAITING_IDLE if phase in (DOWNLOADED, VERIFIED) else phase)
    if phase in (DOWNLOADED, VERIFIED):
        state = StateFile(rig.settings.state_file).load()
        assert state.job is not None
        state.job.phase = phase
        StateFile(rig.settings.state_file).save(state)
    hold.set()
    rig.fetch.gate = rig.installer.gate = None
    rig.gate.running = False  # the power cut ended every transaction (closed with PowerLoss)
    await rig.next_process()
    await rig.advance(60)
    await installed_and_switched(rig)
    await rig.next_process()
    rig.updater.csms_accepted()
    await until(lambda: "Installed" in rig.notices(), "Installed")
    expected = [*UPDATE, "Installed"]
    assert rig.notices() == expected
    assert rig.releases.links().current == rig.installer.calls[-1].resolve()
    assert (rig.installer.calls[-1] / "release.json").exists()
    await rig.stop()


async def test_power_cut_between_install_and_switch_finishes_the_switch_at_start(tmp_path: Path) -> None:
    import asyncio
    rig = Rig(tmp_path)
    rig.installer.gate = asyncio.Event()
    rig.start()
    rig.updater.start(rig.request())
    await until(lambda: rig.installer.calls, "the installation")
    rig.gate.running = True  # a session began during the installation: the switch waits for it
    rig.installer.gate.set()
    await until(lambda: rig.phase() == SWITCHING, "switching")
    await rig.stop()
    rig.gate.running = False
    assert rig.releases.links().current == rig.factory.resolve()
    verdicts = await rig.next_process()  # systemd starts the factory release: it hands over
    assert verdicts[0].python is not None and verdicts[1].python is None
    assert rig.running == rig.installer.calls[0]
    rig.updater.csms_accepted()
    await until(lambda: "Installed" in rig.notices(), "Installed")
    assert rig.notices() == [*UPDATE, "Installed"]
    await rig.stop()


async def test_power_cut_during_the_trial_counts_a_start_and_goes_on(tmp_path: Path) -> None:
    rig = Rig(tmp_path, max_trial_starts=3)
    rig.start()
    rig.updater.start(rig.request())
    await installed_and_switched(rig)
    await rig.next_process()
    await rig.advance(100)
    await rig.next_process()  # power cut, start again: a new trial timer
    job = StateFile(rig.settings.state_file).load().job
    assert job is not None and job.trial_starts == 2
    rig.updater.csms_accepted()
    await until(lambda: "Installed" in rig.notices(), "Installed")
    await rig.stop()


async def test_damaged_state_file_is_set_aside(tmp_path: Path) -> None:
    rig = Rig(tmp_path)
    rig.settings.state_file.write_text("{not json")
    state = StateFile(rig.settings.state_file).load()
    assert state.job is None
    assert rig.settings.state_file.with_name("state.json.damaged").exists()


async def test_new_release_failing_in_its_own_process_rolls_back_at_once(tmp_path: Path) -> None:
    from chargepoint.firmware.boot import restart_argv, trial_failed

    rig = Rig(tmp_path)
    rig.start()
    rig.updater.start(rig.request())
    await installed_and_switched(rig)
    new = rig.releases.links().current
    assert new is not None
    await rig.stop()
    assert not trial_failed(rig.settings, "boom", venv=(rig.factory / "venv").resolve())  # not the one on trial
    assert trial_failed(rig.settings, "the controller failed: boom", venv=(new / "venv").resolve())
    assert rig.releases.links().current == rig.factory.resolve()
    state = StateFile(rig.settings.state_file).load()
    assert state.job is None and [n.status for n in state.outbox] == [*UPDATE, "InstallationFailed"]
    assert restart_argv(rig.settings, ["run"])[0] == str(rig.factory.resolve() / "venv" / "bin" / "python")


async def test_restart_waits_for_the_notices_to_reach_the_csms(tmp_path: Path) -> None:
    from chargepoint.firmware.updater import DRAIN_S

    rig = Rig(tmp_path)
    rig.online = True
    rig.start()
    rig.updater.start(rig.request())
    await until(lambda: rig.phase() == TRIAL, "the switch")
    await rig.advance(1)
    assert not rig.restarts
    while rig.updater.state.outbox:
        rig.updater.delivered(rig.updater.state.outbox[0])
    await rig.advance(0.2, step=0.1)
    assert rig.restarts == ["FirmwareUpdate"]
    await rig.stop()
    # A CSMS that does not answer delays the restart by DRAIN_S at most.
    rig2 = Rig(tmp_path / "second")
    rig2.online = True
    rig2.start()
    rig2.updater.start(rig2.request())
    await until(lambda: rig2.phase() == TRIAL, "the switch")
    await rig2.advance(DRAIN_S, step=0.5)
    assert rig2.restarts == ["FirmwareUpdate"]
    await rig2.stop()
