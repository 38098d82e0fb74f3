"""Run-time configuration keys the CSMS can read and change (OCPP 1.6 Core profile names, the
de-facto vocabulary; other protocol versions map their variables onto these).

A key is data: its type, whether it can be written, its default, and what values are accepted.
Changed values are persisted in the store, so they survive restarts."""
from __future__ import annotations

import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from enum import Enum
from typing import Protocol

from chargepoint.store import Store

MEASURANDS = (
    "Energy.Active.Import.Register",
    "Power.Active.Import",
    "Current.Import",
    "Current.Offered",
    "Voltage",
)
PHASED_MEASURANDS = ("Current.Import", "Voltage")
CSL_MAX_ITEMS = 10
LOCAL_LIST_MAX_ENTRIES = 20000
# Every feature profile OCPP 1.6 defines (§9.1.29): the most SupportedFeatureProfiles can hold.
FEATURE_PROFILES = ("Core", "FirmwareManagement", "LocalAuthListManagement", "Reservation", "SmartCharging",
                    "RemoteTrigger")
PHASE_ROTATIONS = ("NotApplicable", "Unknown", "RST", "RTS", "SRT", "STR", "TRS", "TSR")  # OCPP 1.6 §9.1.7
GET_CONFIGURATION_MAX_KEYS = 100
# transactionData of a StopTransaction: Transaction.Begin, at most a day of quarter-hour readings
# (periodic and clock-aligned together), Transaction.End (errata 3.91).
STOP_TXN_MAX_METER_VALUES = 98
# Smart charging bounds: every profile is evaluated at each schedule boundary and for every
# composite schedule, so their number and size are kept small enough for a Pi-class board.
SMART_MAX_STACK_LEVEL = 10
SMART_MAX_PERIODS = 96  # a day in quarter hours
SMART_MAX_PROFILES = 32


class Kind(Enum):
    BOOL = "boolean"
    INT = "integer"
    CSL = "csl"  # comma-separated list
    STRING = "string"  # free text of at most `maximum` characters


@dataclass(frozen=True)
class KeySpec:
    name: str
    kind: Kind
    default: str
    writable: bool = True
    reboot_required: bool = False
    minimum: int | None = None
    maximum: int | None = None
    allowed_items: tuple[str, ...] | None = None  # for CSL keys
    write_only: bool = False  # never disclosed, e.g. by GetConfiguration (AuthorizationKey)
    # For CSL keys: the most items the list may hold, as its [Key]MaxLength key reports (§5.3).
    max_items: int = CSL_MAX_ITEMS
    # For CSL keys with a syntax of their own: the canonical items, or None when unacceptable.
    canonical_items: Callable[[list[str]], list[str] | None] | None = None

    def normalise(self, raw: str) -> str | None:
        """The canonical text for a proposed value, or None when it is not acceptable.
        Values are CiString500 (OCPP 1.6 §6.9), so words are matched in any case."""
        text = raw.strip()
        if self.kind is Kind.BOOL:
            low = text.lower()
            return low if low in ("true", "false") else None
        if self.kind is Kind.INT:
            # Plain ASCII digits only: int() would also take "1_000" and non-ASCII digits.
            if _INTEGER.fullmatch(text) is None:
                return None
            value = int(text)
            if self.minimum is not None and value < self.minimum:
                return None
            if self.maximum is not None and value > self.maximum:
                return None
            return str(value)
        if self.kind is Kind.STRING:
            return text if self.maximum is None or len(text) <= self.maximum else None
        items = [i.strip() for i in text.split(",") if i.strip()] if text else []
        if len(items) > self.max_items:
            return None
        if self.allowed_items is not None:
            known = [_allowed_item(item, self.allowed_items) for item in items]
            if None in known:
                return None
            items = [k for k in known if k is not None]
        if self.canonical_items is not None:
            checked = self.canonical_items(items)
            if checked is None:
                return None
            items = checked
        return ",".join(items)


_INTEGER = re.compile(r"[+-]?[0-9]+")
_ROTATION_ITEM = re.compile(r"([0-9]+)\.([A-Za-z]+)")


def _allowed_item(item: str, allowed: tuple[str, ...]) -> str | None:
    """The allowed spelling of a CSL item, also a phased measurand with its phase ("Voltage.L1")."""
    by_lower = {a.lower(): a for a in allowed}
    if item.lower() in by_lower:
        return by_lower[item.lower()]
    base, dot, phase = item.rpartition(".")
    canonical = by_lower.get(base.lower())
    if dot and canonical in PHASED_MEASURANDS and phase.upper() in ("L1", "L2", "L3"):
        return f"{canonical}.{phase.upper()}"
    return None


