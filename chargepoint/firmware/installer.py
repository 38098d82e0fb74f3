"""Build a release beside the running one: a fresh virtual environment holding the package's
wheels, installed by pip from the package alone (`--no-index`: a wallbox has no package index),
then checked (`pip check`, and the new release must accept the configuration in force) before
release.json marks it complete. Nothing here touches the running release or the links."""
from __future__ import annotations

import asyncio
import json
import logging
import os
import shutil
import sys
from pathlib import Path
from typing import Protocol

from chargepoint.firmware.package import MANIFEST, Manifest
from chargepoint.firmware.releases import RELEASE_FILE
from chargepoint.firmware.state import fsync_dir

log = logging.getLogger(__name__)
OUTPUT_TAIL = 600  # characters of a failed step's output kept in the error


class InstallError(Exception):
    """The release could not be built; the running release is untouched."""


class Installer(Protocol):
    async def install(self, unpacked: Path, manifest: Manifest, target: Path, installed_at: str) -> None:
        """Build the release of the unpacked package in `target` (which may hold an unfinished
        earlier attempt); raise InstallError when it cannot be."""


def base_python() -> Path:
    """The interpreter the running release was built on (not its venv's launcher)."""
    return Path(getattr(sys, "_base_executable", sys.executable))


class VenvInstaller:
    def __init__(self, config_path: Path, python: Path | None = None, timeout_s: float = 1800.0) -> None:
        self.config_path = config_path
        self.python = python or base_python()
        self.timeout_s = timeout_s

    async def install(self, unpacked: Path, manifest: Manifest, target: Path, installed_at: str) -> None:
        if target.exists():
            shutil.rmtree(target)
        target.mkdir(parents=True)
        venv_python = target / "venv" / "bin" / "python"
        await self._run("create the virtual environment", str(self.python), "-m", "venv", str(target / "venv"))
        await self._run("install the wheels", str(venv_python), "-m", "pip", "install", "--no-index",
                        "--no-cache-dir", "--disable-pip-version-check", "--find-links", str(unpacked / "wheels"),
                        str(unpacked / manifest.project_wheel))
        await self._run("check the dependencies", str(venv_python), "-m", "pip", "check",
                        "--disable-pip-version-check")
        await self._run("check the configuration with the new release", str(venv_python), "-m", "chargepoint",
                        "config", "check", str(self.config_path))
        shutil.copyfile(unpacked / MANIFEST, target / MANIFEST)
        write_release_file(target, {"version": manifest.version, "installed_at": installed_at,
                                    "project_wheel": manifest.project_wheel})

    async def _run(self, what: str, *argv: str) -> None:
        command = [*_nice(), *argv]
        log.info("firmware install: %s", what)
        try:
            proc = await asyncio.create_subprocess_exec(
                *command, stdin=asyncio.subprocess.DEVNULL, stdout=asyncio.subprocess.PIPE,
                stderr=asyncio.subprocess.STDOUT, env=_clean_env())
        except OSError as exc:
            raise InstallError(f"{what}: cannot run {argv[0]}: {exc}") from None
        try:
            out, _ = await asyncio.wait_for(proc.communicate(), self.timeout_s)
        except asyncio.TimeoutError:
            proc.kill()
            await proc.wait()
            raise InstallError(f"{what}: no result within {self.timeout_s:g} s") from None
        except asyncio.CancelledError:
            if proc.returncode is None:
                proc.kill()
                await proc.wait()
            raise
        if proc.returncode != 0:
            tail = out.decode(errors="replace").strip()[-OUTPUT_TAIL:]
            raise InstallError(f"{what} failed (exit status {proc.returncode}): {tail}")


def write_release_file(target: Path, record: dict[str, object]) -> None:
    """Written last, atomically: its presence is what makes the directory a release."""
    tmp = target / f".{RELEASE_FILE}.tmp"
    with open(tmp, "w") as f:
        json.dump(record, f, indent=1, sort_keys=True)
        f.flush()
        os.fsync(f.fileno())
    os.replace(tmp, target / RELEASE_FILE)
    fsync_dir(target)


def _nice() -> list[str]:
    """Building a venv is heavy on a Pi-class board: leave the CPU to the charging process."""
    nice = shutil.which("nice")
    return [nice, "-n", "10"] if nice else []


def _clean_env() -> dict[str, str]:
    """pip sees the package and nothing else: no index, mirror or config of the host."""
    env = {k: v for k, v in os.environ.items()
           if not k.startswith("PIP_") and k not in ("PYTHONPATH", "PYTHONHOME", "VIRTUAL_ENV")}
    env["PIP_CONFIG_FILE"] = os.devnull
    return env
