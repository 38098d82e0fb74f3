"""Configuration keys: defaults, validation, case-insensitive names, persistence, listeners."""
from __future__ import annotations

from pathlib import Path

import pytest

from chargepoint.settings import CSL_MAX_ITEMS, ChangeResult, Settings, core_keys
from chargepoint.store import Store


@pytest.fixture
def store(tmp_path: Path):  # type: ignore[no-untyped-def]
    s = Store(tmp_path / "borne.db")
    yield s
    s.close()


@pytest.fixture
def settings(store: Store) -> Settings:
    return Settings(core_keys(number_of_connectors=2, heartbeat_interval_s=300), store)


def test_defaults(settings: Settings) -> None:
    assert settings.get_bool("AuthorizeRemoteTxRequests") is True
    assert settings.get_bool("AllowOfflineTxForUnknownId") is False
    assert settings.get_bool("LocalAuthorizeOffline") is True
    assert settings.get_bool("LocalPreAuthorize") is False
    assert settings.get_int("HeartbeatInterval") == 300  # from the configuration
    assert settings.get_int("NumberOfConnectors") == 2
    assert settings.get_int("MeterValueSampleInterval") == 60
    assert settings.get_int("ConnectionTimeOut") == 60
    assert settings.get_list("MeterValuesSampledData") == [
        "Energy.Active.Import.Register", "Power.Active.Import", "Current.Import", "Voltage"]
    assert settings.get_list("StopTxnAlignedData") == []
    assert "Core" in settings.get_list("SupportedFeatureProfiles")
    assert settings.names()[0] == "AuthorizeRemoteTxRequests"
    assert "WebSocketPingInterval" in settings.names()


# --- validation -------------------------------------------------------------------------------


@pytest.mark.parametrize("value", ["yes", "no", "1", "0", "", "truee", "on"])
def test_bool_rejects_anything_but_true_and_false(settings: Settings, value: str) -> None:
    assert settings.change("LocalPreAuthorize", value) is ChangeResult.REJECTED
    assert settings.get_bool("LocalPreAuthorize") is False


@pytest.mark.parametrize(("value", "canonical"), [("true", "true"), ("TRUE", "true"), (" False ", "false")])
def test_bool_accepts_any_case(settings: Settings, value: str, canonical: str) -> None:
    assert settings.change("LocalPreAuthorize", value) is ChangeResult.ACCEPTED
    assert settings.raw("LocalPreAuthorize") == canonical


@pytest.mark.parametrize("value", ["-1", "abc", "1.5", "", "86401", "1e3"])
def test_int_rejects_bad_values(settings: Settings, value: str) -> None:
    assert settings.change("HeartbeatInterval", value) is ChangeResult.REJECTED
    assert settings.get_int("HeartbeatInterval") == 300


def test_int_minimum_depends_on_the_key(settings: Settings) -> None:
    assert settings.change("ConnectionTimeOut", "0") is ChangeResult.REJECTED  # at least 1 s
    assert settings.change("MeterValueSampleInterval", "0") is ChangeResult.ACCEPTED  # 0 = off
    assert settings.get_int("MeterValueSampleInterval") == 0


@pytest.mark.parametrize(("value", "canonical"), [("60", "60"), (" 120 ", "120"), ("+30", "30"), ("0086400", "86400")])
def test_int_accepted_in_canonical_form(settings: Settings, value: str, canonical: str) -> None:
    assert settings.change("HeartbeatInterval", value) is ChangeResult.ACCEPTED
    assert settings.raw("HeartbeatInterval") == canonical


@pytest.mark.parametrize(
    "value",
    [
        "Energy.Active.Import.Register,Temperature",  # unknown measurand
        "Power.Factor",
        "Voltage.L4",  # no such phase
        "Power.Active.Import.L1",  # not a phased measurand here
        ",".join(["Voltage"] * (CSL_MAX_ITEMS + 1)),  # 11 items
    ],
)
def test_csl_rejects_bad_lists(settings: Settings, value: str) -> None:
    assert settings.change("MeterValuesSampledData", value) is ChangeResult.REJECTED
    assert settings.get_list("MeterValuesSampledData")[0] == "Energy.Active.Import.Register"


