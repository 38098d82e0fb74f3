"""Validation of a safety co-processor board ([board] kind = "mcu"): the [mcu] table, and the
per-EVSE tables the MCU makes meaningless. Meters, buses, reader, indicator and heartbeat are
read as on the Pi board (hardware_schema.py)."""
from __future__ import annotations

from chargepoint.config.model import McuConfig
from chargepoint.config.validation import Section

MCU_KEYS = ("port", "baudrate", "heartbeat_ms", "silence_timeout_ms", "write_timeout_ms", "reopen_ms",
            "self_test_timeout_s", "proximity", "lock")
MCU_OWNED_TABLES = ("contactor", "pilot", "proximity", "rcm", "lock", "over_temperature")

_TABLE_FIX = ('an [mcu] table with port = "/dev/ttyAMA2" (the serial line to the safety co-processor); '
              "see docs/mcu-protocol.md")
_HEARTBEAT_FIX = "milliseconds from 20 to 500, at most a third of silence_timeout_ms (default 100)"
_SILENCE_FIX = "milliseconds from 100 to 2000 (the MCU accepts no other), at least 3 x heartbeat_ms (default 500)"


def refuse_mcu_owned(s: Section) -> None:
    """On an MCU board the co-processor owns these devices; a table for them would be ignored."""
    for table in MCU_OWNED_TABLES:
        if table in s.data:
            s.fail(table, f'the co-processor drives the {table.replace("_", "-")} on board kind "mcu"',
                   "remove the table; the [mcu] table (proximity, lock) says what the MCU provides")


def mcu_config(root: Section, board_kind: str | None) -> McuConfig | None:
    if board_kind != "mcu":
        if "mcu" in root.data:
            root.fail("mcu", f"[mcu] table on board kind {board_kind!r}",
                      'remove it, or set [board] kind = "mcu" for a board with a safety co-processor')
        return None
    s = root.table("mcu", MCU_KEYS, required=True, fix=_TABLE_FIX)
    if not s.present:
        return None
    heartbeat = s.integer("heartbeat_ms", default=100, low=20, high=500, fix=_HEARTBEAT_FIX)
    silence = s.integer("silence_timeout_ms", default=500, low=100, high=2000, fix=_SILENCE_FIX)
    if heartbeat is not None and silence is not None and silence < 3 * heartbeat:
        key = "silence_timeout_ms" if "silence_timeout_ms" in s.data else "heartbeat_ms"
        s.fail(key, f"a silence timeout of {silence} ms leaves room for fewer than 3 heartbeats of {heartbeat} ms "
                    "(one lost line would look like a dead link)", _SILENCE_FIX)
    return McuConfig(
        port=s.string("port", fix='the serial device of the MCU, e.g. "/dev/ttyAMA2" or a /dev/serial/by-id/ path'),
        baudrate=s.integer("baudrate", default=115200, low=9600, high=1_000_000, fix="a baud rate from 9600 to 1000000"),
        heartbeat_ms=heartbeat,  # type: ignore[arg-type]
        silence_timeout_ms=silence,  # type: ignore[arg-type]
        write_timeout_ms=s.integer("write_timeout_ms", default=50, low=1, high=500,
                                   fix="milliseconds from 1 to 500 (a command that cannot be written is dropped)"),
        reopen_ms=s.integer("reopen_ms", default=500, low=50, high=10_000,
                            fix="milliseconds from 50 to 10000 between attempts to reopen a vanished port"),
        self_test_timeout_s=s.number("self_test_timeout_s", default=5.0, low=2, high=30,
                                     fix="seconds from 2 to 30 (the RCM test itself takes up to 1.5 s)"),
        proximity=bool(s.boolean("proximity", default=True,
                                 fix="true when the MCU measures the proximity pilot (sockets), else false")),
        lock=bool(s.boolean("lock", default=True, fix="true when the MCU drives the socket lock, else false")),
    )
