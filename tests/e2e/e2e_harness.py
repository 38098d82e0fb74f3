"""Helpers for the end-to-end tests: the controller process, the simulator CLI, polling, and
the generated configuration. The fixtures that build them are in conftest.py."""
from __future__ import annotations

import asyncio
import contextlib
import json
import os
import signal
import sys
import tempfile
import time
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

TESTS_DIR = Path(__file__).resolve().parent.parent
if str(TESTS_DIR) not in sys.path:
    sys.path.insert(0, str(TESTS_DIR))

from csms import TestCsms, assert_utc_z  # noqa: E402

# The environment may forbid bytecode caching; every test starts several Python processes, so
# give them a cache outside the source tree.
SUBPROCESS_ENV = {k: v for k, v in os.environ.items() if k != "PYTHONDONTWRITEBYTECODE"}
SUBPROCESS_ENV.setdefault("PYTHONPYCACHEPREFIX", os.path.join(tempfile.gettempdir(), "borne-e2e-pycache"))

TIME_SCALE = 10.0
CP_ID = "E2E-CP-1"
VENDOR = "Borne"
MODEL = "Borne E2E"
WAIT = 15.0  # seconds: generous for a slow CI machine; tests normally finish far sooner

TAGS = {
    "TAG-OK": "Accepted",
    "TAG-OK2": "Accepted",
    "TAG-BLOCKED": "Blocked",
    "TAG-INVALID": "Invalid",
}

# ---- generic helpers ---------------------------------------------------------------------------


async def eventually(predicate: Callable[[], Any], timeout: float = WAIT, interval: float = 0.05,
                     what: str = "the condition") -> Any:
    """Poll `predicate` (sync or async) until it returns something truthy; return that.

    For waiting on another process only: it never asserts how long something took."""
    deadline = time.monotonic() + timeout
    last: Any = None
    while True:
        last = predicate()
        if asyncio.iscoroutine(last) or isinstance(last, Awaitable):
            last = await last
        if last:
            return last
        if time.monotonic() >= deadline:
            raise AssertionError(f"timed out after {timeout}s waiting for {what}; last value: {last!r}")
        await asyncio.sleep(interval)


def check_timestamps(csms: TestCsms) -> None:
    """Every timestamp the charge point sent so far is ISO 8601 UTC with 'Z'."""
    for record in csms.received:
        p = record.payload
        if record.action in ("StatusNotification", "StartTransaction", "StopTransaction"):
            if record.action != "StatusNotification" or "timestamp" in p:
                assert_utc_z(p["timestamp"])
        if record.action == "MeterValues":
            for mv in p["meterValue"]:
                assert_utc_z(mv["timestamp"])
        if record.action == "StopTransaction":
            for mv in p.get("transactionData", []):
                assert_utc_z(mv["timestamp"])


def _toml_value(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, (int, float)):
        return repr(value)
    if isinstance(value, str):
        return json.dumps(value)
    if isinstance(value, (list, tuple)):
        return "[" + ", ".join(_toml_value(v) for v in value) + "]"
    raise TypeError(f"cannot write {value!r} as TOML")


def _table(name: str, values: dict[str, Any]) -> str:
    lines = [f"[{name}]"] + [f"{k} = {_toml_value(v)}" for k, v in values.items()]
    return "\n".join(lines) + "\n"


