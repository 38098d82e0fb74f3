"""What every benchmark shares: the figure record, statistics, /proc readers, the peer process
(CSMS + raw echo server), a controller running in this process, and probes."""
from __future__ import annotations

import asyncio
import json
import logging
import math
import os
import platform
import queue
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
CP_ID = "BORNE-BENCH-001"
TAG = "BENCH-TAG-0001"

# Child processes get a bytecode cache, as an installed device has one (pip compiles on
# install); this environment may forbid caching, and compiling on every start is not what a
# device does. The cache lives outside the source tree.
SUBPROCESS_ENV = {k: v for k, v in os.environ.items() if k != "PYTHONDONTWRITEBYTECODE"}
SUBPROCESS_ENV.setdefault("PYTHONPYCACHEPREFIX", os.path.join(tempfile.gettempdir(), "borne-bench-pycache"))


# ---- figures ----------------------------------------------------------------------------------


@dataclass
class Figure:
    """One line of the table. `target_on` says whether the target applies to the value or to the
    ratio; `op` is "<=" or ">="; a figure without a target has target None."""

    key: str
    title: str
    value: float
    unit: str
    reference: float
    reference_label: str
    ratio: float
    target: float | None = None
    target_on: str = "value"  # "value" | "ratio"
    op: str = "<="
    detail: dict[str, Any] = field(default_factory=dict)
    note: str = ""

    @property
    def target_text(self) -> str:
        if self.target is None:
            return "-"
        if self.target_on == "ratio":
            return f"{self.op} {self.target:g}x"
        return f"{self.op} {fmt(self.target)} {self.unit}"

    @property
    def met(self) -> bool | None:
        if self.target is None:
            return None
        x = self.ratio if self.target_on == "ratio" else self.value
        if not math.isfinite(x):
            return False
        return x <= self.target if self.op == "<=" else x >= self.target

    def as_json(self) -> dict[str, Any]:
        d = asdict(self)
        d["target_text"] = self.target_text
        d["met"] = self.met
        return d


def fmt(x: float) -> str:
    """A number with three significant digits, no exponent for the ranges that occur here."""
    if x is None or not math.isfinite(x):
        return str(x)
    a = abs(x)
    if a >= 100:
        return f"{x:.0f}"
    if a >= 10:
        return f"{x:.1f}"
    if a >= 1:
        return f"{x:.2f}"
    if a >= 0.01:
        return f"{x:.3f}"
    return f"{x:.2g}"


def percentile(values: list[float], q: float) -> float:
    """Linear interpolation between closest ranks (numpy's default); q in 0-100."""
    if not values:
        return math.nan
    s = sorted(values)
    pos = (len(s) - 1) * q / 100.0
    lo = math.floor(pos)
    hi = min(lo + 1, len(s) - 1)
    return s[lo] + (s[hi] - s[lo]) * (pos - lo)


def median(values: list[float]) -> float:
    return percentile(values, 50)


def ms(seconds: list[float]) -> list[float]:
    return [v * 1000.0 for v in seconds]


def ratio(a: float, b: float) -> float:
    return a / b if b else math.inf


# ---- the machine and /proc ----------------------------------------------------------------------


def machine() -> dict[str, Any]:
    model = "unknown"
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.lower().startswith(("model name", "hardware", "cpu model")):
                model = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    try:
        usable = len(os.sched_getaffinity(0))
    except AttributeError:
        usable = os.cpu_count() or 0
    try:
        load = os.getloadavg()
    except OSError:
        load = (math.nan,) * 3
    return {
        "cpu": model,
        "cores": os.cpu_count(),
        "usable_cores": usable,
        "python": platform.python_version(),
        "implementation": platform.python_implementation(),
        "platform": platform.platform(),
        "loadavg_at_start": [round(x, 2) for x in load],
    }


CLK_TCK = os.sysconf("SC_CLK_TCK")


