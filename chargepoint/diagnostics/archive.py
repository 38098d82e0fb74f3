"""The single file a log upload sends (OCPP: "the Charge Point SHALL upload a single file"): a
tar.gz holding the log lines of the asked time window and, for diagnostics, a JSON summary of the
charge point. Log lines are streamed through a spooled temporary file, so a large log never sits
in memory whole."""
from __future__ import annotations

import json
import tarfile
import tempfile
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import IO, Any

from chargepoint.diagnostics.logwindow import StampReader, copy_window, line_stamp

MEMBER_MODE = 0o640
SPOOL_BYTES = 1 << 20


@dataclass(frozen=True)
class LogPart:
    """One log to cut: its files oldest first, and the name its window gets in the archive."""

    name: str
    files: list[Path]
    stamp: StampReader = field(default=line_stamp)


def _add(tar: tarfile.TarFile, name: str, data: IO[bytes], size: int, mtime: float) -> None:
    info = tarfile.TarInfo(name)
    info.size = size
    info.mtime = int(mtime)
    info.mode = MEMBER_MODE
    tar.addfile(info, data)


def write_archive(dest: Path, root: str, logs: list[LogPart], oldest: datetime | None, latest: datetime | None,
                  now: datetime, summary: dict[str, Any] | None = None) -> dict[str, int]:
    """Write `dest` (tar.gz) with root/<log name> per log and root/summary.json; returns the
    number of lines each log contributed."""
    counts: dict[str, int] = {}
    mtime = now.timestamp()
    with tarfile.open(dest, "w:gz") as tar:
        for part in logs:
            with tempfile.SpooledTemporaryFile(max_size=SPOOL_BYTES, dir=dest.parent) as spool:
                counts[part.name] = copy_window(part.files, oldest, latest, spool, part.stamp)  # type: ignore[arg-type]
                size = spool.tell()
                spool.seek(0)
                _add(tar, f"{root}/{part.name}", spool, size, mtime)  # type: ignore[arg-type]
        if summary is not None:
            encoded = json.dumps(summary, indent=2, sort_keys=True, default=str).encode("utf-8")
            with tempfile.SpooledTemporaryFile(max_size=SPOOL_BYTES, dir=dest.parent) as spool:
                spool.write(encoded)
                spool.seek(0)
                _add(tar, f"{root}/summary.json", spool, len(encoded), mtime)  # type: ignore[arg-type]
    return counts
