"""The configuration key audit (docs/ocpp16.md, "Configuration keys") checked against the settings
registry: every key of OCPP 1.6 chapter 9 for the supported profiles exists with the access and
type the table gives, takes the values it should, refuses the others unchanged, keeps what was
accepted over a reopened database; the optional keys Borne does not offer are unknown."""
from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from types import SimpleNamespace

import pytest
from ocpp.exceptions import OccurenceConstraintViolationError

from chargepoint.ocpp.v16.handlers import CsmsOperations
from chargepoint.settings import ChangeResult, Kind, Settings, core_keys
from chargepoint.store import Store

DOCS = Path(__file__).resolve().parent.parent / "docs" / "ocpp16.md"


@dataclass(frozen=True)
class Key:
    name: str
    access: str  # "R" or "RW", as Borne implements it
    kind: Kind
    default: str
    accepted: tuple[tuple[str, str], ...] = ()  # (value sent, value stored)
    rejected: tuple[str, ...] = field(default=())


B, I, C = Kind.BOOL, Kind.INT, Kind.CSL
BOOL_OK = (("true", "true"), ("FALSE", "false"), (" True ", "true"))
BOOL_BAD = ("yes", "1", "", "truee")
NOT_INT = ("abc", "1.5", "", "1e3", "1_000", "٣", "0x10")
SAMPLED = "Energy.Active.Import.Register,Power.Active.Import,Current.Import,Voltage"
MEASURAND_OK = (("Voltage.L1,current.import", "Voltage.L1,Current.Import"), ("", ""),
                ("Energy.Active.Import.Register , Current.Offered", "Energy.Active.Import.Register,Current.Offered"))
MEASURAND_BAD = ("Temperature", "Power.Factor", "Voltage.L4", "Power.Active.Import.L1", ",".join(["Voltage"] * 11))

