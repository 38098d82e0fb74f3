"""`chargepoint demo`: a whole charging session on the simulated board against the bundled CSMS,
in fast-forwarded time, printed as a timeline a person can follow."""
from __future__ import annotations

import asyncio
import logging
import sys
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import Any

from chargepoint.app import Controller, build_controller, run_controller
from chargepoint.config import load_config
from chargepoint.ocpp.v16.demo_csms import DemoCsms
from chargepoint.evse.events import ContactorChanged, CpChanged, EvseEvent, FaultRaised, PilotChanged
from drivers.sim.board import sim_board_of
from hal.clock import ScaledClock

DEMO_TAG = "DEMO-TAG-0001"
REAL_TIME_BUDGET_S = 25.0

CONFIG_TEMPLATE = """\
[chargepoint]
id = "BORNE-DEMO-001"
vendor = "Borne"
model = "Borne Sim"
serial_number = "DEMO-0001"
firmware_version = "{version}"

[ocpp]
version = "1.6"
csms_url = "{url}"
heartbeat_interval_s = 300

[board]
kind = "sim"

[storage]
path = "borne.db"

[[evse]]
id = 1
max_current_a = 16
phases = 3

[[evse.connector]]
id = 1
type = "Type2Socket"

[sim]
control_socket = "sim.sock"
"""


class Timeline:
    def __init__(self, clock: ScaledClock, out: Callable[[str], None]) -> None:
        self._clock = clock
        self._t0 = clock.monotonic()
        self._out = out

    def say(self, who: str, text: str) -> None:
        elapsed = int(self._clock.monotonic() - self._t0)
        self._out(f"  {elapsed // 60:02d}:{elapsed % 60:02d}  {who:<10} {text}")

    def ocpp(self, direction: str, action: str, payload: dict[str, Any]) -> None:
        self.say("OCPP", f"{direction:<8} {action}{_summary(action, payload)}")

    def evse(self, events: list[EvseEvent]) -> None:
        for e in events:
            if isinstance(e, CpChanged):
                self.say(f"EVSE {e.evse_id}", f"control pilot {e.previous.value} -> {e.current.value}")
            elif isinstance(e, ContactorChanged):
                self.say(f"EVSE {e.evse_id}", "contactor " + ("CLOSED" if e.closed else "open"))
            elif isinstance(e, PilotChanged):
                out = e.output
                text = f"PWM {out.duty_percent:.1f} %" if out.pwm_on else out.mode.value.replace("_", " ")
                self.say(f"EVSE {e.evse_id}", f"pilot {text}")
            elif isinstance(e, FaultRaised):
                self.say(f"EVSE {e.evse_id}", f"FAULT {e.kind.value}")


def _summary(action: str, p: dict[str, Any]) -> str:
    if action == "StatusNotification" and "status" in p:
        return f" connector {p.get('connectorId')}: {p['status']}"
    if action == "MeterValues" and p.get("meterValue"):
        values = {v.get("measurand", "Energy.Active.Import.Register"): v["value"]
                  for v in p["meterValue"][0]["sampledValue"] if "phase" not in v}
        energy = values.get("Energy.Active.Import.Register", "?")
        power = values.get("Power.Active.Import", "?")
        return f" tx {p.get('transactionId')}: {energy} Wh, {power} W"
    if action == "StartTransaction" and "idTag" in p:
        return f" tag {p['idTag']}, meter {p['meterStart']} Wh"
    if action == "StartTransaction" and "transactionId" in p:
        return f" -> transaction {p['transactionId']} ({p['idTagInfo']['status']})"
    if action == "StopTransaction" and "meterStop" in p:
        return f" tx {p['transactionId']}, meter {p['meterStop']} Wh, reason {p.get('reason', 'Local')}"
    if action in ("BootNotification", "Authorize") and "status" in p:
        return f" -> {p['status']}"
    if action == "Authorize" and "idTagInfo" in p:
        return f" -> {p['idTagInfo']['status']}"
    if action == "Authorize" and "idTag" in p:
        return f" tag {p['idTag']}"
    return ""


async def _until(predicate: Callable[[], bool], clock: ScaledClock, what: str, timeout_s: float = 10.0) -> None:
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout_s
    while not predicate():
        if loop.time() > deadline:
            raise TimeoutError(f"the demo waited in vain for {what}")
        await asyncio.sleep(0.01)


