"""End-to-end fixtures: the real controller process (`python -m chargepoint run`) against the
scriptable TestCsms over a real WebSocket, with the simulated board driven only through
`python -m chargepoint sim`.

Every test gets its own CSMS port, its own configuration, database and control socket, so the
tests are independent and can run in parallel (`pytest -n 2`).

Markers:
  @pytest.mark.csms(boot_statuses=[...], boot_interval=2, tags={...})
      keyword arguments for TestCsms (tags default to e2e_harness.TAGS).
  @pytest.mark.cp_config(ocpp={...}, auth={...}, ...)
      tables merged into the generated firmware.toml.
"""
from __future__ import annotations

import shutil
import sys
import tempfile
from collections.abc import AsyncIterator, Iterable
from pathlib import Path
from typing import Any

import pytest

if str(Path(__file__).resolve().parent) not in sys.path:
    sys.path.insert(0, str(Path(__file__).resolve().parent))
from e2e_harness import TAGS, E2E, ChargePointProcess, check_timestamps, write_config  # noqa: E402

from csms import TestCsms  # noqa: E402  (tests/ is put on sys.path by e2e_harness)

_LOG_KEY = pytest.StashKey[Path]()
_CSMS_KEY = pytest.StashKey[TestCsms]()


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line("markers", "csms(**kwargs): keyword arguments for the TestCsms")
    config.addinivalue_line("markers", "cp_config(**tables): tables merged into the e2e firmware.toml")


@pytest.hookimpl(wrapper=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo[Any]) -> Any:
    """On failure, attach the controller's log and the CSMS wire trace to the report."""
    report = yield
    if report.failed:
        log_path = item.stash.get(_LOG_KEY, None)
        if log_path is not None and log_path.exists():
            text = log_path.read_text(errors="replace")
            report.sections.append(("controller log", text[-20000:]))
        csms = item.stash.get(_CSMS_KEY, None)
        if csms is not None:
            frames = "\n".join(f"{d:>3} {t}" for d, t in csms.frames[-80:])
            report.sections.append(("CSMS frames (last 80)", frames))
    return report


# ---- fixtures --------------------------------------------------------------------------------------


def _marker_kwargs(request: pytest.FixtureRequest, name: str) -> dict[str, Any]:
    kwargs: dict[str, Any] = {}
    for marker in reversed(list(request.node.iter_markers(name))):
        kwargs.update(marker.kwargs)
    return kwargs


@pytest.fixture
async def csms(request: pytest.FixtureRequest) -> AsyncIterator[TestCsms]:
    kwargs = {"tags": TAGS, **_marker_kwargs(request, "csms")}
    server = TestCsms(**kwargs)
    await server.start()
    request.node.stash[_CSMS_KEY] = server
    try:
        yield server
    finally:
        await server.stop()
    assert not server.handler_errors, f"test CSMS handlers failed: {server.handler_errors!r}"


@pytest.fixture
def short_dir() -> Iterable[Path]:
    """A short directory under /tmp for the Unix control socket (sun_path is 108 bytes)."""
    path = Path(tempfile.mkdtemp(prefix="b", dir="/tmp"))
    try:
        yield path
    finally:
        shutil.rmtree(path, ignore_errors=True)


@pytest.fixture
def config_path(request: pytest.FixtureRequest, tmp_path: Path, csms: TestCsms, short_dir: Path) -> Path:
    overrides = _marker_kwargs(request, "cp_config")
    return write_config(tmp_path / "firmware.toml", csms.url, tmp_path / "borne.db", short_dir / "s.sock", overrides)


@pytest.fixture
async def cp(request: pytest.FixtureRequest, config_path: Path, tmp_path: Path) -> AsyncIterator[ChargePointProcess]:
    """The controller process, not started yet (E2E.boot() or cp.start() starts it)."""
    log_path = tmp_path / "controller.log"
    request.node.stash[_LOG_KEY] = log_path
    process = ChargePointProcess(config_path, log_path)
    try:
        yield process
    finally:
        await process.stop()


@pytest.fixture
async def e2e(csms: TestCsms, cp: ChargePointProcess) -> AsyncIterator[E2E]:
    """Harness with the controller not started: configure the CSMS first, then `await e2e.boot()`
    or `await e2e.cp.start()`."""
    harness = E2E(csms, cp)
    yield harness
    check_timestamps(csms)


@pytest.fixture
async def ready(e2e: E2E) -> E2E:
    """Harness with the controller running, accepted, and both connectors reported Available."""
    await e2e.boot()
    return e2e
