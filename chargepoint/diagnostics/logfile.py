"""The controller's retained log: a size-capped, rotating file in the state directory, beside the
stderr log that journald keeps. Diagnostics uploads are cut from it by time, so every record
starts with its UTC timestamp; secrets are masked before a line is written."""
from __future__ import annotations

import logging
import os
import sys
from datetime import datetime, timezone
from logging.handlers import RotatingFileHandler
from typing import IO, Any

from chargepoint.config.model import LoggingConfig
from chargepoint.diagnostics.redact import redact_text

FORMAT = "%(asctime)s %(levelname)s %(name)s: %(message)s"
FILE_MODE = 0o640  # tags and addresses are in the log: not for every local user
DIR_MODE = 0o750


class UtcFormatter(logging.Formatter):
    """ISO 8601 UTC timestamps with milliseconds and 'Z', as OCPP writes them, with secrets masked."""

    def formatTime(self, record: logging.LogRecord, datefmt: str | None = None) -> str:
        moment = datetime.fromtimestamp(record.created, timezone.utc)
        return moment.strftime("%Y-%m-%dT%H:%M:%S.") + f"{int(record.msecs):03d}Z"

    def format(self, record: logging.LogRecord) -> str:
        return redact_text(super().format(record))


def _private_opener(path: str, flags: int) -> int:
    return os.open(path, flags, FILE_MODE)


class PrivateRotatingFileHandler(RotatingFileHandler):
    """Rotating by size; files are created readable by the owner and its group only."""

    def _open(self) -> IO[Any]:
        return open(self.baseFilename, self.mode, encoding=self.encoding, errors=self.errors,
                    opener=_private_opener)


def file_handler(config: LoggingConfig) -> logging.Handler | None:
    """The rotating handler `config` describes, or None when it names no file or the file cannot be
    opened (the controller then runs with the stderr log alone, and says so there)."""
    if config.file is None:
        return None
    try:
        config.file.parent.mkdir(parents=True, exist_ok=True, mode=DIR_MODE)
        handler = PrivateRotatingFileHandler(config.file, maxBytes=config.file_size_kb * 1024,
                                             backupCount=config.file_count - 1, encoding="utf-8")
    except OSError as exc:
        print(f"chargepoint: cannot write the log file {config.file}: {exc}; logging to stderr only",
              file=sys.stderr)
        return None
    handler.setFormatter(UtcFormatter(FORMAT))
    handler.setLevel(config.level)
    return handler


def install_file_log(config: LoggingConfig, logger: logging.Logger | None = None) -> logging.Handler | None:
    """Add the retained log to `logger` (the root logger by default); returns the handler."""
    handler = file_handler(config)
    if handler is not None:
        (logger or logging.getLogger()).addHandler(handler)
    return handler
