"""The releases on the box: `<root>/releases/<dir>/` each a complete install (a virtual
environment holding Borne and its dependencies, and release.json), `<root>/current` the one systemd
runs, `<root>/previous` the one a rollback returns to. A link is switched by renaming a new
symlink over it, so at every instant it names one complete release."""
from __future__ import annotations

import json
import logging
import os
import re
import shutil
import sys
from dataclasses import dataclass
from pathlib import Path

from chargepoint.firmware.state import fsync_dir

log = logging.getLogger(__name__)

RELEASE_FILE = "release.json"  # written last: a directory without it is an unfinished install
_SAFE = re.compile(r"[^A-Za-z0-9._+-]")


@dataclass(frozen=True)
class Links:
    """Where current and previous point (release directories), None where a link is absent."""

    current: Path | None
    previous: Path | None


class Releases:
    def __init__(self, root: Path) -> None:
        self.root = Path(root)
        self.dir = self.root / "releases"
        self.current_link = self.root / "current"
        self.previous_link = self.root / "previous"

    def links(self) -> Links:
        return Links(_target(self.current_link), _target(self.previous_link))

    def python(self) -> Path | None:
        """The interpreter of the current release (through its real directory, so a process
        started from it keeps knowing which release it is after the link moves)."""
        current = _target(self.current_link)
        if current is None:
            return None
        python = current / "venv" / "bin" / "python"
        return python if python.exists() else None

    def new_dir(self, version: str) -> Path:
        """A fresh directory name for a release of `version`, never one a link names."""
        base = _SAFE.sub("_", version) or "release"
        taken = {p for p in (_target(self.current_link), _target(self.previous_link)) if p is not None}
        candidate, n = self.dir / base, 1
        while candidate.resolve() in taken or (candidate / RELEASE_FILE).exists():
            n += 1
            candidate = self.dir / f"{base}~{n}"
        return candidate

    def switch(self, release: Path) -> None:
        """previous := the current release, current := `release`. Idempotent: run again after a
        power cut in the middle, it completes the same switch."""
        links = self.links()
        if links.current is not None and links.current != release.resolve():
            self._point(self.previous_link, links.current)
        self._point(self.current_link, release)

    def restore(self, current: Path | None, previous: Path | None) -> None:
        """Put both links back as they were (a rollback); idempotent."""
        if current is None:
            _remove(self.current_link)
        else:
            self._point(self.current_link, current)
        if previous is None:
            _remove(self.previous_link)
        else:
            self._point(self.previous_link, previous)
        fsync_dir(self.root)

    def prune(self) -> list[Path]:
        """Remove every release neither link names, unfinished installs included."""
        if not self.dir.is_dir():
            return []
        keep = {p for p in (_target(self.current_link), _target(self.previous_link)) if p is not None}
        removed = []
        for entry in sorted(self.dir.iterdir()):
            if entry.resolve() in keep or not entry.is_dir() or entry.is_symlink():
                continue
            shutil.rmtree(entry, ignore_errors=True)
            removed.append(entry)
        return removed

    def _point(self, link: Path, target: Path) -> None:
        link.parent.mkdir(parents=True, exist_ok=True)
        try:
            relative = os.path.relpath(target.resolve(), link.parent.resolve())
        except ValueError:
            relative = str(target.resolve())
        if os.path.islink(link) and os.readlink(link) == relative:
            return
        tmp = link.with_name(f".{link.name}.{os.getpid()}.tmp")
        _remove(tmp)
        os.symlink(relative, tmp)
        os.replace(tmp, link)
        fsync_dir(link.parent)


def read_release(release: Path) -> dict[str, object] | None:
    """The release's own record, or None for an unfinished install."""
    try:
        data = json.loads((release / RELEASE_FILE).read_text())
    except (OSError, ValueError):
        return None
    return data if isinstance(data, dict) else None


def running_venv() -> Path:
    """The virtual environment (or installation prefix) of this process, symlinks resolved."""
    return Path(os.path.realpath(sys.prefix))


def runs_from(release: Path | None, venv: Path | None = None) -> bool:
    """Whether this process runs the release in `release`."""
    if release is None:
        return False
    return os.path.realpath(release / "venv") == str(venv or running_venv())


def _target(link: Path) -> Path | None:
    if not os.path.islink(link):
        return None
    target = Path(os.path.realpath(link))
    return target if target.is_dir() else None


def _remove(path: Path) -> None:
    try:
        os.unlink(path)
    except FileNotFoundError:
        pass
