"""The real package builder and installer, without any package index: `make release`'s builder
fed with wheels of the installed dependencies, then a release built from the package alone in a
fresh virtual environment, checked, and marked complete."""
from __future__ import annotations

import subprocess
from pathlib import Path

import pytest

from chargepoint.firmware.build import BuildError, build_package, main
from chargepoint.firmware.installer import InstallError, VenvInstaller
from chargepoint.firmware.package import unpack, write_archive, write_manifest
from chargepoint.firmware.releases import read_release
from chargepoint.firmware.signature import signature_valid
from firmware_helpers import borne_wheel, signing_certificate, signing_key_pem, wheelhouse
from security_pki import TestCa
from test_firmware_config import BASE

pytestmark = pytest.mark.timeout(180)


@pytest.fixture(scope="module")
def wheels(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return wheelhouse(tmp_path_factory.mktemp("wheelhouse"))


async def test_built_package_installs_offline_into_a_working_release(tmp_path: Path, wheels: Path) -> None:
    project_wheel = borne_wheel(tmp_path, "2.0.0")
    ca = TestCa("Borne Maker Root")
    signing = signing_certificate(ca)
    key = tmp_path / "signing.key"
    key.write_bytes(signing_key_pem(signing))
    assert main(["--project", str(Path(__file__).resolve().parent.parent), "--out", str(tmp_path / "dist"),
                 "--project-wheel", str(project_wheel), "--wheelhouse", str(wheels), "--sign-key", str(key)]) == 0
    package = tmp_path / "dist" / "borne-2.0.0.tar.gz"
    signature = (tmp_path / "dist" / "borne-2.0.0.tar.gz.sig").read_text()
    assert signature_valid(signing.certificate, signature, package)

    manifest = unpack(package, tmp_path / "unpacked")
    names = {Path(n).name.split("-")[0].lower() for n in manifest.files}
    assert {"borne", "ocpp", "websockets", "cryptography", "pymodbus"} <= names
    assert "pytest" not in names and "hypothesis" not in names  # test tools are not shipped

    config = tmp_path / "firmware.toml"
    config.write_text(BASE)
    target = tmp_path / "releases" / "2.0.0"
    await VenvInstaller(config, timeout_s=170).install(tmp_path / "unpacked", manifest, target, "2026-01-01T00:00:00Z")
    assert read_release(target) == {"version": "2.0.0", "installed_at": "2026-01-01T00:00:00Z",
                                    "project_wheel": "wheels/borne-2.0.0-py3-none-any.whl"}
    out = subprocess.run([str(target / "venv" / "bin" / "python"), "-c",
                          "import importlib.metadata as m, chargepoint.app; print(m.version('borne'))"],
                         capture_output=True, text=True, cwd=tmp_path, check=True)
    assert out.stdout.strip() == "2.0.0"
    assert (target / "venv" / "bin" / "chargepoint").exists()


async def test_package_missing_a_dependency_fails_to_install(tmp_path: Path) -> None:
    root = tmp_path / "pkg"
    (root / "wheels").mkdir(parents=True)
    wheel = borne_wheel(root / "wheels", "2.0.1")
    write_manifest(root, "2.0.1", f"wheels/{wheel.name}", ">=3.11", "2026-01-01T00:00:00Z")
    package = write_archive(root, tmp_path / "borne-2.0.1.tar.gz")
    manifest = unpack(package, tmp_path / "unpacked")
    config = tmp_path / "firmware.toml"
    config.write_text(BASE)
    with pytest.raises(InstallError, match="install the wheels failed"):
        await VenvInstaller(config, timeout_s=170).install(tmp_path / "unpacked", manifest,
                                                           tmp_path / "releases" / "2.0.1", "now")
    assert read_release(tmp_path / "releases" / "2.0.1") is None


def test_builder_refuses_a_wheel_of_another_project(tmp_path: Path, wheels: Path) -> None:
    other = next(wheels.glob("ocpp-*.whl"))
    with pytest.raises(BuildError, match="not a borne wheel"):
        build_package(Path(__file__).resolve().parent.parent, tmp_path, project_wheel=other, wheelhouses=[wheels])