def write_config(path: Path, csms_url: str, storage: Path, socket: Path,
                 overrides: dict[str, dict[str, Any]] | None = None) -> Path:
    tables: dict[str, dict[str, Any]] = {
        "chargepoint": {"id": CP_ID, "vendor": VENDOR, "model": MODEL},
        "ocpp": {
            "version": "1.6",
            "csms_url": csms_url,
            "heartbeat_interval_s": 300,
            "response_timeout_s": 10,
            "ping_interval_s": 0,
            "reconnect_min_s": 1,   # x1/TIME_SCALE in real time
            "reconnect_max_s": 5,
        },
        "board": {"kind": "sim"},
        "storage": {"path": str(storage)},
        "auth": {"whitelist": ["TECH-0001"]},
        "sim": {"control_socket": str(socket)},
        "logging": {"level": "INFO"},
    }
    for name, values in (overrides or {}).items():
        tables.setdefault(name, {}).update(values)
    text = "".join(_table(n, tables[n]) for n in ("chargepoint", "ocpp", "board", "storage"))
    text += '[[evse]]\nid = 1\nmax_current_a = 32\nphases = 3\n\n[[evse.connector]]\nid = 1\ntype = "Type2Socket"\n'
    text += "".join(_table(n, v) for n, v in tables.items() if n not in ("chargepoint", "ocpp", "board", "storage"))
    path.write_text(text)
    return path


# ---- the controller process ----------------------------------------------------------------------


class ChargePointProcess:
    """The controller under test, run as `python -m chargepoint run` in its own process."""

    def __init__(self, config_path: Path, log_path: Path) -> None:
        self.config_path = config_path
        self.log_path = log_path
        self.proc: asyncio.subprocess.Process | None = None
        self._log_file: Any = None

    async def start(self) -> None:
        assert self.proc is None, "already started"
        self._log_file = open(self.log_path, "ab")
        self.proc = await asyncio.create_subprocess_exec(
            sys.executable, "-m", "chargepoint", "run", "--config", str(self.config_path),
            "--time-scale", str(TIME_SCALE),
            stdin=asyncio.subprocess.DEVNULL, stdout=self._log_file, stderr=asyncio.subprocess.STDOUT,
            cwd=str(self.config_path.parent), env=SUBPROCESS_ENV,
        )

    @property
    def pid(self) -> int:
        assert self.proc is not None
        return self.proc.pid

    @property
    def running(self) -> bool:
        return self.proc is not None and self.proc.returncode is None

    def log(self) -> str:
        return self.log_path.read_text(errors="replace") if self.log_path.exists() else ""

    async def stop(self, timeout: float = 10.0) -> int | None:
        proc = self.proc
        if proc is None:
            return None
        if proc.returncode is None:
            with contextlib.suppress(ProcessLookupError):
                proc.send_signal(signal.SIGTERM)
            try:
                await asyncio.wait_for(proc.wait(), timeout)
            except asyncio.TimeoutError:
                with contextlib.suppress(ProcessLookupError):
                    proc.kill()
                await proc.wait()
        if self._log_file is not None:
            self._log_file.close()
            self._log_file = None
        return proc.returncode


