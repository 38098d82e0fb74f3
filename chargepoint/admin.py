"""The controller's local admin socket: what a technician on site asks a running controller
(`chargepoint status`, `chargepoint fault clear`). Same framing as the simulator's socket:
one JSON request per line, one JSON answer per line."""
from __future__ import annotations

import logging
from pathlib import Path
from typing import TYPE_CHECKING, Any

from hal.jsonl_socket import JsonLineServer, error

if TYPE_CHECKING:
    from chargepoint.app import Controller

log = logging.getLogger(__name__)


def controller_status(c: Controller) -> dict[str, Any]:
    """Everything `chargepoint status` shows: per EVSE the hardware and session view, the CSMS
    link (state, offline since, queue length, oldest queued message)."""
    report = c.station.status_report()
    evses = []
    for evse_id, ctl in c.controllers.items():
        snap = ctl.snapshot()
        view = report["evses"][evse_id]
        meter = c.station.sessions[evse_id].meter
        evses.append({
            "id": evse_id,
            "cp_state": snap.cp_state.value,
            "pwm_duty_percent": round(snap.pilot.duty_percent, 2) if snap.pilot.pwm_on else (0.0 if snap.pilot.mode.value == "state_f" else 100.0),
            "contactor_closed": snap.contactor_closed,
            "contactor_feedback_closed": ctl.devices.contactor.feedback_closed(),
            "locked": snap.locked,
            "energy_wh": round(meter.energy_import_wh, 3) if meter else None,
            "power_w": round(meter.power_w, 1) if meter else None,
            **view,
        })
    return {"chargepoint": c.config.chargepoint.id, "board": c.board.kind, "evses": evses,
            "ocpp": report["ocpp"], "outbox": report["outbox"]}


async def handle(c: Controller, request: Any) -> dict[str, Any]:
    if not isinstance(request, dict) or not isinstance(request.get("cmd"), str):
        return error('a request is a JSON object with a "cmd" string, e.g. {"cmd": "status"}')
    cmd = request["cmd"]
    if cmd == "status":
        return {"ok": True, "status": controller_status(c)}
    if cmd == "fault-clear":
        evse = request.get("evse")
        if type(evse) is not int or evse not in c.controllers:
            return error(f"evse must be one of {sorted(c.controllers)}")
        cleared = c.controllers[evse].clear_latched_faults()
        log.warning("technician cleared latched faults on EVSE %s: %s", evse,
                    ", ".join(sorted(k.value for k in cleared)) or "none")
        return {"ok": True, "evse": evse, "cleared": sorted(k.value for k in cleared)}
    return error(f"unknown command {cmd!r}; known: status, fault-clear")


async def serve_admin(c: Controller, path: Path) -> None:
    async def handler(request: Any) -> dict[str, Any]:
        return await handle(c, request)

    await JsonLineServer(path, handler, "admin").serve_forever()
