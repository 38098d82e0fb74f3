"""`chargepoint sim ...`: play the EV, the badge and the faults of a running simulated board
through its control socket."""
from __future__ import annotations

import argparse
import asyncio
import json
import sys
from pathlib import Path
from typing import Any

from drivers.sim.ev import CABLE_AMPACITIES_A
from hal.jsonl_socket import Unreachable
from hal.jsonl_socket import request as jsonl_request

FAULT_KINDS = ("rcm", "diode", "weld", "meter-loss", "pp", "state-e", "lock")

EXIT_OK = 0
EXIT_REFUSED = 1
EXIT_UNREACHABLE = 2


SimUnreachable = Unreachable


async def sim_request(socket_path: Path | str, request: dict[str, Any], timeout_s: float = 5.0) -> dict[str, Any]:
    """Send one request, return the decoded answer. Raises SimUnreachable when nobody answers,
    ValueError when the answer is not a JSON object."""
    return await jsonl_request(socket_path, request, timeout_s)


def add_sim_arguments(parser: argparse.ArgumentParser) -> None:
    """Add the simulator subcommands to `parser` (the parser of `chargepoint sim`)."""
    sub = parser.add_subparsers(dest="sim_command", metavar="COMMAND", required=True)

    p = sub.add_parser("plug", help="plug an EV into an EVSE (it starts in state B)")
    p.add_argument("evse", type=int, metavar="EVSE", help="EVSE id")
    p.add_argument("--max-current", type=float, metavar="A", dest="max_current", help="EV's own current limit (default 32)")
    p.add_argument("--phases", type=int, choices=(1, 2, 3), help="phases the EV charges on (default 3)")
    p.add_argument(
        "--cable-a",
        type=int,
        choices=CABLE_AMPACITIES_A,
        metavar="A",
        dest="cable_a",
        help=f"cable ampacity coded on PP: {', '.join(map(str, CABLE_AMPACITIES_A))} (default 32)",
    )

    p = sub.add_parser("unplug", help="unplug the EV from an EVSE")
    p.add_argument("evse", type=int, metavar="EVSE")

    p = sub.add_parser("ev-state", help="make the EV request state B, C or D")
    p.add_argument("evse", type=int, metavar="EVSE")
    p.add_argument("state", choices=("B", "C", "D"), type=str.upper)
    p.add_argument("--paused", action="store_true", help="keep the state but draw no current")

    p = sub.add_parser("tap", help="present a badge to the reader")
    p.add_argument("tag", metavar="TAG")
    p.add_argument("--evse", type=int, metavar="N", help="EVSE the badge is meant for (default: the box)")

    for name, text in (("fault", "inject a hardware fault"), ("clear", "clear an injected fault")):
        p = sub.add_parser(name, help=text)
        p.add_argument("evse", type=int, metavar="EVSE")
        p.add_argument("kind", choices=FAULT_KINDS, metavar="KIND", help=", ".join(FAULT_KINDS))

    p = sub.add_parser("status", help="show the board and controller state")
    p.add_argument("--json", action="store_true", help="print the status object as JSON")


def build_request(args: argparse.Namespace) -> dict[str, Any]:
    cmd = args.sim_command
    if cmd == "plug":
        request: dict[str, Any] = {"cmd": "plug", "evse": args.evse}
        for key, value in (("max_current_a", args.max_current), ("phases", args.phases), ("cable_a", args.cable_a)):
            if value is not None:
                request[key] = value
        return request
    if cmd == "unplug":
        return {"cmd": "unplug", "evse": args.evse}
    if cmd == "ev-state":
        return {"cmd": "ev-state", "evse": args.evse, "state": args.state, "paused": bool(args.paused)}
    if cmd == "tap":
        return {"cmd": "tap", "tag": args.tag, "evse": args.evse}
    if cmd in ("fault", "clear"):
        return {"cmd": cmd, "evse": args.evse, "kind": args.kind}
    if cmd == "status":
        return {"cmd": "status"}
    raise ValueError(f"unknown sim command {cmd!r}")


def _num(value: Any, unit: str, digits: int = 1) -> str:
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        return f"{value:.{digits}f} {unit}"
    return "?"


