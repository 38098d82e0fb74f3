"""The update package format: what unpacks, and every way a package is refused before anything
is installed (checksums, unlisted or missing files, unsafe archive entries, a bad manifest)."""
from __future__ import annotations

import io
import json
import tarfile
from pathlib import Path

import pytest

from chargepoint.firmware.package import MANIFEST, PackageError, python_fits, unpack, write_archive
from firmware_rig import make_package


def _archive(tmp_path: Path, entries: dict[str, bytes], links: dict[str, str] | None = None) -> Path:
    path = tmp_path / "custom.tar.gz"
    with tarfile.open(path, "w:gz") as tar:
        for name, data in entries.items():
            info = tarfile.TarInfo(name)
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data))
        for name, target in (links or {}).items():
            info = tarfile.TarInfo(name)
            info.type = tarfile.SYMTYPE
            info.linkname = target
            tar.addfile(info)
    return path


def test_a_good_package_unpacks_with_its_manifest(tmp_path: Path) -> None:
    manifest = unpack(make_package(tmp_path, "2.0"), tmp_path / "out")
    assert manifest.version == "2.0"
    assert manifest.project_wheel == "wheels/borne-2.0-py3-none-any.whl"
    assert (tmp_path / "out" / manifest.project_wheel).read_bytes() == b"wheel 2.0"


def test_a_file_that_does_not_match_its_checksum(tmp_path: Path) -> None:
    with pytest.raises(PackageError, match="does not match its checksum"):
        unpack(make_package(tmp_path, "2.0", tamper=True), tmp_path / "out")


def _repack(tmp_path: Path, change: str) -> Path:
    """The good package with one change made to its unpacked tree."""
    tree = tmp_path / "tree"
    unpack(make_package(tmp_path, "2.0"), tree)
    manifest = json.loads((tree / MANIFEST).read_text())
    if change == "extra":
        (tree / "wheels" / "evil.whl").write_bytes(b"x")
    elif change == "missing":
        (tree / manifest["project_wheel"]).unlink()
    elif change == "no-manifest":
        (tree / MANIFEST).unlink()
    elif change == "other-product":
        manifest["name"] = "other"
    elif change == "bad-version":
        manifest["version"] = "2.0; rm -rf /"
    elif change == "format":
        manifest["format"] = "zip/9"
    elif change == "wheel-not-listed":
        manifest["project_wheel"] = "wheels/nothing.whl"
    if (tree / MANIFEST).exists():
        (tree / MANIFEST).write_text(json.dumps(manifest))
    return write_archive(tree, tmp_path / "changed.tar.gz")


@pytest.mark.parametrize("change, message", [
    ("extra", "not in the manifest"),
    ("missing", "missing"),
    ("no-manifest", "no manifest.json"),
    ("other-product", "not 'borne'"),
    ("bad-version", "not a version string"),
    ("format", "format"),
    ("wheel-not-listed", "not one of the listed wheels"),
])
def test_a_package_that_does_not_fit_its_manifest(tmp_path: Path, change: str, message: str) -> None:
    with pytest.raises(PackageError, match=message):
        unpack(_repack(tmp_path, change), tmp_path / "out")


def test_unsafe_entries_are_refused_before_anything_is_written(tmp_path: Path) -> None:
    for entries, links in (({"../escape.txt": b"x"}, None), ({"/etc/passwd": b"x"}, None),
                           ({MANIFEST: b"{}"}, {"wheels/link": "/etc/shadow"})):
        with pytest.raises(PackageError, match="unsafe|neither"):
            unpack(_archive(tmp_path, entries, links), tmp_path / "out")
    assert not (tmp_path / "escape.txt").exists()


def test_not_an_archive(tmp_path: Path) -> None:
    junk = tmp_path / "junk.tar.gz"
    junk.write_bytes(b"<html>404</html>")
    with pytest.raises(PackageError, match="not a readable"):
        unpack(junk, tmp_path / "out")


def test_python_requirement() -> None:
    assert python_fits(">=3.11", (3, 11)) and python_fits(">=3.11", (3, 13))
    assert not python_fits(">=3.12", (3, 11))
    assert python_fits("", (3, 11))