# Two connectors: the first three-phase, the second single-phase (see `settings` below).
AUDIT: tuple[Key, ...] = (
    # Core
    Key("AllowOfflineTxForUnknownId", "RW", B, "false", BOOL_OK, BOOL_BAD),
    Key("AuthorizationCacheEnabled", "RW", B, "true", BOOL_OK, BOOL_BAD),
    Key("AuthorizeRemoteTxRequests", "RW", B, "true", BOOL_OK, BOOL_BAD),
    Key("ClockAlignedDataInterval", "RW", I, "0", (("900", "900"), ("0", "0"), ("86400", "86400")),
        ("-1", "86401", *NOT_INT)),
    Key("ConnectionTimeOut", "RW", I, "60", (("1", "1"), ("+30", "30"), ("3600", "3600")), ("0", "-5", "3601", *NOT_INT)),
    Key("ConnectorPhaseRotation", "RW", C, "1.Unknown,2.NotApplicable",
        (("0.RST, 1.RST, 2.NotApplicable", "0.RST,1.RST,2.NotApplicable"), ("1.tsr", "1.TSR"), ("2.Unknown", "2.Unknown"),
         ("", "")),
        ("1.XYZ", "3.RST", "1.RST,1.RTS", "2.RST", "RST", "1:RST", "1.RST,2.Unknown,0.RST,0.RST")),
    Key("ConnectorPhaseRotationMaxLength", "R", I, "3"),
    Key("GetConfigurationMaxKeys", "R", I, "100"),
    Key("HeartbeatInterval", "RW", I, "300", (("1", "1"), ("60", "60"), ("86400", "86400")), ("0", "-1", "86401", *NOT_INT)),
    Key("LocalAuthorizeOffline", "RW", B, "true", BOOL_OK, BOOL_BAD),
    Key("LocalPreAuthorize", "RW", B, "false", BOOL_OK, BOOL_BAD),
    Key("MaxEnergyOnInvalidId", "RW", I, "0", (("0", "0"), ("5000", "5000")), ("-1", *NOT_INT)),
    Key("MeterValuesAlignedData", "RW", C, "Energy.Active.Import.Register", MEASURAND_OK, MEASURAND_BAD),
    Key("MeterValuesAlignedDataMaxLength", "R", I, "10"),
    Key("MeterValuesSampledData", "RW", C, SAMPLED, MEASURAND_OK, MEASURAND_BAD),
    Key("MeterValuesSampledDataMaxLength", "R", I, "10"),
    Key("MeterValueSampleInterval", "RW", I, "60", (("0", "0"), ("15", "15"), ("86400", "86400")), ("-1", "86401", *NOT_INT)),
    Key("MinimumStatusDuration", "RW", I, "0", (("0", "0"), ("5", "5"), ("3600", "3600")), ("-1", "3601", *NOT_INT)),
    Key("NumberOfConnectors", "R", I, "2"),
    Key("ResetRetries", "RW", I, "1", (("0", "0"), ("3", "3"), ("10", "10")), ("-1", "11", *NOT_INT)),
    Key("StopTransactionMaxMeterValues", "R", I, "98"),
    Key("StopTransactionOnEVSideDisconnect", "RW", B, "true", BOOL_OK, BOOL_BAD),
    Key("StopTransactionOnInvalidId", "RW", B, "true", BOOL_OK, BOOL_BAD),
    Key("StopTxnAlignedData", "RW", C, "", MEASURAND_OK, MEASURAND_BAD),
    Key("StopTxnAlignedDataMaxLength", "R", I, "10"),
    Key("StopTxnSampledData", "RW", C, "Energy.Active.Import.Register", MEASURAND_OK, MEASURAND_BAD),
    Key("StopTxnSampledDataMaxLength", "R", I, "10"),
    Key("SupportedFeatureProfiles", "R", C,
        "Core,FirmwareManagement,LocalAuthListManagement,SmartCharging,Reservation,RemoteTrigger"),
    Key("SupportedFeatureProfilesMaxLength", "R", I, "6"),
    Key("TransactionMessageAttempts", "RW", I, "3", (("1", "1"), ("10", "10")), ("0", "-1", "11", *NOT_INT)),
    Key("TransactionMessageRetryInterval", "RW", I, "60", (("0", "0"), ("3600", "3600")), ("-1", "3601", *NOT_INT)),
    Key("UnlockConnectorOnEVSideDisconnect", "RW", B, "true", BOOL_OK, BOOL_BAD),
    Key("WebSocketPingInterval", "RW", I, "30", (("0", "0"), ("10", "10"), ("3600", "3600")), ("-1", "3601", *NOT_INT)),
    # Local Auth List Management
    Key("LocalAuthListEnabled", "RW", B, "true", BOOL_OK, BOOL_BAD),
    Key("LocalAuthListMaxLength", "R", I, "20000"),
    Key("SendLocalListMaxLength", "R", I, "20000"),
    # Reservation
    Key("ReserveConnectorZeroSupported", "R", B, "true"),
    # Smart Charging
    Key("ChargeProfileMaxStackLevel", "R", I, "10"),
    Key("ChargingScheduleAllowedChargingRateUnit", "R", C, "Current,Power"),
    Key("ChargingScheduleMaxPeriods", "R", I, "96"),
    Key("MaxChargingProfilesInstalled", "R", I, "32"),
    # Firmware Management
    Key("SupportedFileTransferProtocols", "R", C, "FTP,HTTP,HTTPS"),
)
# Optional keys of chapter 9 and the errata that Borne does not offer (docs/ocpp16.md says why).
NOT_OFFERED = ("BlinkRepeat", "LightIntensity", "MessageTimeout", "ConnectorSwitch3to1PhaseSupported")
# Each CSL key and the key that reports how many items it may hold.
MAX_LENGTH_OF = {
    "MeterValuesAlignedData": "MeterValuesAlignedDataMaxLength",
    "MeterValuesSampledData": "MeterValuesSampledDataMaxLength",
    "StopTxnAlignedData": "StopTxnAlignedDataMaxLength",
    "StopTxnSampledData": "StopTxnSampledDataMaxLength",
    "ConnectorPhaseRotation": "ConnectorPhaseRotationMaxLength",
    "SupportedFeatureProfiles": "SupportedFeatureProfilesMaxLength",
}


def keys(connector_phases: tuple[int, ...] = (3, 1), tethered: tuple[bool, ...] = (False, False)) -> list:
    return core_keys(len(connector_phases), heartbeat_interval_s=300, ping_interval_s=30,
                     connector_phases=connector_phases, tethered=tethered)


@pytest.fixture
def db(tmp_path: Path) -> Path:
    return tmp_path / "borne.db"


@pytest.fixture
def store(db: Path):  # type: ignore[no-untyped-def]
    s = Store(db)
    yield s
    s.close()


@pytest.fixture
def settings(store: Store) -> Settings:
    return Settings(keys(), store)


def reopened(db: Path, store: Store) -> Settings:
    """The settings a restarted controller sees: a new Store over the same file."""
    store.close()
    return Settings(keys(), Store(db))


