"""Fixtures for the independent conformance checks: the ocpp-rpc CSMS process and the real
controller on the simulated board pointed at it (the same launch as the end-to-end tests)."""
from __future__ import annotations

import shutil
import sys
import tempfile
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any, cast

import pytest

if str(Path(__file__).resolve().parent) not in sys.path:
    sys.path.insert(0, str(Path(__file__).resolve().parent))
from ocpp_rpc_harness import NodeCsms, installation_problem  # noqa: E402

from csms import TestCsms  # noqa: E402  (tests/ is put on sys.path by e2e_harness)
from e2e_harness import E2E, ChargePointProcess, write_config  # noqa: E402

_LOGS_KEY = pytest.StashKey[list[tuple[str, Path]]]()

# The interval the CSMS gives in BootNotification: short, so that an idle controller sends a
# Heartbeat early in the scenario (one second at the end-to-end time scale).
HEARTBEAT_INTERVAL_S = 10


@pytest.hookimpl(wrapper=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo[Any]) -> Any:
    """On failure, attach the CSMS's event log and the controller's log to the report."""
    report = yield
    if report.failed:
        for title, path in item.stash.get(_LOGS_KEY, []):
            if path.exists():
                report.sections.append((title, path.read_text(errors="replace")[-20000:]))
    return report


@pytest.fixture
async def node_csms(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[NodeCsms]:
    problem = installation_problem()
    if problem is not None:
        pytest.fail(problem, pytrace=False)
    server = NodeCsms(tmp_path / "csms-events.jsonl", tmp_path / "csms-stderr.txt", HEARTBEAT_INTERVAL_S)
    request.node.stash.setdefault(_LOGS_KEY, []).extend(
        [("ocpp-rpc CSMS events", server.events_path), ("ocpp-rpc CSMS stderr", server.stderr_path)])
    await server.start()
    try:
        yield server
    finally:
        await server.stop()


@pytest.fixture
def socket_dir() -> Iterator[Path]:
    """A short directory under /tmp for the Unix control socket (sun_path is 108 bytes)."""
    path = Path(tempfile.mkdtemp(prefix="b", dir="/tmp"))
    try:
        yield path
    finally:
        shutil.rmtree(path, ignore_errors=True)


@pytest.fixture
async def strict_e2e(request: pytest.FixtureRequest, node_csms: NodeCsms, tmp_path: Path,
                     socket_dir: Path) -> AsyncIterator[E2E]:
    """The end-to-end harness with the ocpp-rpc CSMS in place of the Python one; not started."""
    config = write_config(tmp_path / "firmware.toml", node_csms.url, tmp_path / "borne.db", socket_dir / "s.sock")
    log_path = tmp_path / "controller.log"
    request.node.stash.setdefault(_LOGS_KEY, []).append(("controller log", log_path))
    process = ChargePointProcess(config, log_path)
    try:
        # E2E only uses received, frames, mark() and wait_for(), which NodeCsms provides.
        yield E2E(cast(TestCsms, node_csms), process)
    finally:
        await process.stop()
