"""The configuration as the rest of Borne sees it: plain frozen dataclasses, already validated.
Relative paths are resolved against the directory of the file they came from."""
from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path


@dataclass(frozen=True)
class ChargePointConfig:
    id: str
    vendor: str
    model: str
    serial_number: str | None = None
    firmware_version: str | None = None


@dataclass(frozen=True)
class OcppConfig:
    version: str  # "1.6"
    csms_url: str  # ws:// or wss://, without the charge point id (it is appended)
    heartbeat_interval_s: int = 300
    security_profile: int = 0  # 0: none, 1: Basic auth, 2: Basic auth over TLS, 3: TLS client certificate
    password_file: Path | None = None
    response_timeout_s: float = 30.0
    ping_interval_s: float = 30.0
    ping_timeout_s: float = 20.0
    reconnect_min_s: float = 1.0
    reconnect_max_s: float = 60.0
    # Security profiles (docs/security.md): where TLS profiles connect, what they trust first, the
    # provisioned client certificate, and where keys, certificates and the security log live.
    csms_url_tls: str | None = None  # profiles 2 and 3; default: csms_url with wss://
    ca_file: Path | None = None  # initial CentralSystemRootCertificate(s), PEM
    client_certificate_file: Path | None = None  # a provisioned Charge Point certificate (profile 3)
    client_key_file: Path | None = None
    security_dir: Path | None = None  # default: security/ beside the database


@dataclass(frozen=True)
class BoardConfig:
    kind: str  # "sim"
    control_period_ms: int = 5
    quiet_period_ms: int = 50  # control period while every EVSE is quiet (no EV, nothing energised)


@dataclass(frozen=True)
class StorageConfig:
    path: Path
    admin_socket: Path | None = None  # local admin socket; defaults to admin.sock beside the database


@dataclass(frozen=True)
class ConnectorConfig:
    id: int  # 1-based within its EVSE
    type: str = "Type2Socket"  # "Type2Socket" (lockable, PP-coded) or "Type2Cable" (tethered)


@dataclass(frozen=True)
class EvseConfig:
    id: int  # 1-based, consecutive; also the OCPP 1.6 connectorId of its (single) connector
    max_current_a: float
    phases: int  # 1 or 3
    connectors: tuple[ConnectorConfig, ...]
    nominal_voltage_v: float = 230.0
    ventilation: bool = False  # state D (EV asks for ventilation) charges only where there is some


@dataclass(frozen=True)
class AuthConfig:
    whitelist: tuple[str, ...] = ()
    whitelist_always: bool = False  # True: whitelisted tags never ask the CSMS


@dataclass(frozen=True)
class SimConfig:
    control_socket: Path


@dataclass(frozen=True)
class LoggingConfig:
    level: str = "INFO"
    # The retained log that diagnostics uploads are cut from (UTC timestamps, rotated by size);
    # None: stderr only. firmware.toml always names one (default: logs/borne.log beside the database).
    file: Path | None = None
    file_size_kb: int = 1024  # one file's size before it is rotated
    file_count: int = 5  # files kept, the current one included: at most file_count x file_size_kb


@dataclass(frozen=True)
class SafetyConfig:
    """Safety supervisor settings that are the installer's to choose (IEC 61851 numbers are not)."""

    overcurrent_time_s: float = 7.0  # EV above (offered + 0.5 A) x 1.1 this long -> fault; >= 6 s
    open_on_meter_loss: bool = True  # without a meter nobody can bill or watch the current
    control_loop_stall_ms: int = 500  # a control loop silent this long is stalled: outputs go safe
    rcm_self_test_interval_h: float = 24.0  # besides the test at the end of every session
    offline_current_limit_a: float | None = None  # fallback limit once the CSMS is gone...
    offline_after_s: float = 300.0  # ...for this long


@dataclass(frozen=True)
class FirmwareConfig:
    """Where releases live and how updates are fetched and tried (docs/firmware-update.md)."""

    root: Path  # releases/<dir>/, and the current and previous symlinks
    work_dir: Path  # downloads and unpacked packages
    state_file: Path  # the update state machine (JSON, replaced atomically)
    python: Path | None = None  # interpreter new releases are built on; None: the running one's base
    unsigned_updates: bool = True  # False: UpdateFirmware is answered NotSupported (whitepaper L01.FR.20)
    ca_file: Path | None = None  # CAs for https:// downloads; None: the system's
    download_timeout_s: float = 60.0
    max_package_mb: int = 512
    default_retries: int = 3  # download attempts when the CSMS does not say
    default_retry_interval_s: int = 60
    install_timeout_s: float = 1800.0
    trial_timeout_s: float = 600.0  # a new release must be accepted by the CSMS within this
    max_trial_starts: int = 3  # starts a new release gets before it is rolled back