def phase_rotation_items(connector_phases: Sequence[int]) -> Callable[[list[str]], list[str] | None]:
    """ConnectorPhaseRotation items are "<connector>.<rotation>" (§9.1.7): connector 0 (grid
    connection to main meter) or an existing connector, each at most once. A single-phase
    connector has no rotation to report, so it takes only NotApplicable or Unknown."""
    by_lower = {r.lower(): r for r in PHASE_ROTATIONS}

    def canonical(items: list[str]) -> list[str] | None:
        out: list[str] = []
        seen: set[int] = set()
        for item in items:
            match = _ROTATION_ITEM.fullmatch(item)
            if match is None:
                return None
            connector, rotation = int(match.group(1)), by_lower.get(match.group(2).lower())
            if rotation is None or connector > len(connector_phases) or connector in seen:
                return None
            if connector > 0 and connector_phases[connector - 1] == 1 and rotation not in ("NotApplicable", "Unknown"):
                return None
            seen.add(connector)
            out.append(f"{connector}.{rotation}")
        return out

    return canonical


def _int(name: str, default: int, minimum: int = 0, maximum: int | None = None, **kw: object) -> KeySpec:
    return KeySpec(name, Kind.INT, str(default), minimum=minimum, maximum=maximum, **kw)  # type: ignore[arg-type]


def _bool(name: str, default: bool, **kw: object) -> KeySpec:
    return KeySpec(name, Kind.BOOL, "true" if default else "false", **kw)  # type: ignore[arg-type]


def _csl(name: str, default: str, items: tuple[str, ...] | None = MEASURANDS, **kw: object) -> KeySpec:
    return KeySpec(name, Kind.CSL, default, allowed_items=items, **kw)  # type: ignore[arg-type]


def core_keys(number_of_connectors: int, heartbeat_interval_s: int, ping_interval_s: int = 30,
              connector_phases: Sequence[int] | None = None, tethered: Sequence[bool] | None = None) -> list[KeySpec]:
    """`connector_phases` and `tethered` describe each connector in order (three-phase sockets
    when not given): they decide ConnectorPhaseRotation and UnlockConnectorOnEVSideDisconnect."""
    phases = tuple(connector_phases) if connector_phases is not None else (3,) * number_of_connectors
    fixed_cables = tuple(tethered) if tethered is not None else (False,) * number_of_connectors
    rotation = ",".join(f"{n}.{'NotApplicable' if p == 1 else 'Unknown'}" for n, p in enumerate(phases, start=1))
    # Errata 3.84: with fixed cables only there is no lock, so the key is read-only and false.
    all_fixed = bool(fixed_cables) and all(fixed_cables)
    return [
        _bool("AuthorizeRemoteTxRequests", True),
        _bool("AuthorizationCacheEnabled", True),
        _bool("AllowOfflineTxForUnknownId", False),
        _int("ClockAlignedDataInterval", 0, maximum=86400),
        _int("ConnectionTimeOut", 60, minimum=1, maximum=3600),
        _int("GetConfigurationMaxKeys", GET_CONFIGURATION_MAX_KEYS, writable=False),
        _int("HeartbeatInterval", heartbeat_interval_s, minimum=1, maximum=86400),
        _bool("LocalAuthorizeOffline", True),
        _bool("LocalPreAuthorize", False),
        _csl("MeterValuesAlignedData", "Energy.Active.Import.Register"),
        _int("MaxEnergyOnInvalidId", 0, maximum=10**9),
        _int("MeterValuesAlignedDataMaxLength", CSL_MAX_ITEMS, writable=False),
        _csl("MeterValuesSampledData", "Energy.Active.Import.Register,Power.Active.Import,Current.Import,Voltage"),
        _int("MeterValuesSampledDataMaxLength", CSL_MAX_ITEMS, writable=False),
        _int("MeterValueSampleInterval", 60, maximum=86400),
        _int("MinimumStatusDuration", 0, maximum=3600),
        _int("NumberOfConnectors", number_of_connectors, writable=False),
        _int("ResetRetries", 1, maximum=10),
        _csl("ConnectorPhaseRotation", rotation, items=None, max_items=len(phases) + 1,
             canonical_items=phase_rotation_items(phases)),
        _int("ConnectorPhaseRotationMaxLength", len(phases) + 1, writable=False),
        _bool("StopTransactionOnEVSideDisconnect", True),
        _bool("StopTransactionOnInvalidId", True),
        _csl("StopTxnAlignedData", ""),
        _int("StopTxnAlignedDataMaxLength", CSL_MAX_ITEMS, writable=False),
        _csl("StopTxnSampledData", "Energy.Active.Import.Register"),
        _int("StopTxnSampledDataMaxLength", CSL_MAX_ITEMS, writable=False),
        _int("StopTransactionMaxMeterValues", STOP_TXN_MAX_METER_VALUES, writable=False),
        _csl("SupportedFeatureProfiles",
             "Core,FirmwareManagement,LocalAuthListManagement,SmartCharging,Reservation,RemoteTrigger",
             items=FEATURE_PROFILES, max_items=len(FEATURE_PROFILES), writable=False),
        _int("SupportedFeatureProfilesMaxLength", len(FEATURE_PROFILES), writable=False),
        _int("TransactionMessageAttempts", 3, minimum=1, maximum=10),
        _int("TransactionMessageRetryInterval", 60, maximum=3600),
        _bool("UnlockConnectorOnEVSideDisconnect", not all_fixed, writable=not all_fixed),
        # Local Auth List Management profile
        _bool("LocalAuthListEnabled", True),
        _int("LocalAuthListMaxLength", LOCAL_LIST_MAX_ENTRIES, writable=False),
        _int("SendLocalListMaxLength", LOCAL_LIST_MAX_ENTRIES, writable=False),
        # Reservation profile
        _bool("ReserveConnectorZeroSupported", True, writable=False),
        # Smart Charging profile: the bounds Borne enforces on charging profiles
        _int("ChargeProfileMaxStackLevel", SMART_MAX_STACK_LEVEL, writable=False),
        _csl("ChargingScheduleAllowedChargingRateUnit", "Current,Power", items=("Current", "Power"), max_items=2,
             writable=False),
        _int("ChargingScheduleMaxPeriods", SMART_MAX_PERIODS, writable=False),
        _int("MaxChargingProfilesInstalled", SMART_MAX_PROFILES, writable=False),
        # Firmware Management profile: what firmware downloads (and diagnostics uploads) speak
        _csl("SupportedFileTransferProtocols", "FTP,HTTP,HTTPS", items=("FTP", "HTTP", "HTTPS"), max_items=3,
             writable=False),
        _int("WebSocketPingInterval", ping_interval_s, maximum=3600),
    ]


