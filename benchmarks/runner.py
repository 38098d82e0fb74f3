"""`python -m benchmarks`: run the benchmarks, print one table, write benchmarks/last-run.json."""
from __future__ import annotations

import argparse
import asyncio
import importlib
import inspect
import json
import math
import os
import shutil
import sys
import tempfile
import time
import traceback
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from benchmarks.common import Figure, fmt, machine
from benchmarks.context import Context

# name -> module; the order of the table.
BENCHMARKS = {
    "safety": "benchmarks.safety",
    "tap": "benchmarks.tap",
    "rtt": "benchmarks.rtt",
    "replay": "benchmarks.replay",
    "footprint": "benchmarks.footprint",
    "start": "benchmarks.start",
    "durable": "benchmarks.durable",
}
DEFAULT_JSON = Path(__file__).resolve().parent / "last-run.json"


def run_one(name: str, ctx: Context) -> list[Figure]:
    module = importlib.import_module(BENCHMARKS[name])
    if inspect.iscoroutinefunction(module.run):
        return asyncio.run(module.run(ctx))
    return module.run(ctx)


def detail_text(f: Figure) -> str:
    parts = []
    for k, v in f.detail.items():
        parts.append(f"{k}={fmt(v) if isinstance(v, float) else v}")
    if f.note:
        parts.append(f.note)
    return ", ".join(parts)


def table(figures: list[Figure], info: dict[str, Any], mode: str, errors: dict[str, str]) -> str:
    lines = [
        f"Borne benchmarks ({mode}) - {info['cpu']}, {info['cores']} cores "
        f"({info['usable_cores']} usable), Python {info['python']}, {info['platform']}, "
        f"load average {info['loadavg_at_start'][0]} at start, {info.get('loadavg_at_end', ['?'])[0]} at end",
    ]
    header = ["figure", "value", "reference", "ratio", "target", "met", "detail"]
    rows = []
    for f in figures:
        met = {True: "yes", False: "NO", None: "-"}[f.met]
        rows.append([f.title, f"{fmt(f.value)} {f.unit}", f"{fmt(f.reference)} {f.unit} ({f.reference_label})",
                     f"{fmt(f.ratio)}x", f.target_text, met, detail_text(f)])
    for name, message in errors.items():
        rows.append([name, "FAILED", "", "", "", "NO", message])
    widths = [max(len(r[i]) for r in [header, *rows]) for i in range(len(header) - 1)]
    def line(r: list[str]) -> str:
        return "  ".join(c.ljust(w) for c, w in zip(r, widths)) + "  " + r[-1]
    lines.append(line(header))
    lines.append("  ".join("-" * w for w in widths) + "  " + "-" * 6)
    lines.extend(line(r) for r in rows)
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m benchmarks", description=__doc__)
    parser.add_argument("--quick", action="store_true", help="tiny counts (seconds, not minutes): a smoke run")
    parser.add_argument("--only", action="append", default=[], metavar="NAME",
                        help=f"run only this benchmark (repeatable or comma-separated): {', '.join(BENCHMARKS)}")
    parser.add_argument("--sim-files", action="store_true",
                        help="in-process benchmarks: keep the simulated board's file writes (output latches, "
                             "meter register) on the control path, as `chargepoint run` on the sim board does")
    parser.add_argument("--keep", action="store_true", help="keep the scratch directory (databases, controller logs)")
    parser.add_argument("--json", type=Path, default=DEFAULT_JSON, help=f"where to write the figures (default {DEFAULT_JSON})")
    args = parser.parse_args(argv)
    names = [n.strip() for item in args.only for n in item.split(",") if n.strip()] or list(BENCHMARKS)
    unknown = [n for n in names if n not in BENCHMARKS]
    if unknown:
        parser.error(f"unknown benchmark {', '.join(unknown)}; known: {', '.join(BENCHMARKS)}")

    info = machine()
    mode = "quick" if args.quick else "full"
    started = datetime.now(timezone.utc)
    t0 = time.monotonic()
    scratch = Path(tempfile.mkdtemp(prefix="borne-bench-"))
    ctx = Context(quick=args.quick, scratch=scratch, sim_files=args.sim_files)
    figures: list[Figure] = []
    errors: dict[str, str] = {}
    try:
        for name in names:
            print(f"running {name}...", file=sys.stderr, flush=True)
            t = time.monotonic()
            try:
                figures.extend(run_one(name, ctx))
            except Exception as exc:  # one broken benchmark must not hide the others
                traceback.print_exc()
                errors[name] = f"{type(exc).__name__}: {exc}"
            print(f"  {name}: {time.monotonic() - t:.1f} s", file=sys.stderr, flush=True)
    finally:
        ctx.close()
        if args.keep:
            print(f"scratch directory kept: {scratch}", file=sys.stderr)
        else:
            shutil.rmtree(scratch, ignore_errors=True)
    try:
        info["loadavg_at_end"] = [round(x, 2) for x in os.getloadavg()]
    except OSError:
        pass
    print(table(figures, info, mode + (", sim files on" if args.sim_files else ""), errors))
    report = {
        "mode": mode,
        "sim_files": args.sim_files,
        "started": started.isoformat(timespec="seconds"),
        "duration_s": round(time.monotonic() - t0, 1),
        "machine": info,
        "benchmarks": names,
        "figures": [_clean(f.as_json()) for f in figures],
        "errors": errors,
    }
    args.json.parent.mkdir(parents=True, exist_ok=True)
    args.json.write_text(json.dumps(report, indent=2) + "\n", encoding="utf-8")
    return 1 if errors else 0


def _clean(value: Any) -> Any:
    """JSON has no NaN or infinity: write them as null."""
    if isinstance(value, float) and not math.isfinite(value):
        return None
    if isinstance(value, dict):
        return {k: _clean(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_clean(v) for v in value]
    return value
