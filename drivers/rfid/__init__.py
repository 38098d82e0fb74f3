"""Badge readers on serial ports: PN532 (13.56 MHz, ISO 14443A UID), RDM6300-style 125 kHz
modules and line-printing readers. See docs/rfid.md."""
from __future__ import annotations

from drivers.rfid.ascii_reader import LineReader, Rdm6300Reader
from drivers.rfid.pn532 import Pn532Reader
from drivers.rfid.serial_port import ReaderClosed
from hal.clock import Clock
from hal.contracts import IdTokenReader

DRIVERS = ("pn532", "rdm6300", "line")

__all__ = ["DRIVERS", "LineReader", "Pn532Reader", "Rdm6300Reader", "ReaderClosed", "make_reader"]


def make_reader(
    driver: str, port: str, clock: Clock, *, baudrate: int | None = None, evse: int | None = None
) -> IdTokenReader:
    """The reader a `[reader]` table describes (driver, port, baudrate, evse)."""
    kwargs: dict[str, object] = {"evse_id": evse}
    if baudrate is not None:
        kwargs["baudrate"] = baudrate
    if driver == "pn532":
        return Pn532Reader(port, clock, **kwargs)  # type: ignore[arg-type]
    if driver == "rdm6300":
        return Rdm6300Reader(port, clock, **kwargs)  # type: ignore[arg-type]
    if driver == "line":
        return LineReader(port, clock, **kwargs)  # type: ignore[arg-type]
    raise ValueError(f"unknown reader driver {driver!r}: use one of {', '.join(DRIVERS)}")
