"""OCPP 1.6 Firmware Management (UpdateFirmware, §5.19) and the security whitepaper's signed
firmware update (SignedUpdateFirmware, L01). The answer goes out first; the update starts from
the library's `@after` hook, so no status notification can overtake the answer.

With `[firmware] unsigned_updates = false` UpdateFirmware is answered with CALLERROR
NotSupported and starts nothing (L01.FR.20)."""
from __future__ import annotations

from typing import TYPE_CHECKING, Any

from ocpp.exceptions import NotSupportedError, TypeConstraintViolationError
from ocpp.routing import after, on
from ocpp.v16 import call_result
from ocpp.v16.enums import Action

from chargepoint.firmware.updater import FirmwareUpdater, UpdateRequest
from chargepoint.timeutil import parse_iso

if TYPE_CHECKING:
    from datetime import datetime

    from chargepoint.ocpp.v16.link import V16Link


def _date(value: str | None, name: str) -> datetime | None:
    if value is None:
        return None
    try:
        return parse_iso(value)
    except ValueError:
        # The library's schema check does not look at date formats.
        raise TypeConstraintViolationError(details={"cause": f"{name} is not an ISO 8601 date-time"}) from None


class FirmwareOperations:
    """Mixed into the 1.6 session."""

    link: V16Link

    def _updater(self) -> FirmwareUpdater:
        updater = self.link.firmware
        if updater is None:
            raise NotSupportedError(details={"cause": "firmware updates are not available on this charge point"})
        return updater

    def _firmware_pending(self) -> dict[str, tuple[UpdateRequest | None, str | None]]:
        """By message id: the request to start and the certificate problem to report, from the
        answer to the `@after` hook."""
        pending: dict[str, tuple[UpdateRequest | None, str | None]] = \
            self.__dict__.setdefault("_firmware_requests_by_id", {})
        return pending

    @on(Action.update_firmware)
    def on_update_firmware(self, location: str, retrieve_date: str, call_unique_id: str, retries: int | None = None,
                           retry_interval: int | None = None, **_: Any) -> call_result.UpdateFirmware:
        updater = self._updater()
        if not updater.settings.unsigned_updates:
            raise NotSupportedError(details={"cause": "only SignedUpdateFirmware is accepted"})
        retrieve_at = _date(retrieve_date, "retrieveDate")
        assert retrieve_at is not None
        request = UpdateRequest(location, retrieve_at, retries, retry_interval)
        self._firmware_pending()[call_unique_id] = (request, None)
        return call_result.UpdateFirmware()

    @after(Action.update_firmware)
    def after_update_firmware(self, call_unique_id: str, **_: Any) -> None:
        self._start_pending(call_unique_id)

    @on(Action.signed_update_firmware)
    def on_signed_update_firmware(self, request_id: int, firmware: dict[str, Any], call_unique_id: str,
                                  retries: int | None = None, retry_interval: int | None = None,
                                  **_: Any) -> call_result.SignedUpdateFirmware:
        updater = self._updater()
        retrieve_at = _date(firmware.get("retrieve_date_time"), "retrieveDateTime")
        install_at = _date(firmware.get("install_date_time"), "installDateTime")
        assert retrieve_at is not None
        problem = updater.verify_certificate(firmware["signing_certificate"])
        if problem is not None:
            # L01.FR.23/24: checked before accepting; the event follows the answer (L01.FR.02).
            self._firmware_pending()[call_unique_id] = (None, problem)
            return call_result.SignedUpdateFirmware(status="InvalidCertificate")
        if not updater.can_replace():
            return call_result.SignedUpdateFirmware(status="Rejected")  # L01.FR.27: installing already
        status = "AcceptedCanceled" if updater.busy else "Accepted"
        request = UpdateRequest(firmware["location"], retrieve_at, retries, retry_interval, signed=True,
                                request_id=request_id, install_at=install_at,
                                signing_certificate=firmware["signing_certificate"], signature=firmware["signature"])
        self._firmware_pending()[call_unique_id] = (request, None)
        return call_result.SignedUpdateFirmware(status=status)

    @after(Action.signed_update_firmware)
    def after_signed_update_firmware(self, call_unique_id: str, **_: Any) -> None:
        self._start_pending(call_unique_id)

    def _start_pending(self, call_unique_id: str) -> None:
        request, problem = self._firmware_pending().pop(call_unique_id, (None, None))
        updater = self.link.firmware
        if updater is None:
            return
        if problem is not None and updater.events is not None:
            updater.events.emit("InvalidFirmwareSigningCertificate", problem)
        if request is not None:
            updater.start(request)
