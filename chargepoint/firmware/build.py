"""`python -m chargepoint.firmware.build` (what `make release` runs): the update package of
this project, dist/borne-<version>.tar.gz, with Borne's wheel and the wheels of every runtime
dependency at the versions requirements.lock pins, for the box's platform, and optionally its
signature (dist/borne-<version>.tar.gz.sig, Base64, what SignedUpdateFirmware carries).

Building needs a package index (or --wheelhouse, a directory of wheels); installing on the box
needs none. For a Raspberry Pi OS Bookworm box from a PC:

    make release PLATFORM=manylinux_2_36_aarch64 PYTHON_VERSION=3.11 SIGNING_KEY=signing-key.pem
"""
from __future__ import annotations

import argparse
import email.parser
import re
import shutil
import subprocess
import sys
import tempfile
import zipfile
from collections.abc import Sequence
from datetime import datetime, timezone
from pathlib import Path

from chargepoint.firmware.package import NAME, write_archive, write_manifest
from chargepoint.firmware.signature import sign_file
from chargepoint.timeutil import iso_utc

# What the project wheel is built from; everything else (venv, tests, caches) stays out.
_IGNORE = shutil.ignore_patterns(".git", ".venv", "venv", "build", "dist", "*.egg-info", "__pycache__",
                                 "node_modules", "tests", "run", ".pytest_cache", ".mypy_cache")
_VERSION_LINE = re.compile(r'^version\s*=\s*"[^"]*"', re.MULTILINE)


class BuildError(Exception):
    pass


def build_package(project: Path, out_dir: Path, *, project_wheel: Path | None = None,
                  wheelhouses: Sequence[Path] = (), platforms: Sequence[str] = (),
                  python_version: str | None = None, version: str | None = None,
                  sign_key: Path | None = None) -> Path:
    """Build the package; return its path."""
    with tempfile.TemporaryDirectory(prefix="borne-release-") as tmp:
        root = Path(tmp) / "package"
        wheels = root / "wheels"
        wheels.mkdir(parents=True)
        if project_wheel is None:
            project_wheel = _build_wheel(project, Path(tmp) / "src", wheels, version)
        else:
            project_wheel = Path(shutil.copy(project_wheel, wheels))
        name, wheel_version = project_wheel.name.split("-")[:2]
        if name != NAME:
            raise BuildError(f"{project_wheel.name} is not a {NAME} wheel")
        _download_dependencies(project_wheel, project / "requirements.lock", wheels, wheelhouses, platforms,
                               python_version)
        write_manifest(root, wheel_version, f"wheels/{project_wheel.name}", _requires_python(project_wheel),
                       iso_utc(datetime.now(timezone.utc)))
        archive = write_archive(root, out_dir / f"{NAME}-{wheel_version}.tar.gz")
    if sign_key is not None:
        signature = sign_file(sign_key.read_bytes(), archive)
        archive.with_name(archive.name + ".sig").write_text(signature + "\n")
    return archive


def _build_wheel(project: Path, src: Path, wheels: Path, version: str | None) -> Path:
    shutil.copytree(project, src, ignore=_IGNORE, symlinks=False)
    if version is not None:
        pyproject = src / "pyproject.toml"
        text, count = _VERSION_LINE.subn(f'version = "{version}"', pyproject.read_text(), count=1)
        if count != 1:
            raise BuildError("pyproject.toml has no version line to replace")
        pyproject.write_text(text)
    _pip("wheel", "--no-deps", "--wheel-dir", str(wheels), str(src))
    found = sorted(wheels.glob(f"{NAME}-*.whl"))
    if len(found) != 1:
        raise BuildError(f"expected one {NAME} wheel, found {[p.name for p in found]}")
    return found[0]


def _download_dependencies(project_wheel: Path, lock: Path, wheels: Path, wheelhouses: Sequence[Path],
                           platforms: Sequence[str], python_version: str | None) -> None:
    """Every runtime dependency as a wheel, resolved from the project wheel's requirements with
    the lock's versions (`-c`): test tools in the lock are not dependencies, so they stay out."""
    args = ["download", "--only-binary=:all:", "--dest", str(wheels), "-c", str(lock)]
    if wheelhouses:
        args.append("--no-index")
        for house in wheelhouses:
            args += ["--find-links", str(house)]
    for platform in platforms:
        args += ["--platform", platform]
    if python_version is not None:
        args += ["--python-version", python_version, "--implementation", "cp"]
    _pip(*args, str(project_wheel))


def _requires_python(wheel: Path) -> str:
    with zipfile.ZipFile(wheel) as zf:
        name = next(n for n in zf.namelist() if n.endswith(".dist-info/METADATA"))
        metadata = email.parser.Parser().parsestr(zf.read(name).decode())
    return metadata.get("Requires-Python", "") or ""


def _pip(*args: str) -> None:
    command = [sys.executable, "-m", "pip", "--disable-pip-version-check", "-q", *args]
    result = subprocess.run(command, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    if result.returncode != 0:
        raise BuildError(f"pip {args[0]} failed:\n{result.stdout.strip()[-2000:]}")


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m chargepoint.firmware.build", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--project", type=Path, default=Path("."), help="the project directory (pyproject.toml)")
    parser.add_argument("--out", type=Path, default=Path("dist"), help="where the package goes")
    parser.add_argument("--project-wheel", type=Path, help="use this Borne wheel instead of building one")
    parser.add_argument("--wheelhouse", type=Path, action="append", default=[],
                        help="take dependency wheels from this directory only (no index); repeatable")
    parser.add_argument("--platform", action="append", default=[],
                        help="the box's wheel platform tag, e.g. manylinux_2_36_aarch64; repeatable")
    parser.add_argument("--python-version", help="the box's Python, e.g. 3.11 (with --platform)")
    parser.add_argument("--version", help="override the version of pyproject.toml (release candidates)")
    parser.add_argument("--sign-key", type=Path, help="PEM private key (EC or RSA) of the Firmware Signing certificate")
    args = parser.parse_args(argv)
    try:
        archive = build_package(args.project.resolve(), args.out.resolve(), project_wheel=args.project_wheel,
                                wheelhouses=args.wheelhouse, platforms=args.platform,
                                python_version=args.python_version, version=args.version, sign_key=args.sign_key)
    except (BuildError, OSError, ValueError) as exc:
        print(f"release: {exc}", file=sys.stderr)
        return 1
    print(archive)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
