"""Cuts a time window out of a rotated log: the lines whose record was written between two
instants, across the current file and its rotated copies, oldest first.

A record is a line that starts with a timestamp; the lines after it that do not (a traceback, a
multi-line message) belong to it and go where it goes."""
from __future__ import annotations

import re
from collections.abc import Callable, Iterable, Iterator
from contextlib import ExitStack
from datetime import datetime, timezone
from pathlib import Path
from typing import BinaryIO

from chargepoint.diagnostics.redact import redact_text

_STAMP = re.compile(r"(\d{4}-\d{2}-\d{2}[T ]\d{2}:\d{2}:\d{2}(?:[.,]\d{1,9})?(?:Z|z|[+-]\d{2}:?\d{2})?)(?=[\s\]|,;])")
StampReader = Callable[[str], "datetime | None"]


def rotated_files(base: Path) -> list[Path]:
    """The files of a log rotated the RotatingFileHandler way, oldest first: base.N ... base.1, base."""
    numbered: list[tuple[int, Path]] = []
    if base.parent.is_dir():
        for path in base.parent.glob(base.name + ".*"):
            suffix = path.name[len(base.name) + 1:]
            if suffix.isdigit():
                numbered.append((int(suffix), path))
    files = [path for _, path in sorted(numbered, reverse=True)]
    if base.exists():
        files.append(base)
    return files


def line_stamp(line: str) -> datetime | None:
    """The UTC instant a log line starts with (ISO 8601, optionally in brackets), or None for a
    continuation line. A time without an offset is taken as UTC, which is what Borne writes."""
    start = 1 if line.startswith("[") else 0
    match = _STAMP.match(line, start)
    if match is None:
        return None
    text = match.group(1).replace(",", ".").replace(" ", "T", 1)
    try:
        moment = datetime.fromisoformat(text.replace("z", "Z"))
    except ValueError:
        return None
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=timezone.utc)
    return moment.astimezone(timezone.utc)


def in_window(moment: datetime, oldest: datetime | None, latest: datetime | None) -> bool:
    return (oldest is None or moment >= oldest) and (latest is None or moment <= latest)


def window_lines(files: Iterable[Path], oldest: datetime | None, latest: datetime | None,
                 stamp: StampReader = line_stamp) -> Iterator[str]:
    """The lines of the records written within [oldest, latest] (either bound may be absent).

    Every file is opened before the first is read: a rotation meanwhile renames files, and open
    handles keep pointing at the right data. Lines before the first timestamp of the oldest file
    are older than anything known, so they count only when there is no lower bound."""
    with ExitStack() as stack:
        handles = []
        for path in files:
            try:
                handles.append(stack.enter_context(open(path, encoding="utf-8", errors="replace")))
            except FileNotFoundError:
                continue  # rotated away between listing and opening: it was the oldest
        keep = oldest is None
        for handle in handles:
            for line in handle:
                moment = stamp(line)
                if moment is not None:
                    keep = in_window(moment, oldest, latest)
                if keep:
                    yield line if line.endswith("\n") else line + "\n"


def copy_window(files: Iterable[Path], oldest: datetime | None, latest: datetime | None, out: BinaryIO,
                stamp: StampReader = line_stamp) -> int:
    """Write the window's lines to `out`, secrets masked; returns how many lines were written."""
    count = 0
    for line in window_lines(files, oldest, latest, stamp):
        out.write(redact_text(line).encode("utf-8"))
        count += 1
    return count
