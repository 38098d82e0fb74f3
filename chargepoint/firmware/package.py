"""The update package: a gzipped tar holding `manifest.json` and `wheels/` (Borne's own wheel and
every dependency's, built for the box's platform), so a box without any package index installs it
offline. The manifest names the project wheel and gives every file's SHA-256 and size; nothing
unlisted may be in the archive.

    manifest.json   {"format": "borne-release/1", "name": "borne", "version": "0.2.0",
                     "requires_python": ">=3.11", "project_wheel": "wheels/borne-0.2.0-py3-none-any.whl",
                     "created": "...Z", "files": {"wheels/...whl": {"sha256": "...", "size": 123}, ...}}
    wheels/*.whl
"""
from __future__ import annotations

import hashlib
import json
import re
import shutil
import sys
import tarfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

FORMAT = "borne-release/1"
NAME = "borne"
MANIFEST = "manifest.json"
MAX_MEMBERS = 1000
_VERSION = re.compile(r"[A-Za-z0-9][A-Za-z0-9._+-]{0,49}")  # fits BootNotification's CiString50
_REQUIRES = re.compile(r">=\s*(\d+)\.(\d+)")


class PackageError(Exception):
    """The package cannot be installed; the message says why."""


@dataclass(frozen=True)
class Manifest:
    version: str
    project_wheel: str  # relative to the unpacked package
    requires_python: str
    files: dict[str, tuple[str, int]]  # relative path -> (sha256 hex, size)


def sha256_of(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def unpack(archive: Path, dest: Path) -> Manifest:
    """Unpack `archive` into `dest` (emptied first) and check it against its manifest."""
    if dest.exists():
        shutil.rmtree(dest)
    dest.mkdir(parents=True)
    try:
        with tarfile.open(archive, "r:gz") as tar:
            members = tar.getmembers()
            if len(members) > MAX_MEMBERS:
                raise PackageError(f"the archive holds {len(members)} entries, more than {MAX_MEMBERS}")
            for member in members:
                _check_member(member)
            tar.extractall(dest, filter="data")
    except (tarfile.TarError, OSError, EOFError) as exc:
        raise PackageError(f"not a readable .tar.gz: {exc}") from exc
    manifest = read_manifest(dest / MANIFEST)
    check_files(dest, manifest)
    return manifest


def _check_member(member: tarfile.TarInfo) -> None:
    name = member.name
    parts = Path(name).parts
    if name.startswith("/") or ".." in parts:
        raise PackageError(f"unsafe path in the archive: {name!r}")
    if not (member.isfile() or member.isdir()):
        raise PackageError(f"{name!r} is neither a file nor a directory")


def read_manifest(path: Path) -> Manifest:
    try:
        raw = json.loads(path.read_text())
    except FileNotFoundError:
        raise PackageError(f"no {MANIFEST} in the package") from None
    except (OSError, ValueError) as exc:
        raise PackageError(f"{MANIFEST} is not valid JSON: {exc}") from exc
    if not isinstance(raw, dict) or raw.get("format") != FORMAT:
        raise PackageError(f"{MANIFEST}: format is not {FORMAT!r}")
    if raw.get("name") != NAME:
        raise PackageError(f"{MANIFEST}: the package is for {raw.get('name')!r}, not {NAME!r}")
    version = raw.get("version")
    if not isinstance(version, str) or not _VERSION.fullmatch(version):
        raise PackageError(f"{MANIFEST}: version {version!r} is not a version string")
    files = _files(raw.get("files"))
    wheel = raw.get("project_wheel")
    if not isinstance(wheel, str) or wheel not in files or not wheel.endswith(".whl"):
        raise PackageError(f"{MANIFEST}: project_wheel {wheel!r} is not one of the listed wheels")
    requires = raw.get("requires_python", "")
    if not isinstance(requires, str):
        raise PackageError(f"{MANIFEST}: requires_python is not a string")
    return Manifest(version, wheel, requires, files)


def _files(raw: Any) -> dict[str, tuple[str, int]]:
    if not isinstance(raw, dict) or not raw:
        raise PackageError(f"{MANIFEST}: files is missing or empty")
    files = {}
    for name, entry in raw.items():
        if not isinstance(entry, dict):
            raise PackageError(f"{MANIFEST}: entry for {name!r} is not an object")
        digest, size = entry.get("sha256"), entry.get("size")
        if not isinstance(digest, str) or not re.fullmatch(r"[0-9a-f]{64}", digest) or not isinstance(size, int):
            raise PackageError(f"{MANIFEST}: entry for {name!r} needs a sha256 (64 hex digits) and a size")
        files[name] = (digest, size)
    return files


def check_files(root: Path, manifest: Manifest) -> None:
    """Every listed file is there with its checksum; nothing else is."""
    present = {p.relative_to(root).as_posix() for p in root.rglob("*") if p.is_file()} - {MANIFEST}
    extra = sorted(present - manifest.files.keys())
    if extra:
        raise PackageError(f"files not in the manifest: {', '.join(extra[:5])}")
    for name, (digest, size) in sorted(manifest.files.items()):
        path = root / name
        if not path.is_file():
            raise PackageError(f"{name} is listed in the manifest but missing")
        if path.stat().st_size != size or sha256_of(path) != digest:
            raise PackageError(f"{name} does not match its checksum in the manifest")


def python_fits(requires: str, version: tuple[int, int] | None = None) -> bool:
    """Only the ">=X.Y" form is understood; anything else is left to the installer."""
    match = _REQUIRES.search(requires)
    if match is None:
        return True
    have = version or sys.version_info[:2]
    return tuple(have) >= (int(match[1]), int(match[2]))


def write_manifest(root: Path, version: str, project_wheel: str, requires_python: str, created: str) -> Path:
    """List every file under `root` with its checksum (the builder's side of check_files)."""
    files = {p.relative_to(root).as_posix(): {"sha256": sha256_of(p), "size": p.stat().st_size}
             for p in sorted(root.rglob("*")) if p.is_file() and p.name != MANIFEST}
    manifest = {"format": FORMAT, "name": NAME, "version": version, "requires_python": requires_python,
                "project_wheel": project_wheel, "created": created, "files": files}
    path = root / MANIFEST
    path.write_text(json.dumps(manifest, indent=2, sort_keys=True) + "\n")
    return path


def write_archive(root: Path, out: Path) -> Path:
    """A .tar.gz of `root`'s contents, in a stable order, owned by nobody in particular."""
    def clean(info: tarfile.TarInfo) -> tarfile.TarInfo:
        info.uid = info.gid = 0
        info.uname = info.gname = ""
        return info

    out.parent.mkdir(parents=True, exist_ok=True)
    with tarfile.open(out, "w:gz") as tar:
        for path in sorted(root.rglob("*")):
            tar.add(path, arcname=path.relative_to(root).as_posix(), recursive=False, filter=clean)
    return out
