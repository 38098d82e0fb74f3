"""The firmware side of `chargepoint run` (the start-up check, the restart into the right
release, the rollback of a release on trial that fails) and `chargepoint firmware ...`."""
from __future__ import annotations

import json
import logging
import os
import sys
from collections.abc import Callable
from dataclasses import asdict
from typing import Any, NoReturn

from chargepoint.config import Config
from chargepoint.firmware import firmware_settings
from chargepoint.firmware.download import redacted
from chargepoint.firmware.boot import restart_argv, startup_check, trial_failed
from chargepoint.firmware.releases import Releases, read_release
from chargepoint.firmware.state import StateFile

log = logging.getLogger(__name__)


def exec_argv(argv: list[str]) -> NoReturn:
    sys.stdout.flush()
    sys.stderr.flush()
    os.execv(argv[0], argv)


def check_release(config: Config) -> None:
    """Before the controller is built: count a trial start, roll back a crash loop, finish an
    interrupted switch, and replace this process when another release is the one to run."""
    verdict = startup_check(firmware_settings(config), os.environ.get("INVOCATION_ID"))
    if verdict.python is not None:
        log.warning("starting the release of %s instead of this one", verdict.python)
        exec_argv([verdict.python, "-m", "chargepoint", *sys.argv[1:]])


def restart(config: Config) -> NoReturn:
    """Replace this process with the controller of the current release (Reset, update, rollback)."""
    exec_argv(restart_argv(firmware_settings(config), sys.argv[1:]))


def rollback_if_on_trial(config: Config, why: str) -> None:
    """A release on trial that fails here is rolled back at once, and the previous one started."""
    if trial_failed(firmware_settings(config), why):
        restart(config)


# ---- chargepoint firmware ... ------------------------------------------------------------------


def add_firmware_commands(sub: Any, load: Callable[[str], object], default_config: str) -> None:
    firmware = sub.add_parser("firmware", help="firmware releases and updates")
    firmware_sub = firmware.add_subparsers(dest="firmware_command", required=True)
    check = firmware_sub.add_parser(
        "boot-check", help="count a start of a release on trial and roll back a crash loop "
                           "(the systemd unit's ExecStartPre, run from the previous release)")
    check.add_argument("--config", default=default_config, help="path of firmware.toml")
    check.set_defaults(func=lambda args: _boot_check(load(args.config)))
    status = firmware_sub.add_parser("status", help="the releases on the box and the update in progress")
    status.add_argument("--config", default=default_config, help="path of firmware.toml")
    status.set_defaults(func=lambda args: _status(load(args.config)))


def _boot_check(config: object) -> int:
    assert isinstance(config, Config)
    logging.basicConfig(level="INFO", format="%(levelname)s %(name)s: %(message)s")
    verdict = startup_check(firmware_settings(config), os.environ.get("INVOCATION_ID"))
    if verdict.rolled_back:
        print("the release on trial did not come up: rolled back to the previous release")
    elif verdict.trial_starts is not None:
        print(f"a release is on trial: start {verdict.trial_starts} counted")
    else:
        print("no release on trial")
    return 0


def _status(config: object) -> int:
    assert isinstance(config, Config)
    settings = firmware_settings(config)
    links = Releases(settings.root).links()
    state = StateFile(settings.state_file).load()
    report = {
        "root": str(settings.root),
        "current": _describe(links.current),
        "previous": _describe(links.previous),
        "update": asdict(state.job) if state.job else None,
        "last_status": state.last_status,
        "queued_notices": len(state.outbox),
    }
    if report["update"]:
        update: dict[str, Any] = report["update"]  # type: ignore[assignment]
        update["location"] = redacted(update["location"])
        for bulky in ("signing_certificate", "signature"):
            update.pop(bulky, None)
    print(json.dumps(report, indent=2, sort_keys=True))
    return 0


def _describe(release: object) -> dict[str, object] | None:
    if release is None:
        return None
    record = read_release(release)  # type: ignore[arg-type]
    return {"path": str(release), **(record or {})}
