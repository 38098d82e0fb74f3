"""`chargepoint`: run the controller, check a configuration, drive the simulated board, or play
a demonstration session."""
from __future__ import annotations

import argparse
import asyncio
import json
import logging
import os
import sys
from pathlib import Path

from chargepoint.config import ConfigError, check_config, load_config

DEFAULT_CONFIG = "firmware.toml"


def _setup_logging(level: str) -> None:
    logging.basicConfig(level=level, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    # The wire log holds whole frames (keys and passwords among them): never at INFO.
    logging.getLogger("chargepoint.ocpp.wire").setLevel(logging.WARNING)
    logging.getLogger("ocpp").setLevel(logging.WARNING)
    logging.getLogger("websockets").setLevel(logging.WARNING)


def _load(path: str) -> object:
    try:
        return load_config(path)
    except ConfigError as exc:
        print(f"{path}: the configuration has {len(exc.issues)} problem(s):", file=sys.stderr)
        for issue in exc.issues:
            print(f"  {issue}", file=sys.stderr)
        raise SystemExit(2) from None


SCALED_ORIGIN_ENV = "BORNE_SCALED_CLOCK_ORIGIN"


def _scaled_clock(factor: float) -> object:
    """A fast-forward clock that continues across the re-exec of a reset (timestamps never go
    back); the origin travels in the environment."""
    from datetime import datetime

    from hal.clock import ScaledClock

    origin = None
    saved = os.environ.get(SCALED_ORIGIN_ENV, "")
    mono, _, wall = saved.partition(",")
    if mono and wall:
        try:
            origin = (float(mono), datetime.fromisoformat(wall))
        except ValueError:
            origin = None
    clock = ScaledClock(factor, origin)
    os.environ[SCALED_ORIGIN_ENV] = f"{clock.origin[0]!r},{clock.origin[1].isoformat()}"
    return clock


def cmd_run(args: argparse.Namespace) -> int:
    config = _load(args.config)
    _setup_logging(config.logging.level)  # type: ignore[attr-defined]
    # Before the controller's modules load: a release on trial counts this start even when they
    # cannot be imported.
    from chargepoint.firmware.command import check_release, restart, rollback_if_on_trial

    check_release(config)  # type: ignore[arg-type]
    try:
        from chargepoint.app import build_controller, install_signal_handlers, run_controller
    except Exception as exc:
        rollback_if_on_trial(config, f"the controller cannot be loaded: {exc!r}")  # type: ignore[arg-type]
        raise
    from chargepoint.store import StoreError
    from hal.clock import SystemClock

    from chargepoint.diagnostics.logfile import install_file_log

    install_file_log(config.logging)  # type: ignore[attr-defined]
    clock = _scaled_clock(args.time_scale) if args.time_scale != 1.0 else SystemClock()

    async def main() -> str | None:
        stop = asyncio.Event()
        install_signal_handlers(stop)
        controller = build_controller(config, clock)  # type: ignore[arg-type]
        return await run_controller(controller, stop)

    try:
        reason = asyncio.run(main())
    except StoreError as exc:
        print(f"chargepoint: {exc}", file=sys.stderr)
        rollback_if_on_trial(config, f"the controller could not start: {exc}")  # type: ignore[arg-type]
        return 3
    except Exception as exc:
        rollback_if_on_trial(config, f"the controller failed: {type(exc).__name__}: {exc}")  # type: ignore[arg-type]
        raise
    if reason is not None:
        logging.getLogger(__name__).warning("restarting (%s)", reason)
        restart(config)  # type: ignore[arg-type]
    return 0


def cmd_config_check(args: argparse.Namespace) -> int:
    issues = check_config(args.path)
    if not issues:
        print(f"{args.path}: OK")
        return 0
    for issue in issues:
        print(issue)
    print(f"{len(issues)} problem(s) found", file=sys.stderr)
    return 1


def cmd_sim(args: argparse.Namespace) -> int:
    from drivers.sim.client import run_sim_command

    config = _load(args.config)
    sim = getattr(config, "sim", None)
    if sim is None:
        print(f"{args.config}: has no [sim] table: the simulated board is not configured", file=sys.stderr)
        return 2
    return run_sim_command(args, Path(sim.control_socket))


def _admin(args: argparse.Namespace, request: dict[str, object]) -> dict[str, object] | None:
    from hal.jsonl_socket import Unreachable, request as send

    config = _load(args.config)
    path = config.storage.admin_socket  # type: ignore[attr-defined]
    try:
        answer = asyncio.run(send(path, request))
    except (Unreachable, ValueError) as exc:
        print(f"cannot reach the controller's admin socket: {exc}; is `chargepoint run` running "
              f"with this configuration?", file=sys.stderr)
        return None
    if not answer.get("ok"):
        print(f"error: {answer.get('error')}", file=sys.stderr)
        return None
    return answer


def cmd_status(args: argparse.Namespace) -> int:
    from chargepoint.status_text import format_controller_status

    answer = _admin(args, {"cmd": "status"})
    if answer is None:
        return 2
    status = answer["status"]
    print(json.dumps(status, indent=2, sort_keys=True) if args.json else format_controller_status(status))
    return 0


def cmd_fault_clear(args: argparse.Namespace) -> int:
    answer = _admin(args, {"cmd": "fault-clear", "evse": args.evse})
    if answer is None:
        return 2
    cleared = answer.get("cleared") or []
    print(f"EVSE {args.evse}: cleared {', '.join(cleared) if cleared else 'no latched fault'}")
    return 0


def cmd_doctor(args: argparse.Namespace) -> int:
    """Exercise every configured device and print what passed and what to check."""
    from chargepoint.doctor.command import run_doctor_command

    return run_doctor_command(args, _load)


def cmd_safe_state(args: argparse.Namespace) -> int:
    """Outputs to safe levels, nothing else: no store, no network, no control loop."""
    from hal.board import safe_state

    config = _load(args.config)
    outputs = safe_state(config)  # type: ignore[arg-type]
    for name, values in sorted(outputs.items()):
        print(f"EVSE {name}: " + ", ".join(f"{k}={v}" for k, v in sorted(values.items())))
    return 0


def cmd_storage_recover(args: argparse.Namespace) -> int:
    from chargepoint.store_recovery import recover

    config = _load(args.config)
    path = Path(config.storage.path)  # type: ignore[attr-defined]
    if not path.exists():
        print(f"{path}: no database to recover", file=sys.stderr)
        return 1
    report = recover(path)
    print(f"moved the damaged database to {report.damaged_copy}")
    for table, count in report.rows.items():
        print(f"  {table}: {count} row(s) kept" + (f" ({report.lost[table]})" if table in report.lost else ""))
    if "*" in report.lost:
        print(f"  nothing could be read: {report.lost['*']}")
    print(f"a new database is at {path}; start the controller again")
    return 0


def cmd_demo(args: argparse.Namespace) -> int:
    from chargepoint.demo.session import run_demo

    return run_demo(time_scale=args.time_scale, charge_minutes=args.minutes)


def build_parser() -> argparse.ArgumentParser:
    from drivers.sim.client import add_sim_arguments

    parser = argparse.ArgumentParser(prog="chargepoint", description=__doc__)
    sub = parser.add_subparsers(dest="command", required=True)

    run = sub.add_parser("run", help="run the controller")
    run.add_argument("--config", default=DEFAULT_CONFIG, help="path of firmware.toml")
    run.add_argument("--time-scale", type=float, default=1.0,
                     help="simulated board only: run time this many times faster (training, tests)")
    run.set_defaults(func=cmd_run)

    config = sub.add_parser("config", help="work with firmware.toml")
    config_sub = config.add_subparsers(dest="config_command", required=True)
    check = config_sub.add_parser("check", help="validate a configuration file and list every problem")
    check.add_argument("path", nargs="?", default=DEFAULT_CONFIG)
    check.set_defaults(func=cmd_config_check)

    sim = sub.add_parser("sim", help="drive the simulated board of a running controller")
    sim.add_argument("--config", default=DEFAULT_CONFIG, help="path of firmware.toml")
    add_sim_arguments(sim)
    sim.set_defaults(func=cmd_sim)

    status = sub.add_parser("status", help="what a running controller is doing: EVSEs, CSMS link, queue")
    status.add_argument("--config", default=DEFAULT_CONFIG, help="path of firmware.toml")
    status.add_argument("--json", action="store_true", help="machine-readable output")
    status.set_defaults(func=cmd_status)

    fault = sub.add_parser("fault", help="technician actions on faults")
    fault_sub = fault.add_subparsers(dest="fault_command", required=True)
    clear = fault_sub.add_parser("clear", help="clear the latched faults of an EVSE (logged)")
    clear.add_argument("evse", type=int)
    clear.add_argument("--config", default=DEFAULT_CONFIG, help="path of firmware.toml")
    clear.set_defaults(func=cmd_fault_clear)

    safe = sub.add_parser("safe-state", help="drive every output to its safe level (after any stop)")
    safe.add_argument("--config", default=DEFAULT_CONFIG, help="path of firmware.toml")
    safe.set_defaults(func=cmd_safe_state)

    from chargepoint.doctor.command import add_doctor_arguments

    doctor = sub.add_parser("doctor", help="exercise every configured device on site: pass/fail and what to check")
    doctor.add_argument("--config", default=DEFAULT_CONFIG, help="path of firmware.toml")
    add_doctor_arguments(doctor)
    doctor.set_defaults(func=cmd_doctor)

    storage = sub.add_parser("storage", help="the local database")
    storage_sub = storage.add_subparsers(dest="storage_command", required=True)
    rec = storage_sub.add_parser("recover", help="move a damaged database aside and keep what can be read")
    rec.add_argument("--config", default=DEFAULT_CONFIG, help="path of firmware.toml")
    rec.set_defaults(func=cmd_storage_recover)

    from chargepoint.firmware.command import add_firmware_commands

    add_firmware_commands(sub, _load, DEFAULT_CONFIG)

    demo = sub.add_parser("demo", help="play a whole charging session against a bundled CSMS")
    demo.add_argument("--time-scale", type=float, default=40.0, help="how much faster than real time")
    demo.add_argument("--minutes", type=float, default=4.0, help="simulated minutes of charging")
    demo.set_defaults(func=cmd_demo)
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        return int(args.func(args) or 0)
    except BrokenPipeError:
        # The reader of our output went away (`... | head`): not an error of ours.
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
        return 0


if __name__ == "__main__":
    raise SystemExit(main())