async def _play(time_scale: float, charge_minutes: float, out: Callable[[str], None]) -> int:
    from chargepoint import __version__

    clock = ScaledClock(time_scale)
    timeline = Timeline(clock, out)
    received: list[tuple[str, dict[str, Any]]] = []

    def on_event(direction: str, action: str, payload: dict[str, Any]) -> None:
        if direction.startswith("CP"):
            received.append((action, payload))
        timeline.ocpp(direction, action, payload)

    mark = [0]

    def seen(action: str, check: Callable[[dict[str, Any]], bool] = lambda p: True) -> bool:
        """Whether the CSMS got such a message since the last step began."""
        return any(a == action and check(p) for a, p in received[mark[0]:])

    def step(who: str, text: str) -> None:
        mark[0] = len(received)
        timeline.say(who, text)

    csms = DemoCsms(port=0, on_event=on_event)
    url = await csms.start()
    with tempfile.TemporaryDirectory(prefix="borne-demo-") as tmp:
        path = Path(tmp) / "firmware.toml"
        path.write_text(CONFIG_TEMPLATE.format(url=url, version=__version__), encoding="utf-8")
        controller: Controller = build_controller(load_config(path), clock)
        controller.settings.change("MeterValueSampleInterval", "30")
        controller.station.observers.append(timeline.evse)
        sim = sim_board_of(controller.board)
        stop = asyncio.Event()
        out(f"Borne demo: one EVSE (16 A, 3 phases) on the simulated board, CSMS at {url},"
            f" time x{time_scale:g}\n")
        runner = asyncio.create_task(run_controller(controller, stop))
        try:
            await _until(lambda: seen("StatusNotification", lambda p: p.get("connectorId") == 1), clock, "boot")
            step("driver", "plugs the EV in")
            sim.plug(1, max_current_a=32, phases=3)
            await _until(lambda: seen("StatusNotification", lambda p: p.get("status") == "Preparing"), clock, "Preparing")
            step("driver", f"taps badge {DEMO_TAG}")
            sim.tap(DEMO_TAG)
            await _until(lambda: seen("StartTransaction"), clock, "StartTransaction")
            step("EV", "ready to charge (state C)")
            sim.set_ev_state(1, "C")
            await _until(lambda: seen("StatusNotification", lambda p: p.get("status") == "Charging"), clock, "Charging")
            await clock.sleep(charge_minutes * 60)
            step("EV", "battery full (state B)")
            sim.set_ev_state(1, "B")
            await _until(lambda: seen("StatusNotification", lambda p: p.get("status") == "SuspendedEV"), clock, "SuspendedEV")
            step("driver", "unplugs the EV")
            sim.unplug(1)
            await _until(lambda: seen("StopTransaction"), clock, "StopTransaction")
            await _until(lambda: seen("StatusNotification", lambda p: p.get("status") == "Available" and p.get("connectorId") == 1), clock, "Available")
        except TimeoutError as exc:
            out(f"\ndemo FAILED: {exc}")
            return 1
        finally:
            stop.set()
            await asyncio.gather(runner, return_exceptions=True)
            await csms.stop()
    start = next(p for a, p in received if a == "StartTransaction")
    stop_msg = next(p for a, p in received if a == "StopTransaction")
    samples = sum(1 for a, _ in received if a == "MeterValues")
    energy = stop_msg["meterStop"] - start["meterStart"]
    out(f"\nSession complete: {energy} Wh delivered in transaction {stop_msg['transactionId']},"
        f" {samples} MeterValues, stop reason {stop_msg.get('reason', 'Local')}.")
    return 0


def run_demo(time_scale: float = 40.0, charge_minutes: float = 4.0, out: Callable[[str], None] | None = None) -> int:
    logging.basicConfig(level=logging.ERROR)
    printer = out or (lambda line: print(line, flush=True))
    try:
        return asyncio.run(asyncio.wait_for(_play(time_scale, charge_minutes, printer), REAL_TIME_BUDGET_S))
    except TimeoutError:
        print("demo FAILED: it did not finish within its time budget", file=sys.stderr)
        return 1
