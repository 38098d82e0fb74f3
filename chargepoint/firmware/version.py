"""The version of the running release, as BootNotification reports it when the configuration
does not pin one: after an update the CSMS sees the new version without a configuration edit."""
from __future__ import annotations

from functools import cache
from importlib import metadata


@cache
def running_version() -> str | None:
    try:
        version = metadata.version("borne")
    except metadata.PackageNotFoundError:
        return None
    return version[:50]  # BootNotification.firmwareVersion is a CiString50