def proc_status_kb(pid: int, key: str) -> int:
    """A `kB` field of /proc/PID/status, e.g. VmRSS or VmHWM."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith(key + ":"):
            return int(line.split()[1])
    raise KeyError(f"{key} not in /proc/{pid}/status")


def proc_cpu_s(pid: int) -> float:
    """utime + stime of a process (all its threads), in seconds."""
    text = Path(f"/proc/{pid}/stat").read_text()
    fields = text[text.rindex(")") + 2:].split()  # after "pid (comm) "
    utime, stime = int(fields[11]), int(fields[12])  # fields 14 and 15 of proc(5)
    return (utime + stime) / CLK_TCK


def proc_run_ns(pid: int) -> int:
    """Time on CPU of every thread of a process, in ns (/proc/PID/task/*/schedstat, first field):
    finer than the clock ticks of /proc/PID/stat, for short windows."""
    total = 0
    for task in Path(f"/proc/{pid}/task").iterdir():
        try:
            total += int((task / "schedstat").read_text().split()[0])
        except (OSError, ValueError, IndexError):
            pass
    return total


# ---- the peer process: CSMS and raw echo server ---------------------------------------------------


class Peer:
    """`python -m benchmarks.peer` in its own process: the bundled DemoCsms and a raw WebSocket echo
    server on loopback. It reports the time.monotonic() (system-wide on Linux) at which each
    BootNotification arrived; it exits when its stdin closes."""

    def __init__(self, heartbeat_s: int = 60) -> None:
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "benchmarks.peer", "--heartbeat", str(heartbeat_s)],
            stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True, cwd=ROOT, env=SUBPROCESS_ENV,
        )
        assert self.proc.stdout is not None
        line = self.proc.stdout.readline()
        if not line:
            raise RuntimeError("the benchmark peer (CSMS + echo server) did not start")
        info = json.loads(line)
        self.csms_url: str = info["csms"]
        self.echo_url: str = info["echo"]
        self.boots: queue.Queue[float] = queue.Queue()
        self._reader = threading.Thread(target=self._read, daemon=True)
        self._reader.start()

    def _read(self) -> None:
        assert self.proc.stdout is not None
        for line in self.proc.stdout:
            try:
                event = json.loads(line)
            except ValueError:
                continue
            if "boot" in event:
                self.boots.put(float(event["boot"]))

    def drain_boots(self) -> None:
        while True:
            try:
                self.boots.get_nowait()
            except queue.Empty:
                return

    def wait_boot(self, timeout_s: float = 15.0) -> float:
        return self.boots.get(timeout=timeout_s)

    def close(self) -> None:
        if self.proc.poll() is None:
            assert self.proc.stdin is not None
            try:
                self.proc.stdin.close()
                self.proc.wait(5)
            except (subprocess.TimeoutExpired, OSError):
                self.proc.kill()
                self.proc.wait()


# ---- configuration -------------------------------------------------------------------------------

CONFIG_TEMPLATE = """\
[chargepoint]
id = "{cp_id}"
vendor = "Borne"
model = "Borne Bench"

[ocpp]
version = "1.6"
csms_url = "{url}"
heartbeat_interval_s = 300
response_timeout_s = 10
ping_interval_s = 30
reconnect_min_s = 1
reconnect_max_s = 5

[board]
kind = "sim"
control_period_ms = 5

[storage]
path = "{db}"

[[evse]]
id = 1
max_current_a = 32
phases = 3

[[evse.connector]]
id = 1
type = "Type2Socket"

[auth]
whitelist = ["TECH-0001"]

[sim]
control_socket = "{sock}"

[logging]
level = "{level}"
"""


def write_config(directory: Path, csms_url: str, level: str = "INFO") -> Path:
    directory.mkdir(parents=True, exist_ok=True)
    path = directory / "firmware.toml"
    path.write_text(CONFIG_TEMPLATE.format(cp_id=CP_ID, url=csms_url, db=directory / "borne.db",
                                           sock=directory / "sim.sock", level=level), encoding="utf-8")
    return path


def seed_settings(db: Path, values: dict[str, str]) -> None:
    """Run-time keys (MeterValueSampleInterval...) persisted before a controller process starts,
    as a CSMS's ChangeConfiguration would have left them."""
    from chargepoint.store import Store

    store = Store(db)
    try:
        for key, value in values.items():
            store.save_setting(key, value)
    finally:
        store.close()


# ---- a controller in this process ------------------------------------------------------------------


class _MemoryHandler(logging.Handler):
    """Formats every record (the controller's cost of logging) and keeps the lines in memory; they
    go to the file only at the end, so the benchmark's disk does not stand in for journald."""

    def __init__(self) -> None:
        super().__init__()
        self.lines: list[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        try:
            self.lines.append(self.format(record))
        except Exception:
            self.handleError(record)


@asynccontextmanager
async def controller_logging(path: Path) -> AsyncIterator[None]:
    """What `chargepoint run` logs (INFO; wire and libraries at WARNING), kept in memory while the
    controller runs and written to `path` afterwards."""
    root = logging.getLogger()
    handler = _MemoryHandler()
    handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s"))
    quiet = {name: logging.getLogger(name).level for name in ("chargepoint.ocpp.wire", "ocpp", "websockets")}
    old_level = root.level
    root.addHandler(handler)
    root.setLevel(logging.INFO)
    for name in quiet:
        logging.getLogger(name).setLevel(logging.WARNING)
    try:
        yield
    finally:
        root.removeHandler(handler)
        root.setLevel(old_level)
        for name, level in quiet.items():
            logging.getLogger(name).setLevel(level)
        path.write_text("\n".join(handler.lines) + "\n", encoding="utf-8")


async def until(predicate: Callable[[], Any], timeout_s: float, what: str, interval_s: float = 0.002) -> None:
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout_s
    while not predicate():
        if loop.time() > deadline:
            raise TimeoutError(f"benchmark waited {timeout_s:g} s in vain for {what}")
        await asyncio.sleep(interval_s)


@asynccontextmanager
async def running_controller(directory: Path, csms_url: str, settings: dict[str, str] | None = None,
                             before_build: Callable[[Path], None] | None = None,
                             wait_accepted: bool = True,
                             on_built: Callable[[Any], None] | None = None,
                             sim_files: bool = False) -> AsyncIterator[Any]:
    """The real controller (build_controller + run_controller, SystemClock, 10 ms control loop) on
    this event loop, connected to the peer's CSMS, as `chargepoint demo` runs it.

    Unless `sim_files`, the simulated board's own persistence is switched off: it rewrites its
    output-latch file at every output change (drivers/sim/outputs.py, inside the control step)
    and its meter-register file at every meter read. A real board's drivers write GPIO pins and
    talk Modbus; they do no file-system I/O on the control path, and on a busy disk those writes
    alone held the event loop for hundreds of milliseconds (docs/performance.md)."""
    from chargepoint.app import build_controller, run_controller
    from chargepoint.config import load_config
    from hal.clock import SystemClock

    path = write_config(directory, csms_url)
    if before_build is not None:
        before_build(directory / "borne.db")
    async with controller_logging(directory / "controller.log"):
        controller = build_controller(load_config(path), SystemClock())
        if not sim_files:
            from drivers.sim.board import sim_board_of

            for evse in sim_board_of(controller.board).evses.values():
                evse.latches = None
                evse.meter._register = None
        for key, value in (settings or {}).items():
            controller.settings.change(key, value)
        if on_built is not None:
            on_built(controller)
        stop = asyncio.Event()
        runner = asyncio.create_task(run_controller(controller, stop))
        try:
            if wait_accepted:
                await until(lambda: controller.link.accepted or runner.done(), 15.0, "BootNotification accepted")
                if runner.done():
                    runner.result()
            yield controller
        finally:
            stop.set()
            await asyncio.wait_for(asyncio.gather(runner, return_exceptions=True), 15.0)


class SampleProbe:
    """Wraps a device's sampling call on the instance (SimPilot.read, SimRcm.tripped): records
    time.perf_counter() at the first sample after `arm()` that shows the event, i.e. the moment
    the control loop could first know of it."""

    def __init__(self, device: Any, method: str, shows: Callable[[Any], bool]) -> None:
        self.first_at = math.nan
        self._armed = False
        original = getattr(device, method)

        def sample(*args: Any, **kwargs: Any) -> Any:
            value = original(*args, **kwargs)
            if self._armed and shows(value):
                self.first_at = time.perf_counter()
                self._armed = False
            return value

        setattr(device, method, sample)

    def arm(self) -> None:
        self.first_at = math.nan
        self._armed = True


class ContactorProbe:
    """Wraps SimContactor.set_closed on the instance: records time.perf_counter() at every change
    of the commanded state, at the moment the controller issues the command (entry of the call)."""

    def __init__(self, contactor: Any) -> None:
        self.contactor = contactor
        self.opened_at = math.nan
        self.closed_at = math.nan
        self._loop = asyncio.get_running_loop()
        self._thread = threading.get_ident()
        self._changed = asyncio.Event()
        original = contactor.set_closed

        def set_closed(closed: bool) -> None:
            # The command is issued on entry; what the simulator does with it afterwards (its
            # output-latch file, drivers/sim/outputs.py) is not part of the reaction.
            now = time.perf_counter()
            was = contactor.commanded_closed
            original(closed)
            if was and not closed:
                self.opened_at = now
            elif closed and not was:
                self.closed_at = now
            else:
                return
            if threading.get_ident() == self._thread:
                self._changed.set()
            else:  # the stall guard's thread
                self._loop.call_soon_threadsafe(self._changed.set)

        contactor.set_closed = set_closed

    @property
    def closed(self) -> bool:
        return bool(self.contactor.commanded_closed)

    async def wait(self, closed: bool, timeout_s: float = 5.0) -> float:
        """Until the commanded state is `closed`; returns when that command was issued."""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout_s
        while self.closed != closed:
            self._changed.clear()
            left = deadline - loop.time()
            if left <= 0:
                raise TimeoutError(f"contactor did not {'close' if closed else 'open'} within {timeout_s:g} s")
            try:
                await asyncio.wait_for(self._changed.wait(), left)
            except asyncio.TimeoutError:
                pass
        return self.closed_at if closed else self.opened_at


class CycleProbe:
    """Wraps the simulated board's heartbeat pin, toggled after every control-loop cycle: the gaps
    between toggles are the real control period, stretched by whatever held the event loop."""

    def __init__(self, heartbeat: Any) -> None:
        self.gaps: list[float] = []
        self._last = math.nan
        original = heartbeat.toggle

        def toggle() -> None:
            original()
            now = time.perf_counter()
            self.gaps.append(now - self._last)
            self._last = now

        heartbeat.toggle = toggle

    @classmethod
    def of(cls, controller: Any) -> CycleProbe:
        """A fresh probe on a running controller's board (replacing an earlier one)."""
        heartbeat = controller.board.heartbeat
        original = getattr(heartbeat, "_unprobed_toggle", None)
        if original is not None:
            heartbeat.toggle = original
        else:
            heartbeat._unprobed_toggle = heartbeat.toggle
        return cls(heartbeat)

    def summary(self) -> dict[str, float]:
        gaps = [g for g in ms(self.gaps) if math.isfinite(g)]
        if not gaps:
            return {}
        return {"cycle_p50_ms": round(percentile(gaps, 50), 2), "cycle_p99_ms": round(percentile(gaps, 99), 2),
                "cycle_max_ms": round(max(gaps), 1), "cycles_over_50ms": sum(g > 50 for g in gaps)}


# ---- raw WebSocket round trips (the reference for every OCPP figure) -----------------------------------


async def raw_round_trips(ws: Any, frame: str, count: int) -> list[float]:
    """`count` sequential round trips of `frame` through the echo server; seconds each."""
    out = []
    for _ in range(count):
        t0 = time.perf_counter()
        await ws.send(frame)
        await ws.recv()
        out.append(time.perf_counter() - t0)
    return out


def connect_raw(url: str) -> Any:
    """The same client settings as the controller's connection (no compression)."""
    from websockets.asyncio.client import connect

    return connect(url, compression=None, max_size=1 << 20, ping_interval=None)


def ocpp_frame(payload: Any) -> str:
    """The CALL frame the ocpp library sends for `payload` (same serialisation, fresh id)."""
    import uuid

    from ocpp.charge_point import remove_nones, serialize_as_dict, snake_to_camel_case
    from ocpp.messages import Call

    body = remove_nones(snake_to_camel_case(serialize_as_dict(payload)))
    return Call(str(uuid.uuid4()), payload.__class__.__name__, body).to_json()


def three_phase_meter_values(transaction_id: int = 1) -> Any:
    """A MeterValues request as the controller renders it: the default MeterValuesSampledData
    (energy, power, current and voltage per phase) of a three-phase EV drawing 16 A."""
    from chargepoint.metering import samples_for
    from chargepoint.ocpp.v16.render import render
    from chargepoint.store import OutboxItem
    from hal.types import MeterReading

    reading = MeterReading(energy_import_wh=12345.678, power_w=11040.0, voltage_v=(230.0, 230.1, 229.9),
                           current_a=(16.0, 16.0, 16.0))
    measurands = ["Energy.Active.Import.Register", "Power.Active.Import", "Current.Import", "Voltage"]
    payload = meter_payload(samples_for(reading, measurands, "Sample.Periodic"))
    item = OutboxItem(seq=1, kind="meter", local_tx=1, payload=payload, created_at=payload["timestamp"],
                      attempts=0, csms_id=transaction_id)
    return render(item)


def meter_payload(samples: list[dict[str, Any]] | None = None) -> dict[str, Any]:
    """The neutral outbox payload of one periodic sample (what Transactions.sample stores)."""
    from chargepoint.metering import samples_for
    from hal.types import MeterReading

    if samples is None:
        reading = MeterReading(energy_import_wh=12345.678, power_w=11040.0, voltage_v=(230.0, 230.1, 229.9),
                               current_a=(16.0, 16.0, 16.0))
        samples = samples_for(reading, ["Energy.Active.Import.Register", "Power.Active.Import",
                                        "Current.Import", "Voltage"], "Sample.Periodic")
    return {"evse_id": 1, "connector_id": 1, "timestamp": "2026-11-21T10:00:00.000Z", "samples": samples}
