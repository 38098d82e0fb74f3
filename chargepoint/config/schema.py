"""What firmware.toml may contain: each table's keys, their types, limits and defaults, and the
rules that span keys. Builds the model dataclasses; every problem goes to the Checker."""
from __future__ import annotations

import re
from pathlib import Path
from typing import Any, TypeVar
from urllib.parse import urlsplit

from chargepoint.config.model import (
    AuthConfig,
    BoardConfig,
    ChargePointConfig,
    Config,
    ConnectorConfig,
    EvseConfig,
    LoggingConfig,
    OcppConfig,
    SafetyConfig,
    SimConfig,
    StorageConfig,
)
from chargepoint.config.hardware_schema import (
    EVSE_HARDWARE_TABLES,
    TOP_HARDWARE_TABLES,
    board_hardware,
    evse_hardware,
)
from chargepoint.config.firmware_schema import firmware_config
from chargepoint.config.mcu_schema import mcu_config
from chargepoint.config.security_schema import PROFILE_FIX, read_security
from chargepoint.config.validation import Checker, Section, describe, quote
from hal.board import BOARD_KINDS

TABLES = ("chargepoint", "ocpp", "board", "storage", "evse", "auth", "sim", "logging", "safety",
          *TOP_HARDWARE_TABLES, "mcu", "firmware")
CHARGEPOINT_KEYS = ("id", "vendor", "model", "serial_number", "firmware_version")
OCPP_KEYS = (
    "version",
    "csms_url",
    "heartbeat_interval_s",
    "security_profile",
    "password_file",
    "csms_url_tls",
    "ca_file",
    "client_certificate_file",
    "client_key_file",
    "security_dir",
    "response_timeout_s",
    "ping_interval_s",
    "ping_timeout_s",
    "reconnect_min_s",
    "reconnect_max_s",
)
BOARD_KEYS = ("kind", "control_period_ms", "quiet_period_ms")
STORAGE_KEYS = ("path", "admin_socket")
EVSE_KEYS = ("id", "max_current_a", "phases", "nominal_voltage_v", "ventilation", "connector",
             *EVSE_HARDWARE_TABLES)
CONNECTOR_KEYS = ("id", "type")
AUTH_KEYS = ("whitelist", "whitelist_always")
SIM_KEYS = ("control_socket",)
LOGGING_KEYS = ("level", "file", "file_size_kb", "file_count")
SAFETY_KEYS = (
    "overcurrent_time_s",
    "open_on_meter_loss",
    "control_loop_stall_ms",
    "rcm_self_test_interval_h",
    "offline_current_limit_a",
    "offline_after_s",
)

OCPP_VERSIONS = ("1.6",)
CONNECTOR_TYPES = ("Type2Socket", "Type2Cable")
LOG_LEVELS = ("DEBUG", "INFO", "WARNING", "ERROR")

# The id is the last path segment of the OCPP URL, so it must be safe there as it is.
_CHARGEPOINT_ID = re.compile(r"[A-Za-z0-9._-]{1,48}")

