"""The messages of the security whitepaper that the charge point sends: SecurityEventNotification
from the durable queue, and SignCertificate when a certificate is to be made (A02, A03).

`request_sign_certificate(link)` is what ExtendedTriggerMessage(SignChargePointCertificate) calls
after its answer went out; `sign_certificate_possible(link)` says beforehand whether it can."""
from __future__ import annotations

import asyncio
import logging
from typing import TYPE_CHECKING, Any

from ocpp.exceptions import OCPPError
from ocpp.v16 import call

from chargepoint.security.events import NOTIFICATION_KIND, SecurityEvent

if TYPE_CHECKING:
    from chargepoint.ocpp.v16.link import V16Link

log = logging.getLogger(__name__)

RENEWAL_CHECK_S = 3600.0


def security_workers(link: V16Link) -> list[Any]:
    """Coroutines that run while the CSMS has accepted the charge point (one connection)."""
    if link.security is None:
        return []
    return [send_security_events(link), renew_certificate_when_due(link)]


async def send_security_events(link: V16Link) -> None:
    """Each queued event, oldest first, until the CSMS acknowledged it (A04.FR.02). A CALLERROR
    counts as an attempt (TransactionMessageAttempts, TransactionMessageRetryInterval x attempts)
    so that a CSMS without the security extension cannot block the queue forever."""
    from chargepoint.ocpp.v16.link import LinkDown  # link imports the session, which imports this

    security = link.security
    assert security is not None
    store = link.store
    while True:
        item = store.notification_head(NOTIFICATION_KIND)
        if item is None:
            security.events_queued.clear()
            await security.events_queued.wait()
            continue
        payload = item.payload
        request = call.SecurityEventNotification(type=payload["type"], timestamp=payload["timestamp"],
                                                 tech_info=payload.get("tech_info"))
        try:
            await link.request(request)
        except LinkDown:
            return
        except asyncio.TimeoutError:
            continue
        except OCPPError as exc:
            attempts = store.notification_attempted(item.seq)
            log.warning("CSMS could not process SecurityEventNotification (%s), attempt %d", exc.code, attempts)
            if attempts >= link.settings.get_int("TransactionMessageAttempts"):
                log.error("giving up on SecurityEventNotification %s after %d attempts", payload["type"], attempts)
                store.notification_ack(item.seq)
            else:
                await link.clock.sleep(link.settings.get_int("TransactionMessageRetryInterval") * attempts)
            continue
        store.notification_ack(item.seq)


def sign_certificate_possible(link: V16Link) -> bool:
    """A02/A03 prerequisite: CpoName is set (it becomes the O of the certificate)."""
    return link.security is not None and bool(link.security.cpo_name())


async def request_sign_certificate(link: V16Link) -> bool:
    """Make a new key pair and send its CSR in SignCertificate.req; True when the CSMS answered
    Accepted. The CertificateSigned.req comes later, if the CA signs."""
    from chargepoint.ocpp.v16.link import LinkDown

    security = link.security
    if security is None:
        return False
    csr = security.begin_signing_request()
    if csr is None:
        return False
    try:
        result = await link.request(call.SignCertificate(csr=csr))
    except (LinkDown, asyncio.TimeoutError, OCPPError) as exc:
        log.warning("SignCertificate not delivered: %s", type(exc).__name__)
        return False
    log.info("SignCertificate answered %s", result.status)
    return bool(result.status == "Accepted")


async def renew_certificate_when_due(link: V16Link) -> None:
    """A03: when the charge point certificate expires within a month, ask for a new one, once
    per certificate (a CA that does not answer is an operator's matter, not a retry loop)."""
    security = link.security
    assert security is not None
    while True:
        if security.renewal_due():
            security.renewal_requested()
            await request_sign_certificate(link)
        security.renewal_check.clear()
        waits = [asyncio.ensure_future(security.renewal_check.wait()),
                 asyncio.ensure_future(link.clock.sleep(RENEWAL_CHECK_S))]
        try:
            await asyncio.wait(waits, return_when=asyncio.FIRST_COMPLETED)
        finally:
            for wait in waits:
                wait.cancel()


def report_invalid_message(link: V16Link, description: str) -> None:
    """A frame that is not valid OCPP: once per connection, so a babbling CSMS is one event.
    Called from the receive loop, which must survive anything: a failure here is only logged."""
    security = getattr(link, "security", None)
    if security is None:
        return
    try:
        security.events.emit(SecurityEvent.INVALID_MESSAGES, description, once_per_connection=True)
    except Exception:
        log.exception("could not record an InvalidMessages security event")