@dataclass(frozen=True)
class Config:
    source: Path
    chargepoint: ChargePointConfig
    ocpp: OcppConfig
    board: BoardConfig
    storage: StorageConfig
    evses: tuple[EvseConfig, ...]
    auth: AuthConfig = field(default_factory=AuthConfig)
    sim: SimConfig | None = None
    logging: LoggingConfig = field(default_factory=LoggingConfig)
    safety: SafetyConfig = field(default_factory=SafetyConfig)
    hardware: BoardHardware | None = None  # real boards only
    mcu: McuConfig | None = None  # [board] kind = "mcu" only
    firmware: FirmwareConfig | None = None  # always set by the loader; None in hand-built configs


# ---- hardware of a real board ([board] kind = "pi") -------------------------------------------
# GPIO numbers are BCM numbers; levels say which electrical level means "on"/"closed"/"locked".


@dataclass(frozen=True)
class ContactorConfig:
    pin: int
    active_high: bool = True
    feedback_pin: int | None = None  # mirror contact
    feedback_closed_high: bool = False  # a mirror (NC) contact reads high while the main contacts are open


@dataclass(frozen=True)
class PilotConfig:
    divider_gain: float  # CP volts = ADC volts x gain + offset
    divider_offset_v: float
    pwm_chip: int = 0
    pwm_channel: int = 0
    state_f_pin: int | None = None  # GPIO switching the pilot to -12 V, where the board has one
    adc_bus: int = 1
    adc_address: int = 0x48
    high_channel: int = 0  # peak of the high half
    low_channel: int | None = None  # peak of the low half (diode check); None: one sample-and-hold channel


@dataclass(frozen=True)
class ProximityConfig:
    adc_channel: int
    pull_up_ohm: float
    supply_v: float = 3.3


@dataclass(frozen=True)
class RcmConfig:
    fault_pin: int
    test_pin: int | None = None
    fault_active_high: bool = True


@dataclass(frozen=True)
class LockConfig:
    lock_pin: int
    unlock_pin: int | None = None  # None: a single solenoid output held while locked
    feedback_pin: int | None = None
    feedback_locked_high: bool = True
    pulse_s: float = 0.3
    timeout_s: float = 1.0


@dataclass(frozen=True)
class MeterConfig:
    driver: str  # "modbus-rtu" | "modbus-tcp"
    model: str  # a known model or "custom"
    bus: str  # name of a [[modbus_bus]]
    device_id: int = 1
    registers: dict[str, dict[str, object]] | None = None  # model = "custom" only


@dataclass(frozen=True)
class EvseHardware:
    contactor: ContactorConfig
    pilot: PilotConfig
    meter: MeterConfig
    proximity: ProximityConfig | None = None
    rcm: RcmConfig | None = None
    lock: LockConfig | None = None
    over_temperature_pin: int | None = None
    over_temperature_active_high: bool = True


@dataclass(frozen=True)
class ModbusBusConfig:
    name: str
    port: str | None = None  # serial device (RTU) ...
    host: str | None = None  # ... or TCP host
    tcp_port: int = 502
    baudrate: int = 9600
    parity: str = "N"
    stopbits: int = 1
    timeout_s: float = 0.5


@dataclass(frozen=True)
class ReaderConfig:
    driver: str  # "pn532" | "rdm6300" | "line"
    port: str
    baudrate: int | None = None  # the driver's default when None
    evse: int | None = None  # a reader per EVSE names its EVSE


@dataclass(frozen=True)
class IndicatorConfig:
    red_pin: int
    green_pin: int
    blue_pin: int | None = None


@dataclass(frozen=True)
class BoardHardware:
    """Everything a real board needs beyond the per-EVSE devices."""

    evses: dict[int, EvseHardware | McuEvseHardware]  # McuEvseHardware on kind "mcu"
    modbus_buses: tuple[ModbusBusConfig, ...] = ()
    reader: ReaderConfig | None = None
    indicator: IndicatorConfig | None = None
    heartbeat_pin: int | None = None


# ---- a board with a safety co-processor ([board] kind = "mcu", docs/mcu-protocol.md) ----------


@dataclass(frozen=True)
class McuConfig:
    """The serial link to the MCU that owns pilot, contactor, RCM (and PP, lock) of every EVSE."""

    port: str
    baudrate: int = 115200
    heartbeat_ms: int = 100  # Borne's heartbeat, with the whole wanted state re-sent
    silence_timeout_ms: int = 500  # both ways: the MCU goes safe, Borne raises MCU_LINK
    write_timeout_ms: int = 50
    reopen_ms: int = 500  # between attempts to reopen a vanished port
    self_test_timeout_s: float = 5.0
    proximity: bool = True  # the MCU measures PP
    lock: bool = True  # the MCU drives the socket lock


@dataclass(frozen=True)
class McuEvseHardware:
    """What an EVSE has beside the MCU: its meter."""

    meter: MeterConfig