_PATH_NOTE = "relative paths start from the directory of the configuration file"
_ID_FIX = (
    "1 to 48 letters, digits, '-', '_' or '.' (it becomes the last segment of the OCPP URL), "
    'e.g. "BORNE-SIM-001"'
)
_VERSION_FIX = '"1.6", quoted (the only OCPP version supported so far; 2.0.1 is not supported yet)'
_URL_FIX = (
    "a ws:// or wss:// URL with a host, without the charge point id (it is appended), "
    'e.g. "ws://127.0.0.1:9000/ocpp"'
)
_CONNECTOR_FIX = (
    "exactly one [[evse.connector]] per [[evse]]: in Mode 3 each connector has its own control pilot, "
    "so a second connector is configured as another [[evse]]"
)
_CISTRING20 = "1 to 20 characters (OCPP 1.6 CiString20)"
_POSITIVE_SECONDS = "a number greater than 0 (seconds)"
_HEARTBEAT_FIX = "an integer of at least 1 (seconds)"
_PING_INTERVAL_FIX = "a number of at least 0 (seconds; 0 turns pings off)"
_RECONNECT_MAX_FIX = "a number of seconds, at least reconnect_min_s (default 1)"
# One period plus the 20 ms CP debounce must stay inside IEC 61851's 50 ms detection budget.
_CONTROL_PERIOD_FIX = "an integer from 1 to 25 (milliseconds)"
_QUIET_PERIOD_FIX = "an integer from 10 to 100 (milliseconds; used only while no EV is plugged in)"
_STORAGE_PATH_FIX = f'the path of the database file, e.g. "run/borne.db"; {_PATH_NOTE}'
_ADMIN_SOCKET_FIX = (
    "the path of the controller's local admin socket (used by `chargepoint status`), "
    f'e.g. "run/admin.sock"; default: admin.sock beside the database; {_PATH_NOTE}'
)
_VENTILATION_FIX = "true where the installation ventilates (state D may charge), else false"
_VOLTAGE_FIX = "a number from 100 to 480 (volts)"
_CONNECTOR_TYPE_FIX = '"Type2Socket" (socket, locked while charging) or "Type2Cable" (tethered cable)'
_SIM_TABLE_FIX = 'a [sim] table with control_socket = "run/sim.sock" (needed when board.kind = "sim")'
_SOCKET_FIX = f'the path of the simulator\'s Unix control socket, e.g. "run/sim.sock"; {_PATH_NOTE}'
_WHITELIST_ALWAYS_FIX = (
    "true (whitelisted tags charge without asking the CSMS) or false (only when the CSMS cannot be asked)"
)
_LOG_FILE_FIX = (
    'the path of the retained log file, e.g. "run/logs/borne.log" (rotated copies get .1, .2... beside it); '
    f"default: logs/borne.log beside the database; {_PATH_NOTE}"
)
_LOG_SIZE_FIX = "an integer from 16 to 102400 (kilobytes per file before it is rotated)"
_LOG_COUNT_FIX = "an integer from 2 to 50 (files kept, the current one included)"
_WHITELIST_FIX = "an array of idTags, each 1 to 20 characters (OCPP 1.6 idTag is CiString20), each listed once"


_T = TypeVar("_T")


def _build(cls: type[_T], **values: Any) -> _T:
    """A model instance whose fields may still be None where an issue was reported; such an
    instance never leaves build_config, which returns None once any issue exists."""
    return cls(**values)


def build_config(checker: Checker, document: dict[str, Any], source: Path) -> Config | None:
    """The validated configuration, or None when the checker holds any issue."""
    root = checker.root(document, TABLES)
    chargepoint = _chargepoint(root)
    ocpp = _ocpp(root)
    board = _board(root)
    storage = _storage(root)
    evse_hardware_by_id: dict[int, Any] = {}
    evses = _evses(root, board.kind, evse_hardware_by_id)
    hardware = board_hardware(root, board.kind, evse_hardware_by_id)
    auth = _auth(root)
    sim = _sim(root, board.kind)
    logging = _logging(root, storage.path)
    safety = _safety(root)
    mcu = mcu_config(root, board.kind)
    firmware = firmware_config(root, storage.path)
    if checker.issues:
        return None
    return Config(source, chargepoint, ocpp, board, storage, evses, auth, sim, logging, safety, hardware, mcu=mcu,
                  firmware=firmware)


