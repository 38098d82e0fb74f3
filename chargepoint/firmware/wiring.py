"""Builds the firmware updater of a controller and the jobs that run it. The trust store and the
security events belong to the security context (chargepoint.security); they are looked up when
used, so the two can be wired in any order."""
from __future__ import annotations

import logging
from collections.abc import Coroutine
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any


from chargepoint.firmware import firmware_settings
from chargepoint.firmware.download import DownloadOptions, download
from chargepoint.firmware.installer import VenvInstaller
from chargepoint.firmware.releases import Releases
from chargepoint.firmware.signature import signing_certificate_check
from chargepoint.firmware.updater import FirmwareUpdater
from chargepoint.security.x509_checks import CertificateError
from chargepoint.lazy_modules import lazy

# cryptography is loaded when first used (see chargepoint/lazy_modules.py).
x509 = lazy("cryptography.x509")

if TYPE_CHECKING:
    from chargepoint.app import Controller

log = logging.getLogger(__name__)
MB = 1024 * 1024


class _Events:
    """Security events through the security context, or only the log while there is none."""

    def __init__(self, c: Controller) -> None:
        self.c = c

    def emit(self, event: str, tech_info: str | None = None) -> None:
        security = self.c.link.security
        if security is None:
            log.warning("security event %s: %s (no security context to queue it)", event, tech_info)
            return
        security.events.emit(event, tech_info)


def firmware_updater_for(c: Controller) -> FirmwareUpdater:
    settings = firmware_settings(c.config)
    options = DownloadOptions(settings.download_timeout_s, settings.max_package_mb * MB, settings.ca_file)

    async def fetch(url: str, dest: Path) -> None:
        await download(url, dest, options)

    def check_certificate(pem: str, at: datetime) -> x509.Certificate:
        security = c.link.security
        if security is None:
            raise CertificateError("no ManufacturerRootCertificate store is available")
        return signing_certificate_check(security.certificates)(pem, at)

    installer = VenvInstaller(c.config.source, settings.python, settings.install_timeout_s)
    return FirmwareUpdater(settings, c.clock, Releases(settings.root), installer, fetch, c.station,
                           c.request_restart, check_certificate=check_certificate, events=_Events(c),
                           online=lambda: c.link.online, maintenance=c.station.maintenance)


def firmware_jobs(c: Controller) -> list[Coroutine[Any, Any, None]]:
    from chargepoint.ocpp.v16.firmware_reports import report_firmware

    updater = c.link.firmware
    if updater is None:
        return []
    return [updater.run(), report_firmware(c.link, updater, c.clock)]
