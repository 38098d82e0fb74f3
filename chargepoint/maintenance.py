"""What the firmware update and the diagnostics upload are doing now. Whatever runs them sets these
fields; the protocol adapters read them when the CSMS asks (TriggerMessage), so with nothing
running the answer is Idle."""
from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

IDLE = "Idle"

# (status, requestId) a triggered SignedFirmwareStatusNotification reports (security whitepaper L01).
SignedFirmwareReport = Callable[[], "tuple[str, int | None]"]


def idle_signed_firmware() -> tuple[str, int | None]:
    """Until a signed firmware update installs its own report: nothing runs."""
    return IDLE, None


@dataclass
class MaintenanceStatus:
    firmware: str = IDLE  # OCPP 1.6 FirmwareStatus: Downloading, Downloaded, Installing, ...
    diagnostics: str = IDLE  # OCPP 1.6 DiagnosticsStatus: Uploading while a GetDiagnostics upload runs
    log: str = IDLE  # security whitepaper UploadLogStatus: Uploading while a GetLog upload runs
    log_request_id: int | None = None  # the GetLog requestId of that upload
    # Hook for ExtendedTriggerMessage(FirmwareStatusNotification): the signed firmware update
    # replaces it with a function returning its last reported status and requestId.
    signed_firmware_status: SignedFirmwareReport = idle_signed_firmware
