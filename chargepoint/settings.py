"""Run-time configuration keys the CSMS can read and change (OCPP 1.6 Core profile names, the
de-facto vocabulary; other protocol versions map their variables onto these).

A key is data: its type, whether it can be written, its default, and what values are accepted.
Changed values are persisted in the store, so they survive restarts."""
from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from enum import Enum

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


class Kind(Enum):
    BOOL = "boolean"
    INT = "integer"
    CSL = "csl"  # comma-separated list


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

    def normalise(self, raw: str) -> str | None:
        """The canonical text for a proposed value, or None when it is not acceptable."""
        text = raw.strip()
        if self.kind is Kind.BOOL:
            low = text.lower()
            return low if low in ("true", "false") else None
        if self.kind is Kind.INT:
            try:
                value = int(text)
            except ValueError:
                return None
            if self.minimum is not None and value < self.minimum:
                return None
            if self.maximum is not None and value > self.maximum:
                return None
            return str(value)
        items = [i.strip() for i in text.split(",") if i.strip()] if text else []
        if len(items) > CSL_MAX_ITEMS:
            return None
        if self.allowed_items is not None:
            for item in items:
                base, _, phase = item.partition(".L")
                if item in self.allowed_items:
                    continue
                # "Voltage.L1" style: a phased measurand with a phase suffix.
                if phase in ("1", "2", "3") and base in PHASED_MEASURANDS:
                    continue
                return None
        return ",".join(items)


def _int(name: str, default: int, minimum: int = 0, maximum: int | None = None, **kw: object) -> KeySpec:
    return KeySpec(name, Kind.INT, str(default), minimum=minimum, maximum=maximum, **kw)  # type: ignore[arg-type]


def _bool(name: str, default: bool, **kw: object) -> KeySpec:
    return KeySpec(name, Kind.BOOL, "true" if default else "false", **kw)  # type: ignore[arg-type]


def _csl(name: str, default: str, items: tuple[str, ...] | None = MEASURANDS) -> KeySpec:
    return KeySpec(name, Kind.CSL, default, allowed_items=items)


def core_keys(number_of_connectors: int, heartbeat_interval_s: int, ping_interval_s: int = 30) -> list[KeySpec]:
    return [
        _bool("AuthorizeRemoteTxRequests", True),
        _bool("AuthorizationCacheEnabled", True),
        _bool("AllowOfflineTxForUnknownId", False),
        _int("ClockAlignedDataInterval", 0, maximum=86400),
        _int("ConnectionTimeOut", 60, minimum=1, maximum=3600),
        _int("GetConfigurationMaxKeys", 100, writable=False),
        _int("HeartbeatInterval", heartbeat_interval_s, minimum=1, maximum=86400),
        _bool("LocalAuthorizeOffline", True),
        _bool("LocalPreAuthorize", False),
        _csl("MeterValuesAlignedData", "Energy.Active.Import.Register"),
        _int("MaxEnergyOnInvalidId", 0, maximum=10**9),
        _int("MeterValuesAlignedDataMaxLength", CSL_MAX_ITEMS, writable=False),
        _csl("MeterValuesSampledData", "Energy.Active.Import.Register,Power.Active.Import,Current.Import,Voltage"),
        _int("MeterValuesSampledDataMaxLength", CSL_MAX_ITEMS, writable=False),
        _int("MeterValueSampleInterval", 60, maximum=86400),
        _int("NumberOfConnectors", number_of_connectors, writable=False),
        _int("ResetRetries", 1, maximum=10),
        _csl("ConnectorPhaseRotation", "0.RST", items=None),
        _int("ConnectorPhaseRotationMaxLength", CSL_MAX_ITEMS, writable=False),
        _bool("StopTransactionOnEVSideDisconnect", True),
        _bool("StopTransactionOnInvalidId", True),
        _csl("StopTxnAlignedData", ""),
        _int("StopTxnAlignedDataMaxLength", CSL_MAX_ITEMS, writable=False),
        _csl("StopTxnSampledData", "Energy.Active.Import.Register"),
        _int("StopTxnSampledDataMaxLength", CSL_MAX_ITEMS, writable=False),
        KeySpec("SupportedFeatureProfiles", Kind.CSL, "Core,LocalAuthListManagement", writable=False),
        _int("TransactionMessageAttempts", 3, minimum=1, maximum=10),
        _int("TransactionMessageRetryInterval", 60, minimum=1, maximum=3600),
        _bool("UnlockConnectorOnEVSideDisconnect", True),
        # Local Auth List Management profile
        _bool("LocalAuthListEnabled", True),
        _int("LocalAuthListMaxLength", LOCAL_LIST_MAX_ENTRIES, writable=False),
        _int("SendLocalListMaxLength", LOCAL_LIST_MAX_ENTRIES, writable=False),
        _int("WebSocketPingInterval", ping_interval_s, maximum=3600),
    ]


class ChangeResult(Enum):
    ACCEPTED = "Accepted"
    REJECTED = "Rejected"
    REBOOT_REQUIRED = "RebootRequired"
    NOT_SUPPORTED = "NotSupported"


Listener = Callable[[str, str], None]


class Settings:
    """Typed access to the configuration keys, backed by persisted overrides."""

    def __init__(self, specs: list[KeySpec], store: Store) -> None:
        self._specs = {s.name.lower(): s for s in specs}
        self._order = [s.name for s in specs]
        self._store = store
        self._values = {s.name: s.default for s in specs}
        for key, value in store.load_settings().items():
            spec = self._specs.get(key.lower())
            if spec is not None and spec.writable and spec.normalise(value) is not None:
                self._values[spec.name] = value
        self._listeners: list[Listener] = []

    def on_change(self, listener: Listener) -> None:
        self._listeners.append(listener)

    def spec(self, name: str) -> KeySpec | None:
        return self._specs.get(name.lower())

    def names(self) -> list[str]:
        return list(self._order)

    def raw(self, name: str) -> str:
        spec = self._specs[name.lower()]
        return self._values[spec.name]

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
        canonical = spec.normalise(value)
        if canonical is None:
            return ChangeResult.REJECTED
        self._store.save_setting(spec.name, canonical)
        self._values[spec.name] = canonical
        for listener in self._listeners:
            listener(spec.name, canonical)
        return ChangeResult.REBOOT_REQUIRED if spec.reboot_required else ChangeResult.ACCEPTED
