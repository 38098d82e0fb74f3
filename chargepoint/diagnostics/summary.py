"""The summary.json of a diagnostics archive: what a support engineer asks first. Versions, the
configuration (firmware.toml and the OCPP keys, secrets masked), the live status of every EVSE
and of the CSMS link, the store's queue and sizes, and which log files were cut."""
from __future__ import annotations

import dataclasses
import platform
import sys
from datetime import datetime
from importlib import metadata
from pathlib import Path
from typing import Any

from chargepoint import __version__
from chargepoint.config import Config
from chargepoint.diagnostics.redact import redact_tree
from chargepoint.maintenance import MaintenanceStatus
from chargepoint.settings import Settings
from chargepoint.store import Store
from chargepoint.timeutil import iso_utc

PACKAGES = ("ocpp", "websockets", "pymodbus", "gpiozero", "smbus2", "pyserial")


def versions() -> dict[str, str]:
    found = {"borne": __version__, "python": sys.version.split()[0], "platform": platform.platform(),
             "machine": platform.machine()}
    for name in PACKAGES:
        try:
            found[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            continue
    return found


def configuration_keys(settings: Settings) -> list[dict[str, Any]]:
    keys = []
    for name in settings.names():
        spec = settings.spec(name)
        keys.append({"key": name, "value": settings.raw(name), "readonly": spec is not None and not spec.writable})
    return [{**k, "value": redact_tree({k["key"]: k["value"]})[k["key"]]} for k in keys]


def store_stats(config: Config, store: Store) -> dict[str, Any]:
    length, oldest = store.outbox_stats()
    database = Path(config.storage.path)
    sizes = {p.name: p.stat().st_size for p in (database, database.with_name(database.name + "-wal")) if p.exists()}
    return {
        "outbox_length": length,
        "outbox_oldest": oldest,
        "open_transactions": len(store.open_transactions()),
        "local_list_version": store.local_list_version(),
        "local_list_entries": store.local_list_count(),
        "file_bytes": sizes,
    }


def file_sizes(files: list[Path]) -> dict[str, int]:
    return {p.name: p.stat().st_size for p in files if p.exists()}


def build_summary(*, config: Config, settings: Settings, store: Store, status: dict[str, Any],
                  maintenance: MaintenanceStatus, log_files: list[Path], oldest: datetime | None,
                  latest: datetime | None, now: datetime) -> dict[str, Any]:
    firmware_toml = redact_tree(dataclasses.asdict(config))
    maintenance_state = {f.name: getattr(maintenance, f.name) for f in dataclasses.fields(maintenance)
                         if not callable(getattr(maintenance, f.name))}
    return {
        "generated_at": iso_utc(now),
        "window": {"oldest": iso_utc(oldest) if oldest else None, "latest": iso_utc(latest) if latest else None},
        "versions": versions(),
        "configuration_keys": configuration_keys(settings),
        "firmware_toml": firmware_toml,
        "status": redact_tree(status),
        "store": store_stats(config, store),
        "maintenance": maintenance_state,
        "log_files": file_sizes(log_files),
    }
