"""Fixtures for the OCA OCPP 1.6 compliance cases (Charge Point side).

One controller per module: `station` starts the real controller process on the simulated board
against a TestCsms and boots it once; `cp` hands it to a test after putting it back into the
state every case starts from (no EV, no transaction, connector Available, configuration keys the
test changed restored). A module tunes its controller with module-level `CSMS_KWARGS` (keyword
arguments for TestCsms) and `CP_CONFIG` (tables merged into firmware.toml).

Tests that need a controller of their own (cold boot cases) use `fresh_station`.
"""
from __future__ import annotations

import shutil
import sys
import tempfile
from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path
from typing import Any

import pytest
import pytest_asyncio

_E2E_DIR = Path(__file__).resolve().parents[2] / "e2e"
if str(_E2E_DIR) not in sys.path:
    sys.path.insert(0, str(_E2E_DIR))
if str(Path(__file__).resolve().parent) not in sys.path:
    sys.path.insert(0, str(Path(__file__).resolve().parent))

from e2e_harness import TAGS, ChargePointProcess, check_timestamps, write_config  # noqa: E402
from oca16 import Station, check_timestamps_since  # noqa: E402

from csms import TestCsms  # noqa: E402  (tests/ is put on sys.path by e2e_harness)

_STATION_KEY = pytest.StashKey[Station]()


@pytest.hookimpl(wrapper=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo[Any]) -> Any:
    """On failure, attach the controller's log and the CSMS wire trace to the report."""
    report = yield
    station = item.stash.get(_STATION_KEY, None)
    if report.failed and station is not None:
        text = station.cp.log()
        report.sections.append(("controller log (tail)", text[-12000:]))
        frames = "\n".join(f"{d:>3} {t}" for d, t in station.csms.frames[-60:])
        report.sections.append(("CSMS frames (last 60)", frames))
    return report


def _module_settings(module: Any) -> tuple[dict[str, Any], dict[str, dict[str, Any]], str]:
    csms_kwargs = {"tags": dict(TAGS), **getattr(module, "CSMS_KWARGS", {})}
    return csms_kwargs, dict(getattr(module, "CP_CONFIG", {})), getattr(module, "CONNECTOR_TYPE", "Type2Socket")


async def _new_station(directory: Path, csms_kwargs: dict[str, Any], overrides: dict[str, dict[str, Any]],
                       connector_type: str = "Type2Socket") -> Station:
    csms = TestCsms(**csms_kwargs)
    await csms.start()
    socket_dir = Path(tempfile.mkdtemp(prefix="b", dir="/tmp"))
    config = write_config(directory / "firmware.toml", csms.url, directory / "borne.db", socket_dir / "s.sock",
                          overrides)
    if connector_type != "Type2Socket":
        config.write_text(config.read_text().replace('type = "Type2Socket"', f'type = "{connector_type}"'))
    process = ChargePointProcess(config, directory / "controller.log")
    return Station(csms, process, socket_dir)


@pytest_asyncio.fixture(scope="module", loop_scope="module")
async def station(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> AsyncIterator[Station]:
    """The module's controller, booted and accepted, shared by the module's cases."""
    csms_kwargs, overrides, connector_type = _module_settings(request.module)
    directory = tmp_path_factory.mktemp("oca16")
    st = await _new_station(directory, csms_kwargs, overrides, connector_type)
    try:
        await st.boot()
        yield st
    finally:
        await st.close()
        shutil.rmtree(st.socket_dir, ignore_errors=True)


@pytest_asyncio.fixture(loop_scope="module")
async def cp(request: pytest.FixtureRequest, station: Station) -> AsyncIterator[Station]:
    """The module's controller in the state a case starts from; restored again afterwards."""
    request.node.stash[_STATION_KEY] = station
    await station.settle()
    mark = station.csms.mark()
    station.begin_case()
    yield station
    check_timestamps_since(station.csms, mark)
    await station.end_case()
    assert not station.csms.handler_errors, f"test CSMS handlers failed: {station.csms.handler_errors!r}"


@pytest_asyncio.fixture(loop_scope="module")
async def fresh_station(request: pytest.FixtureRequest,
                        tmp_path: Path) -> AsyncIterator[Callable[..., Awaitable[Station]]]:
    """A factory of controllers of a case's own, not started: `await fresh_station(csms_kwargs,
    cp_config)`. Every one made is stopped after the case."""
    made: list[Station] = []

    async def make(csms_kwargs: dict[str, Any] | None = None,
                   cp_config: dict[str, dict[str, Any]] | None = None) -> Station:
        directory = tmp_path / f"station{len(made)}"
        directory.mkdir()
        st = await _new_station(directory, {"tags": dict(TAGS), **(csms_kwargs or {})}, cp_config or {})
        made.append(st)
        request.node.stash[_STATION_KEY] = st
        return st

    try:
        yield make
    finally:
        for st in made:
            check_timestamps(st.csms)
            await st.close()
            shutil.rmtree(st.socket_dir, ignore_errors=True)

