"""The doctor's report for people (a table, with what to check under each failure) and for
tools (JSON)."""
from __future__ import annotations

import json
import textwrap
from typing import Any

from chargepoint.doctor.results import Outcome, Report

WIDTH = 100
HINT_WIDTH = 64  # characters of hint text per line, after the indent
MARKS = {Outcome.PASS: "PASS", Outcome.FAIL: "FAIL", Outcome.SKIP: "SKIP"}


def render_json(report: Report) -> str:
    return json.dumps(report.to_json(), indent=2, allow_nan=False)


def _safe_summary(safe_state: dict[str, Any]) -> str:
    parts = []
    for key, value in safe_state.items():
        if isinstance(value, dict):
            items = ", ".join(f"{k}={v}" for k, v in value.items())
            parts.append(f"EVSE {key}: {items}")
        else:
            parts.append(f"{key}={value}")
    return "; ".join(parts)


def render_table(report: Report) -> str:
    results = report.results
    device_w = max([len(r.device) for r in results] + [6])
    check_w = max([len(r.check) for r in results] + [5])
    detail_indent = " " * (2 + device_w + 2 + check_w + 2 + 4 + 2)
    lines = [f"chargepoint doctor: board {report.board}"]
    scope = None
    for r in results:
        if r.scope != scope:
            scope = r.scope
            lines.append(scope)
        head = f"  {r.device:<{device_w}}  {r.check:<{check_w}}  {MARKS[r.outcome]}  "
        lines.append(head + r.verdict.detail)
        lines += [detail_indent + extra for extra in r.verdict.lines]
        if r.outcome is Outcome.FAIL and r.verdict.hint:
            lines += textwrap.wrap(r.verdict.hint, len(detail_indent) + 7 + HINT_WIDTH,
                                   initial_indent=detail_indent + "check: ",
                                   subsequent_indent=detail_indent + "       ")
    summary = (f"{report.count(Outcome.PASS)} passed, {report.count(Outcome.FAIL)} failed, "
               f"{report.count(Outcome.SKIP)} skipped")
    if report.interrupted:
        summary += "; INTERRUPTED before every check ran"
    lines.append("")
    lines.append(summary)
    if report.safe_state:
        lines += textwrap.wrap("outputs left safe: " + _safe_summary(report.safe_state), WIDTH)
    return "\n".join(lines)
