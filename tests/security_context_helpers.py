"""A SecurityContext on a real configuration file, store and settings, without a controller."""
from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path

from chargepoint.config import load_config
from chargepoint.security.context import SecurityContext
from chargepoint.security.settings_keys import security_keys
from chargepoint.settings import Settings, core_keys
from chargepoint.store import Store
from hal.clock import ManualClock

CP_ID = "SEC-CP-1"
KEY = "00112233445566778899aabbccddeeff"  # 16 bytes in hex: the smallest AuthorizationKey


@dataclass
class Built:
    security: SecurityContext
    settings: Settings
    store: Store
    clock: ManualClock


def write_firmware_toml(directory: Path, ocpp: dict[str, object]) -> Path:
    lines = ['[chargepoint]', f'id = "{CP_ID}"', 'vendor = "Borne"', 'model = "Test"', 'serial_number = "SN-0001"',
             '[ocpp]', 'version = "1.6"', 'csms_url = "ws://127.0.0.1:9/ocpp"']
    for key, value in ocpp.items():
        lines.append(f"{key} = {value}" if isinstance(value, int) else f'{key} = "{value}"')
    lines += ['[board]', 'kind = "sim"', '[storage]', 'path = "run/borne.db"',
              '[[evse]]', 'id = 1', 'max_current_a = 32', 'phases = 3', '[[evse.connector]]', 'id = 1',
              '[sim]', 'control_socket = "run/sim.sock"']
    path = directory / "firmware.toml"
    path.write_text("\n".join(lines) + "\n")
    return path


def build(directory: Path, clock: ManualClock | None = None, **ocpp: object) -> Built:
    """`ocpp` keys go into [ocpp]; files it names are relative to `directory`."""
    config = load_config(write_firmware_toml(directory, ocpp))
    store = Store(config.storage.path)
    settings = Settings(core_keys(1, 300) + security_keys(config.ocpp.security_profile), store)
    clock = clock or ManualClock(datetime.now(timezone.utc))  # the test PKI is valid now
    return Built(SecurityContext(config, store, settings, clock), settings, store, clock)
