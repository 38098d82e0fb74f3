"""Validation of the [firmware] table: where releases live, where downloads go, and how an
update is fetched and tried (docs/firmware-update.md). Every path has a default under the state
directory (the database's directory), so a test or a bench box needs no [firmware] table; a
production box points `root` at /opt/borne, which its systemd unit runs."""
from __future__ import annotations

from pathlib import Path

from chargepoint.config.model import FirmwareConfig
from chargepoint.config.validation import Section

FIRMWARE_KEYS = (
    "root",
    "work_dir",
    "state_file",
    "python",
    "unsigned_updates",
    "ca_file",
    "download_timeout_s",
    "max_package_mb",
    "default_retries",
    "default_retry_interval_s",
    "install_timeout_s",
    "trial_timeout_s",
    "max_trial_starts",
)

_NOTE = "relative paths start from the directory of the configuration file"
_ROOT_FIX = (f'the directory holding releases/, current and previous, e.g. "/opt/borne"; '
             f"default: firmware/ beside the database; {_NOTE}")
_WORK_FIX = (f'a writable directory for downloads, e.g. "/var/lib/borne/firmware-work"; '
             f"default: firmware-work/ beside the database; {_NOTE}")
_STATE_FIX = (f'the path of the update state file, e.g. "/var/lib/borne/firmware-update.json"; '
              f"default: beside the database; {_NOTE}")
_PYTHON_FIX = 'the Python >= 3.11 interpreter new releases are built on, e.g. "/usr/bin/python3"; leave out for the one running now'
_CA_FIX = f"a PEM file of the CAs trusted for https:// downloads, or leave out for the system's; {_NOTE}"


def firmware_config(root: Section, database: Path | None) -> FirmwareConfig | None:
    s = root.table("firmware", FIRMWARE_KEYS, required=False)
    state_dir = database.parent if database is not None else None
    release_root = s.path("root", default=state_dir / "firmware" if state_dir else None, fix=_ROOT_FIX)
    work_dir = s.path("work_dir", default=state_dir / "firmware-work" if state_dir else None, fix=_WORK_FIX)
    state_file = s.path("state_file", default=state_dir / "firmware-update.json" if state_dir else None,
                        fix=_STATE_FIX)
    _no_overlap(s, release_root, work_dir)
    if release_root is None or work_dir is None or state_file is None:
        return None
    d = FirmwareConfig(release_root, work_dir, state_file)
    return FirmwareConfig(
        root=release_root,
        work_dir=work_dir,
        state_file=state_file,
        python=s.path("python", default=None, fix=_PYTHON_FIX),
        unsigned_updates=bool(s.boolean(
            "unsigned_updates", default=d.unsigned_updates,
            fix="true (UpdateFirmware is accepted) or false (only SignedUpdateFirmware; UpdateFirmware is "
                "answered NotSupported, as the OCPP 1.6 security whitepaper requires)")),
        ca_file=s.path("ca_file", default=None, fix=_CA_FIX),
        download_timeout_s=s.number("download_timeout_s", default=d.download_timeout_s, low=1, high=3600,
                                    fix="seconds from 1 to 3600 without any data before a download attempt fails"),
        max_package_mb=s.integer("max_package_mb", default=d.max_package_mb, low=1, high=8192,
                                 fix="megabytes from 1 to 8192 (a larger download is abandoned)"),
        default_retries=s.integer("default_retries", default=d.default_retries, low=1, high=100,
                                  fix="download attempts from 1 to 100 when the CSMS does not say"),
        default_retry_interval_s=s.integer("default_retry_interval_s", default=d.default_retry_interval_s,
                                           low=0, high=86400, fix="seconds from 0 to 86400 between attempts "
                                                                  "when the CSMS does not say"),
        install_timeout_s=s.number("install_timeout_s", default=d.install_timeout_s, low=10, high=86400,
                                   fix="seconds from 10 to 86400 for one installation step (venv, pip)"),
        trial_timeout_s=s.number("trial_timeout_s", default=d.trial_timeout_s, low=10, high=86400,
                                 fix="seconds from 10 to 86400 a new release has to be accepted by the CSMS "
                                     "before it is rolled back"),
        max_trial_starts=s.integer("max_trial_starts", default=d.max_trial_starts, low=1, high=20,
                                   fix="starts from 1 to 20 a new release gets before it is rolled back"),
    )


def _no_overlap(s: Section, release_root: Path | None, work_dir: Path | None) -> None:
    """Pruning old releases must never reach the downloads, nor the other way round."""
    if release_root is None or work_dir is None:
        return
    a, b = release_root.resolve(), work_dir.resolve()
    if a == b or a in b.parents or b in a.parents:
        key = "work_dir" if "work_dir" in s.data else "root"
        s.fail(key, f"root ({release_root}) and work_dir ({work_dir}) overlap",
               "two separate directories, neither inside the other")