class E2E:
    """Everything a test needs: the CSMS, the controller process and the simulator CLI."""

    def __init__(self, csms: TestCsms, cp: ChargePointProcess) -> None:
        self.csms = csms
        self.cp = cp
        self.config_path = cp.config_path

    async def sim(self, *args: Any, timeout: float = WAIT) -> tuple[int, str]:
        """Run `python -m chargepoint sim --config PATH ARGS...`; return (returncode, stdout)."""
        proc = await asyncio.create_subprocess_exec(
            sys.executable, "-m", "chargepoint", "sim", "--config", str(self.config_path),
            *(str(a) for a in args),
            stdin=asyncio.subprocess.DEVNULL, stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE,
            env=SUBPROCESS_ENV,
        )
        try:
            out, err = await asyncio.wait_for(proc.communicate(), timeout)
        except asyncio.TimeoutError:
            proc.kill()
            await proc.wait()
            raise
        self.last_sim_stderr = err.decode(errors="replace")
        return proc.returncode or 0, out.decode(errors="replace")

    async def sim_ok(self, *args: Any) -> str:
        """A sim command that must succeed."""
        rc, out = await self.sim(*args)
        assert rc == 0, f"`chargepoint sim {' '.join(map(str, args))}` exited {rc}: {out}{self.last_sim_stderr}"
        return out

    async def status(self) -> dict[str, Any]:
        """The parsed `chargepoint sim status --json`."""
        return json.loads(await self.sim_ok("status", "--json"))

    async def evse(self, evse_id: int = 1) -> dict[str, Any]:
        status = await self.status()
        return next(e for e in status["evses"] if e["id"] == evse_id)

    async def wait_evse(self, predicate: Callable[[dict[str, Any]], bool], evse_id: int = 1,
                        timeout: float = WAIT, what: str = "the EVSE state") -> dict[str, Any]:
        async def check() -> dict[str, Any] | None:
            e = await self.evse(evse_id)
            return e if predicate(e) else None
        return await eventually(check, timeout, interval=0.2, what=what)

    async def wait_status(self, connector: int, status: str, since: int = 0, timeout: float = WAIT) -> dict[str, Any]:
        """The first StatusNotification for `connector` with `status` from position `since`."""
        record = await self.csms.wait_for(
            "StatusNotification", lambda p: p["connectorId"] == connector and p["status"] == status,
            timeout=timeout, since=since)
        return record.payload

    def statuses(self, connector: int, since: int = 0) -> list[str]:
        return [r.payload["status"] for r in self.csms.received[since:]
                if r.action == "StatusNotification" and r.payload["connectorId"] == connector]

    def actions(self, since: int = 0) -> list[str]:
        return [r.action for r in self.csms.received[since:]]

    async def boot(self) -> None:
        """Start the controller and wait until it is accepted and reported Available."""
        await self.cp.start()
        await self.unless_exited(self.csms.wait_connected(timeout=WAIT), "the controller to connect")
        await self.unless_exited(self.csms.wait_for("BootNotification", timeout=WAIT), "BootNotification")
        await self.wait_status(0, "Available")
        await self.wait_status(1, "Available")

    async def unless_exited(self, awaitable: Awaitable[Any], what: str) -> Any:
        """Await `awaitable`, but fail at once (with the log) if the controller process exits."""
        assert self.cp.proc is not None, "controller not started"
        waiting = asyncio.ensure_future(awaitable)
        exited = asyncio.ensure_future(self.cp.proc.wait())
        try:
            await asyncio.wait({waiting, exited}, return_when=asyncio.FIRST_COMPLETED)
        finally:
            exited.cancel()
        if waiting.done():
            return waiting.result()
        waiting.cancel()
        await asyncio.gather(waiting, return_exceptions=True)
        raise AssertionError(f"the controller exited with status {self.cp.proc.returncode} while waiting "
                             f"for {what}:\n{self.cp.log()[-4000:]}")

    async def change_configuration(self, key: str, value: str) -> str:
        from ocpp.v16 import call

        result = await self.csms.call(call.ChangeConfiguration(key=key, value=value), timeout=WAIT)
        return result.status

    async def start_transaction(self, tag: str = "TAG-OK") -> tuple[int, dict[str, Any]]:
        """Plug, tap, EV to C: returns (transactionId, StartTransaction payload) once Charging."""
        mark = self.csms.mark()
        await self.sim_ok("plug", 1)
        await self.wait_status(1, "Preparing", since=mark)
        await self.sim_ok("tap", tag)
        start = await self.csms.wait_for("StartTransaction", timeout=WAIT, since=mark)
        await self.sim_ok("ev-state", 1, "C")
        await self.wait_status(1, "Charging", since=mark)
        tx_id = await eventually(lambda: self.transaction_id_of(start.unique_id), what="the StartTransaction answer")
        return tx_id, start.payload

    def transaction_id_of(self, start_unique_id: str) -> int | None:
        """The transactionId the CSMS gave in answer to the StartTransaction with this id."""
        for direction, text in self.csms.frames:
            if direction != "out":
                continue
            frame = json.loads(text)
            if frame[0] == 3 and frame[1] == start_unique_id:
                return frame[2]["transactionId"]
        return None