def _chargepoint(root: Section) -> ChargePointConfig:
    fix = "a [chargepoint] table with id, vendor and model"
    s = root.table("chargepoint", CHARGEPOINT_KEYS, required=True, fix=fix)
    cp_id = s.string("id", pattern=_CHARGEPOINT_ID, fix=_ID_FIX)
    if cp_id in (".", ".."):
        s.fail("id", f"{quote(cp_id)} would be read as a relative segment of the OCPP URL", _ID_FIX)
        cp_id = None
    return _build(
        ChargePointConfig,
        id=cp_id,
        vendor=s.string("vendor", max_len=20, fix=_CISTRING20 + ', e.g. "Borne"'),
        model=s.string("model", max_len=20, fix=_CISTRING20 + ', e.g. "Borne Sim"'),
        serial_number=s.string("serial_number", default=None, max_len=25, fix=_optional_cistring(25)),
        firmware_version=s.string("firmware_version", default=None, max_len=50, fix=_optional_cistring(50)),
    )


def _optional_cistring(size: int) -> str:
    return f"1 to {size} characters (OCPP 1.6 CiString{size}), or leave the key out"


def _ocpp(root: Section) -> OcppConfig:
    s = root.table("ocpp", OCPP_KEYS, required=True, fix="an [ocpp] table with version and csms_url")
    version = s.string("version", fix=_VERSION_FIX)
    if version is not None and version not in OCPP_VERSIONS:
        unsupported = "OCPP 2.0.1 is not supported yet" if version.startswith("2.0") else "unsupported OCPP version"
        s.fail("version", f"{quote(version)}: {unsupported}", _VERSION_FIX)
        version = None
    url = s.string("csms_url", fix=_URL_FIX)
    if url is not None:
        url = _check_url(s, url)
    profile = s.integer("security_profile", default=0, low=0, high=3, fix=PROFILE_FIX)
    security = read_security(root, s, profile, url)
    reconnect_min = s.number("reconnect_min_s", default=1.0, above=0, fix=_POSITIVE_SECONDS)
    reconnect_max = s.number("reconnect_max_s", default=60.0, above=0, fix=_RECONNECT_MAX_FIX)
    if reconnect_min is not None and reconnect_max is not None and reconnect_max < reconnect_min:
        shown = f"{reconnect_max:g}" if "reconnect_max_s" in s.data else f"{reconnect_max:g} (the default)"
        s.fail("reconnect_max_s", f"{shown} is below reconnect_min_s ({reconnect_min:g})", _RECONNECT_MAX_FIX)
    return _build(
        OcppConfig,
        version=version,
        csms_url=url,
        heartbeat_interval_s=s.integer("heartbeat_interval_s", default=300, low=1, fix=_HEARTBEAT_FIX),
        security_profile=profile,
        response_timeout_s=s.number("response_timeout_s", default=30.0, above=0, fix=_POSITIVE_SECONDS),
        ping_interval_s=s.number("ping_interval_s", default=30.0, low=0, fix=_PING_INTERVAL_FIX),
        ping_timeout_s=s.number("ping_timeout_s", default=20.0, above=0, fix=_POSITIVE_SECONDS),
        reconnect_min_s=reconnect_min,
        reconnect_max_s=reconnect_max,
        **security,
    )


def _check_url(s: Section, url: str) -> str | None:
    """The CSMS URL is used as-is with the charge point id appended, so reject what would break that."""
    if not url.startswith(("ws://", "wss://")):
        s.fail("csms_url", f"{quote(url)} does not start with ws:// or wss://", _URL_FIX)
        return None
    if any(char.isspace() for char in url):
        s.fail("csms_url", f"{quote(url)} contains whitespace", _URL_FIX)
        return None
    parts = urlsplit(url)
    try:
        parts.port
    except ValueError:
        s.fail("csms_url", f"{quote(url)} has an invalid port", _URL_FIX)
        return None
    if not parts.hostname:
        s.fail("csms_url", f"{quote(url)} has no host", _URL_FIX)
        return None
    if parts.query or parts.fragment:
        message = f"{quote(url)} has a query or fragment, but the charge point id is appended to its path"
        s.fail("csms_url", message, _URL_FIX)
        return None
    return url


