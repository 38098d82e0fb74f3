"""Files that hold keys and certificates: written so that a power cut leaves the old file or the
new one, never half of one, and so that a private key is readable by the process user only."""
from __future__ import annotations

import contextlib
import os
import tempfile
from pathlib import Path

PRIVATE = 0o600
PUBLIC = 0o644
DIRECTORY = 0o700


def ensure_directory(path: Path) -> Path:
    """Create `path` (owner-only) if it is missing; an existing directory keeps its mode."""
    path.mkdir(parents=True, exist_ok=True, mode=DIRECTORY)
    return path


def write_atomically(path: Path, data: bytes, mode: int) -> None:
    """Write to a temporary file in the same directory, sync it, then rename it over `path`.
    The mode is set before any byte is written, so a key is never briefly readable by others."""
    ensure_directory(path.parent)
    fd, temporary = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.")
    try:
        os.fchmod(fd, mode)
        with os.fdopen(fd, "wb") as handle:
            handle.write(data)
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(temporary, path)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(temporary)
        raise
    _sync_directory(path.parent)


def remove(path: Path) -> None:
    with contextlib.suppress(FileNotFoundError):
        path.unlink()
    _sync_directory(path.parent)


def _sync_directory(path: Path) -> None:
    """Make a rename or an unlink durable: it lives in the directory's own data."""
    with contextlib.suppress(OSError):
        fd = os.open(path, os.O_RDONLY)
        try:
            os.fsync(fd)
        finally:
            os.close(fd)
