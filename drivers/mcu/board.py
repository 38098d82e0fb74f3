"""Builds a board whose pilot, contactor, RCM (and PP, lock) belong to a safety co-processor
([board] kind = "mcu"); meters, badge reader, indicator and heartbeat pin are the Pi board's
drivers, configured by the same tables."""
from __future__ import annotations

import asyncio
import logging
import time
from typing import TYPE_CHECKING, Any

import serial

from drivers.mcu import protocol as p
from drivers.mcu.codec import LineDecoder, encode
from drivers.mcu.devices import (
    McuContactor,
    McuLinkFault,
    McuOverTemperature,
    McuPilot,
    McuProximity,
    McuRcm,
    McuSocketLock,
)
from drivers.mcu.link import LinkSettings, McuLink
from drivers.meter.configured import ConfiguredMeters
from drivers.rfid import make_reader
from hal.board import Board, EvseDevices, StatusProvider
from hal.clock import Clock
from hal.types import FaultKind

if TYPE_CHECKING:
    from chargepoint.config import Config
    from chargepoint.config.model import McuConfig

log = logging.getLogger(__name__)

START_WAIT_S = 2.0  # at start-up, wait this long for the first session so the EVSEs do not boot Faulted


def link_settings(cfg: McuConfig) -> LinkSettings:
    caps = {cap for cap, wanted in ((p.CAP_PP, cfg.proximity), (p.CAP_LOCK, cfg.lock)) if wanted}
    return LinkSettings(port=cfg.port, baudrate=cfg.baudrate, heartbeat_s=cfg.heartbeat_ms / 1000,
                        silence_timeout_s=cfg.silence_timeout_ms / 1000, write_timeout_s=cfg.write_timeout_ms / 1000,
                        reopen_s=cfg.reopen_ms / 1000, need_caps=frozenset(caps))


def build_mcu_board(config: Config, clock: Clock, *, start_wait_s: float = START_WAIT_S) -> Board:
    cfg, hw = config.mcu, config.hardware
    if cfg is None or hw is None:
        raise ValueError('board kind "mcu" needs an [mcu] table and a meter per EVSE (see docs/mcu-protocol.md)')
    link = McuLink(link_settings(cfg), [e.id for e in config.evses], clock).start()
    if not link.wait_session(start_wait_s):
        log.warning("no session with the MCU on %s yet: the EVSEs stay Faulted until it answers", cfg.port)
    meters = ConfiguredMeters(hw.modbus_buses, clock)
    evses = {
        e.id: EvseDevices(
            contactor=McuContactor(link, e.id),
            pilot=McuPilot(link, e.id),
            proximity=McuProximity(link, e.id) if cfg.proximity else None,
            rcm=McuRcm(link, e.id, clock, cfg.self_test_timeout_s),
            lock=McuSocketLock(link, e.id) if cfg.lock else None,
            meter=meters.meter(hw.evses[e.id].meter),
            over_temperature=McuOverTemperature(link, e.id),
            fault_inputs={FaultKind.MCU_LINK: McuLinkFault(link)},
        )
        for e in config.evses
    }
    r, i = hw.reader, hw.indicator
    reader = make_reader(r.driver, r.port, clock, baudrate=r.baudrate, evse=r.evse) if r else None
    indicator = heartbeat = None
    if i is not None:
        from drivers.gpio.indicator import GpioIndicator

        indicator = GpioIndicator(i.red_pin, i.green_pin, i.blue_pin, clock=clock)
    if hw.heartbeat_pin is not None:
        from drivers.gpio.heartbeat import GpioHeartbeat

        heartbeat = GpioHeartbeat(hw.heartbeat_pin)

    async def hold_link(_: StatusProvider) -> None:
        """Runs as long as the controller; when it stops, the MCU is told to go safe and the
        port is closed (the MCU's watchdog would do the same a moment later)."""
        try:
            await asyncio.Event().wait()
        finally:
            link.close()

    return Board(kind="mcu", evses=evses, reader=reader, indicator=indicator, heartbeat=heartbeat,
                 services=[hold_link])


def mcu_safe_state(config: Config, *, answer_within_s: float = 1.0) -> dict[str, Any]:
    """Relays open and pilots at -12 V through the MCU, touching nothing else: a new session
    (which withdraws every allow), then POWER OFF and PILOT F per EVSE. An MCU that cannot be
    reached goes there by itself once Borne has been silent for the silence timeout."""
    cfg = config.mcu
    ids = [e.id for e in config.evses]
    if cfg is None:
        return {}
    unreachable = (f"not confirmed: the MCU opens the relay and drives F by itself after "
                   f"{cfg.silence_timeout_ms} ms without Borne")
    try:
        port = serial.Serial(cfg.port, cfg.baudrate, timeout=0.02, write_timeout=cfg.write_timeout_ms / 1000)
    except (serial.SerialException, OSError) as exc:
        log.error("safe state: MCU port %s: %s", cfg.port, exc)
        return {str(i): {"contactor_closed": False, "pilot": "state_f", "confirmed": unreachable} for i in ids}
    decoder, seq = LineDecoder(), 0
    answers: dict[int, p.Ack | p.Nak] = {}

    def send(verb: str, *args: object) -> int:
        nonlocal seq
        seq += 1
        port.write(encode(seq, verb, *args))
        return seq

    def wait_for(wanted: set[int]) -> None:
        deadline = time.monotonic() + answer_within_s
        while not wanted <= answers.keys() and time.monotonic() < deadline:
            for frame in decoder.feed(port.read(256)):
                report = p.parse_report(frame)
                if isinstance(report, p.Ack | p.Nak):
                    answers[report.ref] = report

    try:
        port.reset_input_buffer()
        hello = send(p.HELLO, p.VERSION, f"timeout={cfg.silence_timeout_ms}")
        wait_for({hello})
        sent = {i: (send(p.POWER, i, "OFF"), send(p.PILOT, i, "F")) for i in ids}
        wait_for({s for pair in sent.values() for s in pair})
    except (serial.SerialException, OSError) as exc:
        log.error("safe state: MCU port %s: %s", cfg.port, exc)
        sent = {}
    finally:
        port.close()
    result: dict[str, Any] = {}
    for i in ids:
        confirmed = i in sent and all(isinstance(answers.get(s), p.Ack) for s in sent[i])
        result[str(i)] = {"contactor_closed": False, "pilot": "state_f", "confirmed": True if confirmed else unreachable}
    return result
