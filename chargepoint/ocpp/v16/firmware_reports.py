"""Tells the CSMS how the firmware update goes, and tells the updater when the CSMS accepted
this process (which ends a release's trial).

Notices wait in the updater's persisted queue, so a status reached offline, or just before a
restart, is sent after the next boot; each is sent once the charge point is accepted (nothing
but BootNotification goes before, OCPP 1.6 §4.2) and removed when the CSMS has answered it."""
from __future__ import annotations

import asyncio
import logging
from typing import TYPE_CHECKING, Any

from ocpp.exceptions import OCPPError
from ocpp.v16 import call

from chargepoint.firmware.state import Notice
from chargepoint.firmware.updater import FirmwareUpdater
from hal.clock import Clock

if TYPE_CHECKING:
    from chargepoint.ocpp.v16.link import V16Link

log = logging.getLogger(__name__)
POLL_S = 0.5  # how often the reporter looks at the link while it waits for acceptance


def render_notice(notice: Notice) -> Any:
    if notice.signed:
        return call.SignedFirmwareStatusNotification(status=notice.status, request_id=notice.request_id)
    return call.FirmwareStatusNotification(status=notice.status)


async def report_firmware(link: V16Link, updater: FirmwareUpdater, clock: Clock) -> None:
    await asyncio.gather(_confirm_acceptance(link, updater, clock), _send_notices(link, updater, clock))


async def _confirm_acceptance(link: V16Link, updater: FirmwareUpdater, clock: Clock) -> None:
    while not link.accepted:
        await clock.sleep(POLL_S)
    updater.csms_accepted()


async def _send_notices(link: V16Link, updater: FirmwareUpdater, clock: Clock) -> None:
    from chargepoint.ocpp.v16.link import LinkDown  # link imports the session, which imports the handlers

    while True:
        notice = await updater.next_notice()
        while not link.online:
            await clock.sleep(POLL_S)
        try:
            await link.request(render_notice(notice))
        except (LinkDown, asyncio.TimeoutError):
            continue  # not delivered: the same notice again once the link is back
        except OCPPError as exc:
            log.warning("the CSMS refused the firmware status %s (%s): dropped", notice.status, exc.code)
        updater.delivered(notice)
