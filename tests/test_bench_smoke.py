"""Smoke test of the benchmarks: `python -m benchmarks --quick` runs every benchmark with tiny
counts and reports every figure with a numeric value, reference and ratio. No timing target is
asserted here: timing targets do not belong in tests (docs/performance.md has the figures)."""
from __future__ import annotations

import json
import math
import os
import subprocess
import sys
import tempfile
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent

FIGURES = (
    "safety_cp_c_to_b",
    "safety_fault_rcm",
    "tap_to_energise",
    "rtt_heartbeat",
    "rtt_meter_values",
    "offline_replay",
    "footprint_rss",
    "footprint_idle_cpu",
    "start",
    "durable_write",
)


@pytest.mark.timeout(110)
def test_quick_run_reports_every_figure(tmp_path: Path) -> None:
    out = tmp_path / "run.json"
    env = {k: v for k, v in os.environ.items() if k != "PYTHONDONTWRITEBYTECODE"}
    env.setdefault("PYTHONPYCACHEPREFIX", os.path.join(tempfile.gettempdir(), "borne-bench-pycache"))
    proc = subprocess.run(
        [sys.executable, "-m", "benchmarks", "--quick", "--json", str(out)],
        cwd=ROOT, env=env, capture_output=True, text=True, timeout=100,
    )
    assert proc.returncode == 0, f"stdout:\n{proc.stdout}\nstderr:\n{proc.stderr[-5000:]}"
    report = json.loads(out.read_text())
    assert report["mode"] == "quick"
    assert report["errors"] == {}
    for key in ("cpu", "cores", "python", "platform"):
        assert report["machine"][key], key
    figures = {f["key"]: f for f in report["figures"]}
    assert set(figures) == set(FIGURES)
    for key, f in figures.items():
        for field in ("value", "reference", "ratio"):
            value = f[field]
            assert isinstance(value, (int, float)) and math.isfinite(value), (key, field, value)
        assert f["reference"] > 0, key
        assert math.isclose(f["ratio"], f["value"] / f["reference"], rel_tol=1e-6), key
        # The one table on stdout has a line for it, with its value and ratio.
        line = next((ln for ln in proc.stdout.splitlines() if ln.startswith(f["title"])), None)
        assert line is not None, f"no table line for {key}:\n{proc.stdout}"
        assert f["unit"] in line and "x " in line, line
    header = proc.stdout.splitlines()[0]
    assert report["machine"]["python"] in header and report["machine"]["cpu"] in header
