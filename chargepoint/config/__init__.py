"""Typed, validated configuration read from firmware.toml."""
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
from chargepoint.config.errors import ConfigError, ConfigIssue
from chargepoint.config.loader import check_config, load_config

__all__ = [
    "AuthConfig",
    "BoardConfig",
    "ChargePointConfig",
    "Config",
    "ConfigError",
    "ConfigIssue",
    "ConnectorConfig",
    "EvseConfig",
    "LoggingConfig",
    "OcppConfig",
    "SafetyConfig",
    "SimConfig",
    "StorageConfig",
    "check_config",
    "load_config",
]
