"""Meters as a board's [[modbus_bus]] and [evse.meter] tables describe them, for every real board
kind: one ModbusBus per named bus, shared by all the meters on it."""
from __future__ import annotations

from collections.abc import Iterable
from typing import TYPE_CHECKING

from drivers.meter.bus import ModbusBus
from drivers.meter.maps import get_map
from drivers.meter.modbus_meter import ModbusMeter
from drivers.meter.registers import custom_map
from hal.clock import Clock

if TYPE_CHECKING:
    from chargepoint.config.model import MeterConfig, ModbusBusConfig


class ConfiguredMeters:
    def __init__(self, buses: Iterable[ModbusBusConfig], clock: Clock) -> None:
        self._configs = {b.name: b for b in buses}
        self._buses: dict[str, ModbusBus] = {}
        self.clock = clock

    def bus(self, name: str) -> ModbusBus:
        if name not in self._buses:
            cfg = self._configs[name]
            if cfg.port is not None:
                self._buses[name] = ModbusBus.rtu(cfg.port, baudrate=cfg.baudrate, parity=cfg.parity,
                                                  stopbits=cfg.stopbits, timeout_s=cfg.timeout_s,
                                                  clock=self.clock, name=name)
            else:
                self._buses[name] = ModbusBus.tcp(cfg.host or "", cfg.tcp_port, timeout_s=cfg.timeout_s,
                                                  clock=self.clock, name=name)
        return self._buses[name]

    def meter(self, cfg: MeterConfig) -> ModbusMeter:
        register_map = custom_map(cfg.registers or {}) if cfg.model == "custom" else get_map(cfg.model)
        return ModbusMeter(self.bus(cfg.bus), cfg.device_id, register_map)
