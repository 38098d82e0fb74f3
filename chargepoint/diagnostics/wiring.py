"""Builds the log upload service of a controller: where its logs are, what its summary holds,
where archives wait while they are uploaded."""
from __future__ import annotations

import ssl
from collections.abc import Callable
from typing import TYPE_CHECKING

from chargepoint.diagnostics.archive import LogPart
from chargepoint.diagnostics.logwindow import rotated_files
from chargepoint.diagnostics.service import LogUploads, UploadRequest
from chargepoint.diagnostics.summary import build_summary
from chargepoint.diagnostics.upload import upload_tls
from chargepoint.security.certificates import CertificateUse

if TYPE_CHECKING:
    from chargepoint.app import Controller

WORK_DIR = "outgoing"


def log_uploads_for(c: Controller, security_log: Callable[[], list[LogPart]] | None = None) -> LogUploads:
    from chargepoint.admin import controller_status

    log_file = c.config.logging.file

    def diagnostics_log() -> list[LogPart]:
        return [LogPart("borne.log", rotated_files(log_file))] if log_file is not None else []

    def summary(request: UploadRequest) -> dict[str, object]:
        files = rotated_files(log_file) if log_file is not None else []
        return build_summary(config=c.config, settings=c.settings, store=c.store, status=controller_status(c),
                             maintenance=c.station.maintenance, log_files=files, oldest=request.oldest,
                             latest=request.latest, now=c.clock.now())

    def tls() -> ssl.SSLContext:
        security = c.security
        roots = security.certificates.pem(CertificateUse.CENTRAL_SYSTEM_ROOT) if security is not None else ""
        return upload_tls(roots)

    return LogUploads(c.clock, c.config.chargepoint.id, c.config.storage.path.parent / WORK_DIR,
                      diagnostics_log, summary, security_log=security_log, ssl_context=tls)