@pytest.mark.parametrize(
    ("value", "canonical"),
    [
        ("Energy.Active.Import.Register", "Energy.Active.Import.Register"),
        (" Voltage , Current.Import.L2 ", "Voltage,Current.Import.L2"),
        ("Voltage.L1,Voltage.L2,Voltage.L3", "Voltage.L1,Voltage.L2,Voltage.L3"),
        (",".join(["Voltage"] * CSL_MAX_ITEMS), ",".join(["Voltage"] * CSL_MAX_ITEMS)),
        ("", ""),
    ],
)
def test_csl_accepts_known_measurands(settings: Settings, value: str, canonical: str) -> None:
    assert settings.change("MeterValuesSampledData", value) is ChangeResult.ACCEPTED
    assert settings.raw("MeterValuesSampledData") == canonical


def test_phase_rotation_is_a_list_of_connector_and_rotation(settings: Settings) -> None:
    assert settings.change("ConnectorPhaseRotation", "1.RST,2.STR") is ChangeResult.ACCEPTED
    assert settings.get_list("ConnectorPhaseRotation") == ["1.RST", "2.STR"]
    assert settings.change("ConnectorPhaseRotation", "any text") is ChangeResult.REJECTED


def test_unknown_key_is_not_supported(settings: Settings, store: Store) -> None:
    assert settings.change("NoSuchKey", "1") is ChangeResult.NOT_SUPPORTED
    assert settings.spec("NoSuchKey") is None
    assert store.load_settings() == {}


@pytest.mark.parametrize("key", ["NumberOfConnectors", "GetConfigurationMaxKeys", "SupportedFeatureProfiles",
                                 "MeterValuesSampledDataMaxLength"])
def test_read_only_key_is_rejected(settings: Settings, store: Store, key: str) -> None:
    before = settings.raw(key)
    assert settings.change(key, before) is ChangeResult.REJECTED
    assert settings.raw(key) == before
    assert store.load_settings() == {}


# --- names, persistence, listeners ----------------------------------------------------------


def test_key_names_are_case_insensitive(settings: Settings, store: Store) -> None:
    assert settings.change("heartbeatinterval", "120") is ChangeResult.ACCEPTED
    assert settings.get_int("HEARTBEATINTERVAL") == 120
    assert settings.raw("HeartBeatInterval") == "120"
    spec = settings.spec("HEARTBEATinterval")
    assert spec is not None and spec.name == "HeartbeatInterval"
    assert store.load_settings() == {"HeartbeatInterval": "120"}  # stored under the canonical name


def test_override_survives_a_new_settings_over_the_same_store(settings: Settings, store: Store) -> None:
    assert settings.change("MeterValueSampleInterval", "15") is ChangeResult.ACCEPTED
    assert settings.change("LocalPreAuthorize", "TRUE") is ChangeResult.ACCEPTED
    again = Settings(core_keys(number_of_connectors=2, heartbeat_interval_s=300), store)
    assert again.get_int("MeterValueSampleInterval") == 15
    assert again.get_bool("LocalPreAuthorize") is True
    assert again.get_int("HeartbeatInterval") == 300


def test_override_survives_reopening_the_database(tmp_path: Path) -> None:
    path = tmp_path / "borne.db"
    s = Store(path)
    Settings(core_keys(1, 300), s).change("HeartbeatInterval", "45")
    s.close()
    s = Store(path)
    try:
        assert Settings(core_keys(1, 300), s).get_int("HeartbeatInterval") == 45
    finally:
        s.close()


def test_stored_values_that_no_longer_apply_are_ignored(store: Store) -> None:
    store.save_setting("NumberOfConnectors", "7")  # read-only: the configuration decides
    store.save_setting("HeartbeatInterval", "-5")  # not acceptable any more
    store.save_setting("Obsolete", "x")
    settings = Settings(core_keys(number_of_connectors=2, heartbeat_interval_s=300), store)
    assert settings.get_int("NumberOfConnectors") == 2
    assert settings.get_int("HeartbeatInterval") == 300


def test_listeners_get_the_canonical_name_and_value(settings: Settings) -> None:
    calls: list[tuple[str, str]] = []
    settings.on_change(lambda name, value: calls.append((name, value)))
    settings.on_change(lambda name, value: calls.append(("second", value)))
    settings.change("localpreauthorize", " TRUE ")
    settings.change("MeterValuesSampledData", " Voltage , Current.Import ")
    assert calls == [
        ("LocalPreAuthorize", "true"), ("second", "true"),
        ("MeterValuesSampledData", "Voltage,Current.Import"), ("second", "Voltage,Current.Import"),
    ]


def test_listeners_not_called_for_refused_changes(settings: Settings) -> None:
    calls: list[tuple[str, str]] = []
    settings.on_change(lambda name, value: calls.append((name, value)))
    settings.change("LocalPreAuthorize", "yes")
    settings.change("NumberOfConnectors", "3")
    settings.change("Unknown", "1")
    assert calls == []
