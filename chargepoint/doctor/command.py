"""`chargepoint doctor`: its options and the run from the command line (Ctrl-C and SIGTERM
still leave the outputs safe and print what was found so far)."""
from __future__ import annotations

import argparse
import asyncio
import signal
import sys
from collections.abc import Callable
from typing import Any

from chargepoint.doctor.context import (
    DEFAULT_BADGE_TIMEOUT_S,
    DEFAULT_PATTERN_HOLD_S,
    DEFAULT_PWM_DUTY_PERCENT,
    DoctorOptions,
)
from chargepoint.doctor.exclusive import ControllerRunning
from chargepoint.doctor.render import render_json, render_table
from chargepoint.doctor.runner import Doctor


def _seconds(text: str) -> float:
    value = float(text)
    if not 0 < value <= 600:
        raise argparse.ArgumentTypeError("give seconds above 0 and at most 600")
    return value


def _duty(text: str) -> float:
    value = float(text)
    if not 0 <= value <= 100:
        raise argparse.ArgumentTypeError("give a duty cycle in percent, 0 to 100 (0: no PWM test)")
    return value


def add_doctor_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--json", action="store_true", help="print the results as JSON")
    parser.add_argument("--allow-contactor", action="store_true",
                        help="close each contactor briefly to check its mirror contact (only while CP shows no EV)")
    parser.add_argument("--allow-contactor-with-ev", action="store_true",
                        help="close each contactor even when CP shows a vehicle (implies --allow-contactor)")
    parser.add_argument("--badge-timeout", type=_seconds, default=DEFAULT_BADGE_TIMEOUT_S, metavar="S",
                        help=f"how long to wait for a badge (default {DEFAULT_BADGE_TIMEOUT_S:g} s)")
    parser.add_argument("--no-badge", action="store_true", help="do not wait for a badge")
    parser.add_argument("--pwm-duty", type=_duty, default=DEFAULT_PWM_DUTY_PERCENT, metavar="PERCENT",
                        help=f"duty of the pilot PWM test (default {DEFAULT_PWM_DUTY_PERCENT:g} %%; 0: skip it)")
    parser.add_argument("--pattern-seconds", type=_seconds, default=DEFAULT_PATTERN_HOLD_S, metavar="S",
                        help=f"how long each indicator pattern is shown (default {DEFAULT_PATTERN_HOLD_S:g} s)")
    parser.add_argument("--force", action="store_true",
                        help="run even though a controller seems to run with this configuration")


def options_from(args: argparse.Namespace) -> DoctorOptions:
    return DoctorOptions(
        allow_contactor=args.allow_contactor or args.allow_contactor_with_ev,
        contactor_with_ev=args.allow_contactor_with_ev,
        badge_timeout_s=args.badge_timeout,
        no_badge=args.no_badge,
        pwm_duty_percent=args.pwm_duty,
        pattern_hold_s=args.pattern_seconds,
        force=args.force,
    )


def _prompt(message: str) -> None:
    print(f"doctor: {message}", file=sys.stderr, flush=True)


def run_doctor_command(args: argparse.Namespace, load: Callable[[str], Any]) -> int:
    """0: everything passed or was skipped; 1: something failed, or the doctor could not run;
    2: the configuration is broken (`load` reports it and exits)."""
    config = load(args.config)
    doctor = Doctor(config, options_from(args), progress=_prompt)

    async def main() -> None:
        task = asyncio.current_task()
        loop = asyncio.get_running_loop()
        if task is not None:
            loop.add_signal_handler(signal.SIGTERM, task.cancel)
        await doctor.run()

    try:
        asyncio.run(main())
    except ControllerRunning as exc:
        print(f"chargepoint doctor: {exc}. Stop it first (systemctl stop chargepoint), or add --force if you "
              "are sure nothing else drives the outputs.", file=sys.stderr)
        return 1
    except (KeyboardInterrupt, asyncio.CancelledError):
        doctor.report.interrupted = True
    report = doctor.report
    print(render_json(report) if args.json else render_table(report))
    return report.exit_code