def _board(root: Section) -> BoardConfig:
    s = root.table("board", BOARD_KEYS, required=True, fix='a [board] table with kind = "sim"')
    kinds = ", ".join(f'"{kind}"' for kind in BOARD_KINDS)
    return _build(
        BoardConfig,
        kind=s.choice("kind", BOARD_KINDS, fix=f"one of: {kinds}"),
        control_period_ms=s.integer("control_period_ms", default=5, low=1, high=25, fix=_CONTROL_PERIOD_FIX),
        quiet_period_ms=s.integer("quiet_period_ms", default=50, low=10, high=100, fix=_QUIET_PERIOD_FIX),
    )


def _storage(root: Section) -> StorageConfig:
    s = root.table("storage", STORAGE_KEYS, required=True, fix='a [storage] table with path = "run/borne.db"')
    path = s.path("path", fix=_STORAGE_PATH_FIX)
    admin = s.path("admin_socket", fix=_ADMIN_SOCKET_FIX, default=None)
    if admin is None and path is not None:
        admin = path.parent / "admin.sock"
    return _build(StorageConfig, path=path, admin_socket=admin)


def _evses(root: Section, board_kind: str | None, hardware: dict[int, Any]) -> tuple[EvseConfig, ...]:
    fix = "at least one [[evse]] table with id, max_current_a, phases and one [[evse.connector]]"
    sections = root.tables("evse", EVSE_KEYS, fix=fix)
    if sections is None:
        if "evse" not in root.data:
            root.fail("evse", "no [[evse]] table", fix)
        return ()
    if not sections:
        root.fail("evse", "the array of EVSEs is empty", fix)
    for number, s in enumerate(sections, start=1):
        hardware[number] = evse_hardware(s, board_kind)
    return tuple(_evse(s, number) for number, s in enumerate(sections, start=1))


def _evse(s: Section, number: int) -> EvseConfig:
    id_fix = f"id = {number}: EVSE ids are 1, 2, 3... in file order and this is [[evse]] number {number}"
    evse_id = s.integer("id", fix=id_fix)
    if evse_id is not None and evse_id != number:
        s.fail("id", f"{evse_id} where {number} was expected", id_fix)
    phases = s.integer("phases", fix="1 or 3")
    if phases is not None and phases not in (1, 3):
        s.fail("phases", f"{phases} phases is not accepted", "1 or 3")
    return _build(
        EvseConfig,
        id=evse_id,
        max_current_a=s.number("max_current_a", low=6, high=80, fix="a number from 6 to 80 (amperes)"),
        phases=phases,
        connectors=_connectors(s),
        nominal_voltage_v=s.number("nominal_voltage_v", default=230.0, low=100, high=480, fix=_VOLTAGE_FIX),
        ventilation=bool(s.boolean("ventilation", default=False, fix=_VENTILATION_FIX)),
    )


def _connectors(evse: Section) -> tuple[ConnectorConfig, ...]:
    sections = evse.tables("connector", CONNECTOR_KEYS, fix=_CONNECTOR_FIX)
    if sections is None:
        if "connector" not in evse.data:
            evse.fail("connector", "this EVSE has no [[evse.connector]]", _CONNECTOR_FIX)
        return ()
    if not sections:
        evse.fail("connector", "this EVSE has no connector", _CONNECTOR_FIX)
    for index in range(1, len(sections)):
        evse.fail(("connector", index), f"connector number {index + 1} on one EVSE", _CONNECTOR_FIX)
    connectors = []
    for s in sections:
        connector_id = s.integer("id", fix="1 (the only connector of its EVSE)")
        if connector_id is not None and connector_id != 1:
            s.fail("id", f"{connector_id} where 1 was expected", "1 (the only connector of its EVSE)")
        connector_type = s.choice("type", CONNECTOR_TYPES, default="Type2Socket", fix=_CONNECTOR_TYPE_FIX)
        connectors.append(_build(ConnectorConfig, id=connector_id, type=connector_type))
    return tuple(connectors)