@pytest.mark.parametrize("key", AUDIT, ids=lambda k: k.name)
def test_key_exists_with_its_access_type_and_default(settings: Settings, key: Key) -> None:
    spec = settings.spec(key.name)
    assert spec is not None, f"{key.name} is missing"
    assert spec.name == key.name
    assert ("RW" if spec.writable else "R") == key.access
    assert spec.kind is key.kind
    assert settings.raw(key.name) == key.default
    assert spec.normalise(key.default) == key.default, "the default must be an acceptable value"


def documented() -> dict[str, str]:
    """Key -> what the "Borne" column of the audit tables in docs/ocpp16.md says."""
    text = DOCS.read_text(encoding="utf-8")
    section = text[text.index("## Configuration keys"):]
    section = section[:section.index("\n## ", 1)]
    rows: dict[str, str] = {}
    for line in section.splitlines():
        cells = [c.strip() for c in line.strip().strip("|").split("|")]
        if line.startswith("| ") and len(cells) == 5 and cells[0] not in ("key",) and not cells[0].startswith("---"):
            rows[cells[0].split()[0]] = cells[2]
    return rows


@pytest.mark.parametrize("key", AUDIT, ids=lambda k: k.name)
def test_key_is_in_the_documented_table_with_its_access(key: Key) -> None:
    borne = documented().get(key.name)
    assert borne is not None, f"{key.name} is not in the table of docs/ocpp16.md"
    assert borne.split(",")[0].split(";")[0] == key.access


def test_documented_keys_are_the_audited_ones() -> None:
    rows = documented()
    registry = {spec.name for spec in keys()}
    assert {name for name, borne in rows.items() if borne == "not offered"} == set(NOT_OFFERED)
    assert registry == {k.name for k in AUDIT}, "a key of core_keys is missing from the audit"
    assert registry <= set(rows)


@pytest.mark.parametrize(("key", "value", "stored"),
                         [(k, v, s) for k in AUDIT for v, s in k.accepted],
                         ids=lambda x: x.name if isinstance(x, Key) else repr(x))
def test_accepted_value_is_stored_and_survives_a_restart(db: Path, store: Store, key: Key, value: str,
                                                         stored: str) -> None:
    settings = Settings(keys(), store)
    assert settings.change(key.name, value) is ChangeResult.ACCEPTED
    assert settings.raw(key.name) == stored
    again = reopened(db, store)
    try:
        assert again.raw(key.name) == stored
    finally:
        again._store.close()


@pytest.mark.parametrize(("key", "value"), [(k, v) for k in AUDIT for v in k.rejected],
                         ids=lambda x: x.name if isinstance(x, Key) else repr(x))
def test_rejected_value_leaves_the_key_unchanged(settings: Settings, store: Store, key: Key, value: str) -> None:
    assert settings.change(key.name, value) is ChangeResult.REJECTED
    assert settings.raw(key.name) == key.default
    assert key.name not in store.load_settings()


@pytest.mark.parametrize("key", [k for k in AUDIT if k.access == "R"], ids=lambda k: k.name)
def test_read_only_key_refuses_even_its_own_value(settings: Settings, store: Store, key: Key) -> None:
    assert settings.change(key.name, key.default) is ChangeResult.REJECTED
    assert settings.change(key.name.lower(), "1") is ChangeResult.REJECTED
    assert settings.raw(key.name) == key.default
    assert store.load_settings() == {}


@pytest.mark.parametrize("key", [k for k in AUDIT if k.access == "RW"], ids=lambda k: k.name)
def test_every_writable_key_takes_effect_without_a_reboot(settings: Settings, key: Key) -> None:
    spec = settings.spec(key.name)
    assert spec is not None and not spec.reboot_required


@pytest.mark.parametrize("name", NOT_OFFERED)
def test_optional_keys_not_offered_are_unknown(settings: Settings, name: str) -> None:
    assert settings.spec(name) is None
    assert settings.change(name, "1") is ChangeResult.NOT_SUPPORTED


@pytest.mark.parametrize(("csl", "max_key"), MAX_LENGTH_OF.items())
def test_csl_length_is_bounded_by_its_max_length_key(settings: Settings, csl: str, max_key: str) -> None:
    spec = settings.spec(csl)
    assert spec is not None
    limit = settings.get_int(max_key)
    assert spec.max_items == limit
    assert len(settings.get_list(csl)) <= limit


@pytest.mark.parametrize("csl", ["MeterValuesAlignedData", "MeterValuesSampledData", "StopTxnAlignedData",
                                 "StopTxnSampledData"])
