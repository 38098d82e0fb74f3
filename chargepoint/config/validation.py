"""Typed readers over parsed TOML tables that record issues instead of raising.

Every reader returns a usable value or None and appends an issue when the input is wrong, so one
pass over the file reports every problem at once. A table that is itself missing or malformed
yields an absent section whose readers stay silent: its keys are not reported one by one.
"""
from __future__ import annotations

import difflib
import math
import re
from collections.abc import Iterable, Sequence
from datetime import date, datetime, time
from pathlib import Path
from typing import Any

from chargepoint.config.errors import ConfigIssue
from chargepoint.config.lines import KeyPath, LineMap, format_key

REQUIRED: Any = object()
"""Default marker for keys that must be present."""


class Checker:
    """Collects the issues of one configuration file."""

    def __init__(self, file: Path, lines: LineMap, base_dir: Path) -> None:
        self.file = file
        self.lines = lines
        self.base_dir = base_dir
        self.issues: list[ConfigIssue] = []

    def report(self, path: KeyPath, message: str, fix: str, *, line: int | None = None) -> None:
        where = line if line is not None else self.lines.find(path)
        self.issues.append(ConfigIssue(self.file, where, format_key(path), message, fix))

    def root(self, document: dict[str, Any], known: Sequence[str]) -> Section:
        return Section(self, (), document, known)


