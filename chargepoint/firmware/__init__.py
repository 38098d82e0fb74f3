"""Firmware updates with A/B releases: packages, downloads, signatures, installation beside the
running release, the switch, the trial of the new release and the rollback
(docs/firmware-update.md). Protocol-neutral: the OCPP adapter maps requests and statuses."""
from __future__ import annotations

from chargepoint.config import Config
from chargepoint.config.model import FirmwareConfig


def firmware_settings(config: Config) -> FirmwareConfig:
    """The [firmware] table, or its defaults beside the database for a hand-built Config."""
    if config.firmware is not None:
        return config.firmware
    state_dir = config.storage.path.parent
    return FirmwareConfig(root=state_dir / "firmware", work_dir=state_dir / "firmware-work",
                          state_file=state_dir / "firmware-update.json")
