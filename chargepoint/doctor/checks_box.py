"""Devices of the whole box: indicator, heartbeat output and badge reader.

The indicator cannot see itself: every pattern is shown briefly and the technician looks at it.
The reader waits for a real badge, so a technician standing at the box proves the whole path
(antenna, chip, serial line, driver)."""
from __future__ import annotations

import asyncio

from chargepoint.doctor.context import DoctorContext, Step
from chargepoint.doctor.results import Verdict, failed, passed, skipped
from hal.contracts import HeartbeatOutput, IdTokenReader, Indicator
from hal.types import IndicatorPattern

HEARTBEAT_TOGGLES = 6
HEARTBEAT_PERIOD_S = 0.01
SHOWN_PATTERNS = tuple(p for p in IndicatorPattern if p is not IndicatorPattern.OFF)


async def check_indicator(ctx: DoctorContext, indicator: Indicator) -> Verdict:
    hold = ctx.options.pattern_hold_s
    ctx.progress(f"watch the indicator: {len(SHOWN_PATTERNS)} patterns, {hold:g} s each")
    wrong: list[str] = []
    try:
        for pattern in SHOWN_PATTERNS:
            indicator.show(pattern)
            shown = getattr(indicator, "pattern", pattern)
            if shown != pattern:
                wrong.append(pattern.value)
            await ctx.clock.sleep(hold)
    finally:
        indicator.show(IndicatorPattern.OFF)
    names = ", ".join(p.value for p in SHOWN_PATTERNS)
    if wrong:
        return failed(f"the driver did not take {', '.join(wrong)}", "the indicator driver refused patterns: check "
                      "the [indicator] pins", patterns=names)
    return passed(f"showed {names} ({hold:g} s each; check by eye), then off", patterns=[p.value for p in SHOWN_PATTERNS])


async def check_heartbeat(ctx: DoctorContext, heartbeat: HeartbeatOutput) -> Verdict:
    levels: list[bool] = []
    for _ in range(HEARTBEAT_TOGGLES):
        heartbeat.toggle()
        level = getattr(heartbeat, "level", None)
        if level is not None:
            levels.append(bool(level))
        await ctx.clock.sleep(HEARTBEAT_PERIOD_S)
    if getattr(heartbeat, "level", False):
        heartbeat.toggle()  # leave it low: the watchdog relay then drops the contactor supply
    if not levels:
        return passed(f"toggled {HEARTBEAT_TOGGLES} times (no read-back)")
    alternating = all(a != b for a, b in zip(levels, levels[1:]))
    trace = "".join("1" if lv else "0" for lv in levels)
    if not alternating:
        return failed(f"output did not alternate ({trace})", "the heartbeat pin does not follow: check "
                      "[heartbeat] pin and that no other program drives it", levels=trace)
    return passed(f"toggled {HEARTBEAT_TOGGLES} times ({trace}), left low", levels=trace)


def _reader_hint(ctx: DoctorContext, reader: IdTokenReader) -> str:
    cfg = ctx.config.hardware.reader if ctx.config.hardware is not None else None
    port = cfg.port if cfg is not None else getattr(reader, "port", "its port")
    if getattr(reader, "connected", True) is False:
        return (f"the reader's port {port} cannot be opened: check the path (ls -l /dev/serial/by-id/), that this "
                "user may use it (group dialout) and that the serial console is not enabled on that UART")
    if getattr(reader, "ready", True) is False:
        baud = f" ({cfg.baudrate} baud)" if cfg is not None and cfg.baudrate else ""
        return (f"the reader does not answer on {port}{baud}: check TX/RX (crossed), the baud rate, the reader's "
                "interface selection (PN532: HSU/UART), and its supply")
    if ctx.config.board.kind == "sim":
        return ("no badge was presented: while the doctor waits, tap one with "
                "`chargepoint sim --config <firmware.toml> tap TAG`")
    return ("the reader answers but saw no badge: hold a badge flat on the antenna for a second; check the badge "
            "type suits the reader (PN532: ISO 14443A, 13.56 MHz)")


async def check_reader(ctx: DoctorContext, reader: IdTokenReader) -> Verdict:
    options = ctx.options
    if options.no_badge:
        return skipped("skipped (--no-badge)")
    timeout = options.badge_timeout_s
    ctx.progress(f"present a badge to the reader (waiting up to {timeout:g} s)")
    try:
        async with asyncio.timeout(timeout):
            token = await reader.read()
    except TimeoutError:
        return failed(f"no badge within {timeout:g} s", _reader_hint(ctx, reader), timeout_s=timeout)
    return passed(f"badge {token.id_tag}", uid=token.id_tag, source=token.source)


def box_steps(ctx: DoctorContext) -> list[Step]:
    board = ctx.board
    steps: list[Step] = []
    indicator, heartbeat, reader = board.indicator, board.heartbeat, board.reader
    if indicator is not None:
        hold = ctx.options.pattern_hold_s
        steps.append(Step("box", "indicator", "patterns", lambda: check_indicator(ctx, indicator),
                          hold * len(SHOWN_PATTERNS) + 3.0))
    if heartbeat is not None:
        steps.append(Step("box", "heartbeat", "toggles", lambda: check_heartbeat(ctx, heartbeat), 2.0))
    if reader is not None:
        wait = 0.0 if ctx.options.no_badge else ctx.options.badge_timeout_s
        steps.append(Step("box", "badge reader", "badge", lambda: check_reader(ctx, reader), wait + 5.0))
    return steps