class Section:
    """One TOML table: checks its keys against the known ones and reads typed values from it."""

    def __init__(self, checker: Checker, path: KeyPath, data: dict[str, Any] | None, known: Sequence[str]) -> None:
        self.checker = checker
        self.key_path = path
        self.data = data if data is not None else {}
        self.present = data is not None
        self.known = tuple(known)
        for key, value in self.data.items():
            if key not in self.known:
                self._unknown(key, value)

    @property
    def header(self) -> str:
        """How the table is written in the file, for messages: [ocpp], [[evse.connector]]."""
        if not self.key_path:
            return "the top level"
        names = ".".join(format_key((p,)) for p in self.key_path if isinstance(p, str))
        return f"[[{names}]]" if isinstance(self.key_path[-1], int) else f"[{names}]"

    def _unknown(self, key: str, value: Any) -> None:
        is_table = isinstance(value, dict) or (
            isinstance(value, list) and bool(value) and all(isinstance(v, dict) for v in value)
        )
        what = "table" if is_table else "key"
        message = f"unknown {what}"
        close = difflib.get_close_matches(key.lower(), self.known, n=1, cutoff=0.6)
        if close:
            message += f"; did you mean {close[0]}?"
        place = f"in {self.header}" if self.key_path else "at the top level"
        fix = f"remove it; known {what}s {place}: {', '.join(self.known)}"
        self.checker.report(self.key_path + (key,), message, fix)

    # -- plumbing ----------------------------------------------------------------------------

    def _get(self, key: str, default: Any, fix: str) -> tuple[bool, Any]:
        """(True, raw value) when the key is present, else (False, the default or None)."""
        if key in self.data:
            return True, self.data[key]
        if default is REQUIRED and self.present:
            self.checker.report(self.key_path + (key,), "required key is missing", f"add it to {self.header}: {fix}")
        return False, None if default is REQUIRED else default

    def _wrong_type(self, key: str, expected: str, value: Any, fix: str) -> None:
        self.checker.report(self.key_path + (key,), f"expected {expected}, got {describe(value)}", fix)

    def fail(self, key: str | int | KeyPath, message: str, fix: str) -> None:
        """Report a problem with a key of this table found by rules beyond its type."""
        tail = key if isinstance(key, tuple) else (key,)
        self.checker.report(self.key_path + tail, message, fix)

    # -- sub-tables ----------------------------------------------------------------------------

    def table(self, key: str, known: Sequence[str], *, required: bool, fix: str = "") -> Section:
        value = self.data.get(key)
        path = self.key_path + (key,)
        if value is None:
            if required and self.present:
                self.checker.report(path, "required table is missing", fix or f"add a [{format_key(path)}] table")
            return Section(self.checker, path, None, known)
        if not isinstance(value, dict):
            self._wrong_type(key, f"a table [{format_key(path)}]", value, fix or f"a [{format_key(path)}] table")
            return Section(self.checker, path, None, known)
        return Section(self.checker, path, value, known)

    def tables(self, key: str, known: Sequence[str], fix: str) -> list[Section] | None:
        """An array of tables ([[key]]); None when it is missing or is not one."""
        value = self.data.get(key)
        if value is None:
            return None
        if not isinstance(value, list) or not all(isinstance(v, dict) for v in value):
            names = ".".join(format_key((p,)) for p in self.key_path + (key,) if isinstance(p, str))
            self._wrong_type(key, f"an array of tables [[{names}]]", value, fix)
            return None
        return [Section(self.checker, self.key_path + (key, i), item, known) for i, item in enumerate(value)]

    # -- scalars -------------------------------------------------------------------------------

    def string(
        self,
        key: str,
        *,
        fix: str,
        default: Any = REQUIRED,
        min_len: int = 1,
        max_len: int | None = None,
        pattern: re.Pattern[str] | None = None,
    ) -> str | None:
        found, value = self._get(key, default, fix)
        if not found:
            return value
        if not isinstance(value, str):
            self._wrong_type(key, "a string", value, fix)
            return None
        if len(value) < min_len or (max_len is not None and len(value) > max_len):
            size = "is empty" if not value else f"is {len(value)} characters long"
            self.fail(key, f"{quote(value)} {size}", fix)
            return None
        if pattern is not None and not pattern.fullmatch(value):
            self.fail(key, f"{quote(value)} is not accepted", fix)
            return None
        return value

    def choice(
        self, key: str, options: Iterable[str], *, fix: str, default: Any = REQUIRED, fold_case: bool = False
    ) -> str | None:
        found, value = self._get(key, default, fix)
        if not found:
            return value
        if not isinstance(value, str):
            self._wrong_type(key, "a string", value, fix)
            return None
        options = tuple(options)
        candidate = value.upper() if fold_case else value
        if candidate not in options:
            close = difflib.get_close_matches(candidate, options, n=1, cutoff=0.6)
            hint = f'; did you mean "{close[0]}"?' if close and close[0] != candidate else ""
            self.fail(key, f"{quote(value)} is not accepted{hint}", fix)
            return None
        return candidate

    def boolean(self, key: str, *, fix: str, default: Any = REQUIRED) -> bool | None:
        found, value = self._get(key, default, fix)
        if not found:
            return value
        if not isinstance(value, bool):
            self._wrong_type(key, "true or false", value, fix)
            return None
        return value

    def integer(
        self, key: str, *, fix: str, default: Any = REQUIRED, low: int | None = None, high: int | None = None
    ) -> int | None:
        found, value = self._get(key, default, fix)
        if not found:
            return value
        if isinstance(value, bool) or not isinstance(value, int):
            self._wrong_type(key, "an integer", value, fix)
            return None
        if (low is not None and value < low) or (high is not None and value > high):
            self.fail(key, f"{value} is out of range", fix)
            return None
        return value

    def number(
        self,
        key: str,
        *,
        fix: str,
        default: Any = REQUIRED,
        low: float | None = None,
        high: float | None = None,
        above: float | None = None,
    ) -> float | None:
        """A float; integers are welcome, booleans are not. `above` is an exclusive lower bound."""
        found, value = self._get(key, default, fix)
        if not found:
            return value
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            self._wrong_type(key, "a number", value, fix)
            return None
        try:
            number = float(value)
        except OverflowError:
            number = math.inf
        out_of_range = (
            not math.isfinite(number)
            or (low is not None and number < low)
            or (high is not None and number > high)
            or (above is not None and number <= above)
        )
        if out_of_range:
            self.fail(key, f"{value} is out of range", fix)
            return None
        return number

    def path(self, key: str, *, fix: str, default: Any = REQUIRED) -> Path | None:
        """A filesystem path; a relative one is taken from the configuration file's directory."""
        found, value = self._get(key, default, fix)
        if not found:
            return value
        if not isinstance(value, str):
            self._wrong_type(key, "a string (a path)", value, fix)
            return None
        if not value.strip() or "\0" in value:
            self.fail(key, f"{quote(value)} is not a path", fix)
            return None
        return self.checker.base_dir / value

    def array(self, key: str, *, fix: str) -> list[Any] | None:
        """The raw elements of an array, or None when the key is absent or not an array."""
        if key not in self.data:
            return None
        value = self.data[key]
        if not isinstance(value, list):
            self._wrong_type(key, "an array", value, fix)
            return None
        return value


def describe(value: Any) -> str:
    """Name a TOML value the way its author wrote it, so the message can be matched to the file."""
    if isinstance(value, bool):
        return f"a boolean ({str(value).lower()})"
    if isinstance(value, int):
        return f"an integer ({value})"
    if isinstance(value, float):
        return f"a float ({value})"
    if isinstance(value, str):
        return f"a string ({quote(value)})"
    if isinstance(value, list):
        return "an array"
    if isinstance(value, dict):
        return "a table"
    if isinstance(value, datetime):
        return "a date-time"
    if isinstance(value, date):
        return "a date"
    if isinstance(value, time):
        return "a time"
    return type(value).__name__


def quote(text: str) -> str:
    """A string value as it would appear in the file, shortened if long."""
    shown = text if len(text) <= 60 else text[:57] + "..."
    return '"' + shown.replace("\\", "\\\\").replace('"', '\\"') + '"'