class ChangeResult(Enum):
    ACCEPTED = "Accepted"
    REJECTED = "Rejected"
    REBOOT_REQUIRED = "RebootRequired"
    NOT_SUPPORTED = "NotSupported"


Listener = Callable[[str, str], None]


class KeyDelegate(Protocol):
    """A key whose value lives outside the settings table (a secret file, a state machine that
    persists only what worked): it reads and changes the value itself."""

    def read(self) -> str: ...

    def change(self, value: str) -> ChangeResult: ...


class Settings:
    """Typed access to the configuration keys, backed by persisted overrides."""

    def __init__(self, specs: list[KeySpec], store: Store) -> None:
        self._specs = {s.name.lower(): s for s in specs}
        self._order = [s.name for s in specs]
        self._store = store
        self._values = {s.name: s.default for s in specs}
        for key, value in store.load_settings().items():
            spec = self._specs.get(key.lower())
            # A stored value wins over the default (firmware.toml's included) while the key is
            # still writable and the value still acceptable.
            canonical = spec.normalise(value) if spec is not None and spec.writable else None
            if spec is not None and canonical is not None:
                self._values[spec.name] = canonical
        self._listeners: list[Listener] = []
        self._delegates: dict[str, KeyDelegate] = {}

    def delegate(self, name: str, delegate: KeyDelegate) -> None:
        """Hand a key's reading and changing to `delegate` (its listeners are not called)."""
        spec = self._specs[name.lower()]
        self._delegates[spec.name] = delegate

    def on_change(self, listener: Listener) -> None:
        self._listeners.append(listener)

    def spec(self, name: str) -> KeySpec | None:
        return self._specs.get(name.lower())

    def names(self) -> list[str]:
        return list(self._order)

    def raw(self, name: str) -> str:
        spec = self._specs[name.lower()]
        if spec.write_only:
            return ""
        delegate = self._delegates.get(spec.name)
        return delegate.read() if delegate is not None else self._values[spec.name]

    def get_bool(self, name: str) -> bool:
        return self.raw(name) == "true"

    def get_int(self, name: str) -> int:
        return int(self.raw(name))

    def get_list(self, name: str) -> list[str]:
        raw = self.raw(name)
        return raw.split(",") if raw else []

    def change(self, name: str, value: str) -> ChangeResult:
        spec = self.spec(name)
        if spec is None:
            return ChangeResult.NOT_SUPPORTED
        if not spec.writable:
            return ChangeResult.REJECTED
        delegate = self._delegates.get(spec.name)
        if delegate is not None:
            return delegate.change(value)
        canonical = spec.normalise(value)
        if canonical is None:
            return ChangeResult.REJECTED
        self._store.save_setting(spec.name, canonical)
        self._values[spec.name] = canonical
        for listener in self._listeners:
            listener(spec.name, canonical)
        return ChangeResult.REBOOT_REQUIRED if spec.reboot_required else ChangeResult.ACCEPTED