def test_measurand_list_at_its_max_length_is_accepted_one_more_is_not(settings: Settings, csl: str) -> None:
    limit = settings.get_int(MAX_LENGTH_OF[csl])
    assert settings.change(csl, ",".join(["Voltage"] * limit)) is ChangeResult.ACCEPTED
    assert settings.change(csl, ",".join(["Voltage"] * (limit + 1))) is ChangeResult.REJECTED
    assert len(settings.get_list(csl)) == limit


def test_phase_rotation_defaults_follow_each_connector(store: Store) -> None:
    settings = Settings(keys(connector_phases=(1, 3, 3)), store)
    assert settings.raw("ConnectorPhaseRotation") == "1.NotApplicable,2.Unknown,3.Unknown"
    assert settings.get_int("ConnectorPhaseRotationMaxLength") == 4
    assert settings.change("ConnectorPhaseRotation", "0.RST,1.Unknown,2.RST,3.STR") is ChangeResult.ACCEPTED
    assert settings.change("ConnectorPhaseRotation", "1.RST") is ChangeResult.REJECTED  # single-phase


def test_unlock_on_ev_side_disconnect_is_read_only_false_with_fixed_cables_only(store: Store) -> None:
    fixed = Settings(keys(tethered=(True, True)), store)
    spec = fixed.spec("UnlockConnectorOnEVSideDisconnect")
    assert spec is not None and not spec.writable
    assert fixed.raw("UnlockConnectorOnEVSideDisconnect") == "false"
    assert fixed.change("UnlockConnectorOnEVSideDisconnect", "true") is ChangeResult.REJECTED
    mixed = Settings(keys(tethered=(True, False)), store)
    assert mixed.change("UnlockConnectorOnEVSideDisconnect", "false") is ChangeResult.ACCEPTED


def test_a_value_the_csms_set_wins_over_firmware_toml_after_a_restart(db: Path, store: Store) -> None:
    Settings(keys(), store).change("HeartbeatInterval", "45")
    store.close()
    restarted = Store(db)
    try:
        # firmware.toml now says 600: the CSMS's 45 stays.
        settings = Settings(core_keys(2, heartbeat_interval_s=600, connector_phases=(3, 1)), restarted)
        assert settings.get_int("HeartbeatInterval") == 45
        untouched = Settings(core_keys(2, heartbeat_interval_s=600, ping_interval_s=12, connector_phases=(3, 1)),
                             restarted)
        assert untouched.get_int("WebSocketPingInterval") == 12  # never set by the CSMS: the file's value
    finally:
        restarted.close()


def test_stored_value_is_read_back_in_canonical_form(db: Path, store: Store) -> None:
    store.save_setting("MeterValuesSampledData", " voltage.l2 ")  # e.g. written by an older version
    settings = Settings(keys(), store)
    assert settings.raw("MeterValuesSampledData") == "Voltage.L2"


# ---- GetConfiguration --------------------------------------------------------------------------


class _Operations(CsmsOperations):
    def __init__(self, settings: Settings) -> None:
        self.link = SimpleNamespace(settings=settings)  # type: ignore[assignment]


def test_get_configuration_without_keys_answers_every_key(settings: Settings) -> None:
    for empty in (None, []):
        result = _Operations(settings).on_get_configuration(key=empty)
        assert [e["key"] for e in result.configuration_key] == settings.names()
        assert result.unknown_key is None
    by_name = {e["key"]: e for e in _Operations(settings).on_get_configuration().configuration_key}
    for key in AUDIT:
        assert by_name[key.name]["readonly"] is (key.access == "R")
        assert by_name[key.name]["value"] == key.default


def test_get_configuration_names_are_case_insensitive_each_answered_once(settings: Settings) -> None:
    result = _Operations(settings).on_get_configuration(
        key=["heartbeatinterval", "NoSuchKey", "HEARTBEATINTERVAL", "numberOfConnectors", "nosuchkey"])
    assert result.configuration_key == [
        {"key": "HeartbeatInterval", "readonly": False, "value": "300"},
        {"key": "NumberOfConnectors", "readonly": True, "value": "2"},
    ]
    assert result.unknown_key == ["NoSuchKey"]


def test_get_configuration_with_more_keys_than_its_maximum_is_a_call_error(settings: Settings) -> None:
    limit = settings.get_int("GetConfigurationMaxKeys")
    names = (settings.names() * (limit // len(settings.names()) + 1))[:limit]
    assert len(_Operations(settings).on_get_configuration(key=names).configuration_key) == len(set(names))
    with pytest.raises(OccurenceConstraintViolationError):
        _Operations(settings).on_get_configuration(key=[*names, "HeartbeatInterval"])