def format_evse_line(e: dict[str, Any]) -> str:
    duty = e.get("pwm_duty_percent")
    if e.get("cp_state") == "F" or duty == 0.0:
        pilot = "pilot F"
    elif duty == 100.0:
        pilot = "pilot high"
    else:
        pilot = f"PWM {_num(duty, '%')}"
    contactor = "closed" if e.get("contactor_closed") else "open"
    if bool(e.get("contactor_feedback_closed")) != bool(e.get("contactor_closed")):
        contactor += " (feedback " + ("closed" if e.get("contactor_feedback_closed") else "open") + ")"
    ev = f"EV {e.get('ev_state')}" if e.get("plugged") else "no EV"
    parts = [
        f"EVSE {e.get('id')}: CP {e.get('cp_state')}",
        ev,
        pilot,
        f"offered {_num(e.get('offered_current_a'), 'A')}",
        f"contactor {contactor}",
        _num(e.get("power_w"), "W", 0),
        _num(e.get("energy_wh"), "Wh"),
    ]
    if e.get("connector_status"):
        parts.append(str(e["connector_status"]))
    if e.get("transaction_id") is not None:
        parts.append(f"tx {e['transaction_id']}")
    faults = e.get("faults") or []
    parts.append("faults: " + (", ".join(faults) if faults else "none"))
    return ", ".join(parts)


def format_status(status: dict[str, Any]) -> str:
    lines = [format_evse_line(e) for e in status.get("evses", [])]
    ocpp = status.get("ocpp")
    if isinstance(ocpp, dict):
        lines.append(f"OCPP: {ocpp.get('state', 'unknown')}")
    else:
        lines.append("OCPP: unknown (no controller view)")
    if status.get("error"):
        lines.append(f"warning: {status['error']}")
    return "\n".join(lines)


def format_answer(args: argparse.Namespace, answer: dict[str, Any]) -> str:
    cmd = args.sim_command
    if cmd == "status":
        return format_status(answer.get("status", {}))
    if cmd == "tap":
        where = f" at EVSE {answer.get('evse')}" if answer.get("evse") is not None else ""
        return f"badge {answer.get('tag')} presented{where}"
    e = answer.get("evse_status", {})
    head = f"EVSE {answer.get('evse')}"
    if cmd == "plug":
        ev = e.get("ev") or {}
        return (
            f"{head}: EV plugged (max {_num(ev.get('max_current_a'), 'A')}, {ev.get('phases')} phase(s), "
            f"cable {ev.get('cable_a')} A), CP {e.get('cp_state')}"
        )
    if cmd == "unplug":
        return f"{head}: EV unplugged, CP {e.get('cp_state')}"
    if cmd == "ev-state":
        paused = " (paused)" if args.paused else ""
        return f"{head}: EV requests {args.state}{paused}, CP {e.get('cp_state')}"
    verb = "injected" if cmd == "fault" else "cleared"
    faults = e.get("faults") or []
    return f"{head}: fault {args.kind} {verb}; active faults: {', '.join(faults) if faults else 'none'}"


async def run_sim_command_async(args: argparse.Namespace, socket_path: Path) -> int:
    """As run_sim_command, for callers already inside an event loop."""
    request = build_request(args)
    try:
        answer = await sim_request(socket_path, request)
    except SimUnreachable as exc:
        print(
            f"cannot reach the simulator control socket: {exc}; "
            'is `chargepoint run` running with board kind "sim" and this configuration?',
            file=sys.stderr,
        )
        return EXIT_UNREACHABLE
    except ValueError as exc:
        print(f"unreadable answer from {socket_path}: {exc}", file=sys.stderr)
        return EXIT_REFUSED
    if not answer.get("ok"):
        print(f"error: {answer.get('error', 'the simulator refused the request')}", file=sys.stderr)
        return EXIT_REFUSED
    if args.sim_command == "status" and getattr(args, "json", False):
        print(json.dumps(answer.get("status", {}), indent=2, sort_keys=True))
    else:
        print(format_answer(args, answer))
    return EXIT_OK


def run_sim_command(args: argparse.Namespace, socket_path: Path) -> int:
    """Send the command described by `args`; 0 done, 1 refused, 2 simulator not reachable."""
    return asyncio.run(run_sim_command_async(args, socket_path))
