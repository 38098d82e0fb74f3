"""The simulated board's output latches. Real output pins keep their level when the process
that drove them dies; so do these, in a small JSON file beside the control socket. That is what
`chargepoint safe-state` acts on after a crash, and what tests read to check it did."""
from __future__ import annotations

import json
import logging
import os
import threading
from pathlib import Path
from typing import Any

log = logging.getLogger(__name__)

SAFE_OUTPUTS = {"contactor_closed": False, "pilot": "state_f", "pwm_duty_percent": 0.0}


def latch_path(control_socket: Path) -> Path:
    return control_socket.with_name(control_socket.stem + ".outputs.json")


class OutputLatches:
    def __init__(self, path: Path) -> None:
        self.path = path
        self._lock = threading.Lock()  # the control thread and the stall guard both write
        self._state: dict[str, dict[str, Any]] = self.read()

    def read(self) -> dict[str, dict[str, Any]]:
        try:
            data = json.loads(self.path.read_text(encoding="utf-8"))
        except (OSError, ValueError):
            return {}
        return data if isinstance(data, dict) else {}

    def update(self, evse_id: int, **outputs: Any) -> None:
        """Record outputs; the file is written only when something changed (the control loop
        repeats safe commands every cycle while a fault lasts)."""
        with self._lock:
            current = self._state.setdefault(str(evse_id), {})
            if all(current.get(k) == v for k, v in outputs.items()):
                return
            current.update(outputs)
            self._write()

    def make_safe(self, evse_ids: list[int]) -> dict[str, dict[str, Any]]:
        """Every output to its safe level: contactor open, pilot at -12 V (EVSE not available).
        The lock is left as it is: releasing it could expose contacts a welded contactor keeps
        live."""
        with self._lock:
            for evse_id in evse_ids:
                self._state.setdefault(str(evse_id), {}).update(SAFE_OUTPUTS)
            self._write()
            return self._state

    def _write(self) -> None:
        tmp = self.path.with_name(self.path.name + ".tmp")
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            tmp.write_text(json.dumps(self._state, sort_keys=True), encoding="utf-8")
            os.replace(tmp, self.path)
        except OSError as exc:
            log.warning("cannot record the simulated outputs in %s: %s", self.path, exc)
