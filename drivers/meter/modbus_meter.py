"""An energy meter read over Modbus (RTU or TCP), driven by a register map.

Implements `hal.contracts.EnergyMeter`: `read()` returns a `MeterReading` or raises
`hal.types.MeterError` naming the device, the bus and what failed. The charging core turns three
MeterErrors in a row into a meter-loss fault; the counters here are for diagnostics.
"""
from __future__ import annotations

import logging
import math

from drivers.meter.bus import (
    BusConnectionError,
    BusCrcError,
    BusError,
    BusExceptionResponse,
    BusTimeout,
    ModbusBus,
)
from drivers.meter.registers import ReadBlock, RegisterMap, RegisterSpec, decode_registers, plan_reads
from hal.types import MeterError, MeterReading

log = logging.getLogger(__name__)


class ModbusMeter:
    """One meter (device id) on a `ModbusBus`."""

    def __init__(self, bus: ModbusBus, device_id: int, register_map: RegisterMap,
                 failures_for_loss: int = 3, *, name: str | None = None, max_gap: int | None = None) -> None:
        if not 1 <= device_id <= 247:
            raise ValueError(f"device_id {device_id!r} must be 1..247")
        if failures_for_loss < 1:
            raise ValueError("failures_for_loss must be at least 1")
        self.bus = bus
        self.device_id = device_id
        self.register_map = register_map
        self.failures_for_loss = failures_for_loss
        self.name = name or f"{register_map.model}@{device_id}"
        self._plan: list[ReadBlock] = plan_reads(register_map, max_gap=max_gap)
        self.consecutive_failures = 0
        self.reads_ok = 0
        self.timeouts = 0
        self.crc_errors = 0
        self.exceptions = 0
        self.connection_errors = 0
        self.invalid_values = 0
        self.last_error: str | None = None

    @property
    def lost(self) -> bool:
        """True after `failures_for_loss` failed reads in a row; False again after a good one."""
        return self.consecutive_failures >= self.failures_for_loss

    @property
    def requests_per_read(self) -> int:
        return len(self._plan)

    def __repr__(self) -> str:
        return f"ModbusMeter({self.name} on {self.bus.name})"

    async def read(self) -> MeterReading:
        where = f"meter {self.register_map.model} id {self.device_id} on {self.bus.transport} bus {self.bus.name}"
        words: dict[tuple[int, int], int] = {}
        for block in self._plan:
            try:
                registers = await self.bus.read_registers(self.device_id, block.function, block.address, block.count)
            except BusError as exc:
                self._count(exc)
                raise self._fail(f"{where}: {exc}") from exc
            except Exception as exc:  # never let anything but MeterError reach the charging core
                log.exception("%s: unexpected error", where)
                self.connection_errors += 1
                raise self._fail(f"{where}: unexpected error: {exc!r}") from exc
            for i, word in enumerate(registers):
                words[(block.function, block.address + i)] = word
        try:
            reading = self._decode(words)
        except (ValueError, KeyError) as exc:
            self.invalid_values += 1
            raise self._fail(f"{where}: unusable value: {exc}") from exc
        if self.consecutive_failures:
            log.info("%s: answering again after %d failed read(s)", where, self.consecutive_failures)
        self.consecutive_failures = 0
        self.reads_ok += 1
        return reading

    def _count(self, exc: BusError) -> None:
        if isinstance(exc, BusTimeout):
            self.timeouts += 1
        elif isinstance(exc, BusCrcError):
            self.crc_errors += 1
        elif isinstance(exc, BusExceptionResponse):
            self.exceptions += 1
        elif isinstance(exc, BusConnectionError):
            self.connection_errors += 1

    def _fail(self, message: str) -> MeterError:
        self.consecutive_failures += 1
        self.last_error = message
        if self.consecutive_failures == 1:
            log.warning("%s", message)
        elif self.consecutive_failures == self.failures_for_loss:
            log.error("%s (%d failed reads in a row: meter lost)", message, self.consecutive_failures)
        else:
            log.debug("%s", message)
        return MeterError(message)

    def _value(self, words: dict[tuple[int, int], int], quantity: str, spec: RegisterSpec) -> float:
        regs = [words[(spec.function, spec.address + i)] for i in range(spec.count)]
        exponent = 0
        if spec.exponent_address is not None:
            exponent = int(decode_registers([words[(spec.function, spec.exponent_address)]], "int16"))
        value = spec.decode(regs, exponent)
        if not math.isfinite(value):
            raise ValueError(f"{quantity} at {spec.address:#06x} is {value}")
        return value

    def _decode(self, words: dict[tuple[int, int], int]) -> MeterReading:
        m = self.register_map
        return MeterReading(
            energy_import_wh=self._value(words, "energy_import_wh", m.energy_import_wh),
            power_w=self._value(words, "power_w", m.power_w),
            voltage_v=tuple(self._value(words, f"voltage_v[{i}]", s) for i, s in enumerate(m.voltage_v)),
            current_a=tuple(self._value(words, f"current_a[{i}]", s) for i, s in enumerate(m.current_a)),
        )