def _auth(root: Section) -> AuthConfig:
    s = root.table("auth", AUTH_KEYS, required=False)
    tags: list[str] = []
    first_seen: dict[str, int] = {}
    for index, tag in enumerate(s.array("whitelist", fix=_WHITELIST_FIX) or []):
        where = ("whitelist", index)
        if not isinstance(tag, str):
            s.fail(where, f"expected a string, got {describe(tag)}", _WHITELIST_FIX)
        elif not 1 <= len(tag) <= 20:
            s.fail(where, f"{quote(tag)} is {len(tag)} characters long", _WHITELIST_FIX)
        elif tag.casefold() in first_seen:
            s.fail(
                where,
                f"{quote(tag)} repeats whitelist[{first_seen[tag.casefold()]}] (idTags compare case-insensitively)",
                "list each idTag once",
            )
        else:
            first_seen[tag.casefold()] = index
            tags.append(tag)
    always = s.boolean("whitelist_always", default=False, fix=_WHITELIST_ALWAYS_FIX)
    return AuthConfig(whitelist=tuple(tags), whitelist_always=bool(always))


def _sim(root: Section, board_kind: str | None) -> SimConfig | None:
    s = root.table("sim", SIM_KEYS, required=board_kind == "sim", fix=_SIM_TABLE_FIX)
    if not s.present:
        return None
    return _build(SimConfig, control_socket=s.path("control_socket", fix=_SOCKET_FIX))


def _logging(root: Section, database: Path | None) -> LoggingConfig:
    s = root.table("logging", LOGGING_KEYS, required=False)
    levels = ", ".join(LOG_LEVELS)
    level = s.choice("level", LOG_LEVELS, default="INFO", fold_case=True, fix=f"one of {levels} (any case)")
    default_file = database.parent / "logs" / "borne.log" if database is not None else None
    return _build(
        LoggingConfig,
        level=level or "INFO",
        file=s.path("file", default=default_file, fix=_LOG_FILE_FIX),
        file_size_kb=s.integer("file_size_kb", default=1024, low=16, high=102400, fix=_LOG_SIZE_FIX),
        file_count=s.integer("file_count", default=5, low=2, high=50, fix=_LOG_COUNT_FIX),
    )


def _safety(root: Section) -> SafetyConfig:
    s = root.table("safety", SAFETY_KEYS, required=False)
    d = SafetyConfig()
    limit = s.number("offline_current_limit_a", default=None, low=0, high=80,
                     fix="a current from 0 to 80 A (0 stops charging while offline); leave out for no fallback")
    if limit is not None and 0 < limit < 6:
        s.fail("offline_current_limit_a", f"{limit} A cannot be signalled (IEC 61851 offers 6 A at least)",
               "0 (no charging while offline) or a current from 6 to 80 A")
    return SafetyConfig(
        overcurrent_time_s=s.number("overcurrent_time_s", default=d.overcurrent_time_s, low=6, high=60,
                                    fix="seconds from 6 to 60 (the EV gets 5 s to follow a PWM change)"),
        open_on_meter_loss=bool(s.boolean("open_on_meter_loss", default=d.open_on_meter_loss,
                                          fix="true (stop energy when the meter is lost) or false")),
        control_loop_stall_ms=s.integer("control_loop_stall_ms", default=d.control_loop_stall_ms, low=50,
                                        high=5000, fix="milliseconds from 50 to 5000"),
        rcm_self_test_interval_h=s.number("rcm_self_test_interval_h", default=d.rcm_self_test_interval_h,
                                          low=1, high=24, fix="hours from 1 to 24"),
        offline_current_limit_a=limit,
        offline_after_s=s.number("offline_after_s", default=d.offline_after_s, low=0, high=86400,
                                 fix="seconds from 0 to 86400"),
    )
