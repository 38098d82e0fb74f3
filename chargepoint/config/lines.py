"""Maps dotted key paths to the lines they stand on in a TOML text.

tomllib returns plain dicts without positions, yet every configuration issue must point at a
line. This scanner walks the raw text once and records where each key, table header and array
element starts. It assumes the text already parsed (tomllib has the final word on syntax) and
never raises: whatever it cannot follow is skipped line by line, and lookups fall back to the
nearest enclosing table.
"""
from __future__ import annotations

import bisect
import json
import re
from collections.abc import Mapping
from dataclasses import dataclass

KeyPath = tuple[str | int, ...]
"""Table and key names, with 0-based integer indexes for array elements: ("evse", 0, "id")."""

_BARE_KEY = re.compile(r"[A-Za-z0-9_-]+")
_BARE_CHARS = frozenset("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789_-")
_SCALAR_END = frozenset(" \t\r\n,]}#")
_DATE = re.compile(r"\d{4}-\d{2}-\d{2}")
_ESCAPES = {"b": "\b", "t": "\t", "n": "\n", "f": "\f", "r": "\r", "e": "\x1b", '"': '"', "\\": "\\"}


def format_key(path: KeyPath) -> str:
    """The dotted form used in messages: evse[0].connector[0].type, auth.whitelist[2]."""
    out = ""
    for part in path:
        if isinstance(part, int):
            out += f"[{part}]"
        else:
            name = part if _BARE_KEY.fullmatch(part) else json.dumps(part)
            out += f".{name}" if out else name
    return out


_NAME_TOKEN = re.compile(r'\s*(?:(?P<bare>[A-Za-z0-9_-]+)|(?P<quoted>"(?:[^"\\]|\\.)*"))\s*')
_INDEX_TOKEN = re.compile(r"\[(\d+)\]\s*")


def parse_key(text: str) -> KeyPath:
    """Inverse of format_key, so callers may look keys up by the same string they print."""
    parts: list[str | int] = []
    pos = 0
    while pos < len(text):
        index = _INDEX_TOKEN.match(text, pos) if parts else None
        if index is not None:
            parts.append(int(index[1]))
            pos = index.end()
            continue
        if parts:
            if text[pos] != ".":
                raise ValueError(f"not a key path: {text!r}")
            pos += 1
        name = _NAME_TOKEN.match(text, pos)
        if name is None:
            raise ValueError(f"not a key path: {text!r}")
        parts.append(name["bare"] if name["bare"] is not None else json.loads(name["quoted"]))
        pos = name.end()
    return tuple(parts)


@dataclass(frozen=True)
class LineMap:
    """Line numbers (1-based) of every key, table header and array element found in a text."""

    lines: Mapping[KeyPath, int]

    def exact(self, path: KeyPath | str) -> int | None:
        """The line where this very key starts, or None."""
        return self.lines.get(_as_path(path))

    def find(self, path: KeyPath | str) -> int | None:
        """The key's line, else the line of its closest enclosing table, else None."""
        key = _as_path(path)
        while key:
            line = self.lines.get(key)
            if line is not None:
                return line
            key = key[:-1]
        return None


def _as_path(path: KeyPath | str) -> KeyPath:
    return parse_key(path) if isinstance(path, str) else tuple(path)


def locate_lines(text: str) -> LineMap:
    """Scan a TOML document and return where each of its keys stands."""
    return LineMap(_Scanner(text).run())


class _Malformed(Exception):
    """Raised inside the scanner to abandon the current line."""


class _Scanner:
    def __init__(self, text: str) -> None:
        self.s = text
        self.i = 0
        self.newlines = [m.start() for m in re.finditer("\n", text)]
        self.found: dict[KeyPath, int] = {}
        self.last_index: dict[KeyPath, int] = {}  # array-of-tables path -> index of its latest element
        self.table: KeyPath = ()

    def run(self) -> dict[KeyPath, int]:
        while True:
            self.skip_blank()
            if self.i >= len(self.s):
                return self.found
            try:
                if self.s.startswith("[[", self.i):
                    self.header(array=True)
                elif self.s[self.i] == "[":
                    self.header(array=False)
                else:
                    self.keyval(self.table, inline=False)
            except _Malformed:
                end = self.s.find("\n", self.i)
                self.i = len(self.s) if end < 0 else end + 1

    # -- positions -------------------------------------------------------------------------

    def line_at(self, pos: int) -> int:
        return bisect.bisect_left(self.newlines, pos) + 1

    def peek(self, ahead: int = 0) -> str:
        pos = self.i + ahead
        return self.s[pos] if pos < len(self.s) else ""

    def expect(self, char: str) -> None:
        if self.peek() != char:
            raise _Malformed
        self.i += 1

    def skip_ws(self) -> None:
        while self.peek() in (" ", "\t"):
            self.i += 1

    def skip_blank(self) -> None:
        """Whitespace, newlines and comments: what may separate array elements and statements."""
        while True:
            char = self.peek()
            if char in (" ", "\t", "\r", "\n"):
                self.i += 1
            elif char == "#":
                end = self.s.find("\n", self.i)
                self.i = len(self.s) if end < 0 else end
            else:
                return

    def end_of_line(self) -> None:
        self.skip_ws()
        if self.peek() == "#":
            end = self.s.find("\n", self.i)
            self.i = len(self.s) if end < 0 else end
        if self.peek() not in ("", "\n", "\r"):
            raise _Malformed

    # -- statements ------------------------------------------------------------------------

    def header(self, *, array: bool) -> None:
        line = self.line_at(self.i)
        self.i += 2 if array else 1
        self.skip_ws()
        names = [name for name, _ in self.key()]
        self.expect("]")
        if array:
            self.expect("]")
        resolved: list[str | int] = []
        for name in names[:-1]:
            resolved.append(name)
            self.found.setdefault(tuple(resolved), line)
            index = self.last_index.get(tuple(resolved))
            if index is not None:
                resolved.append(index)
        resolved.append(names[-1])
        if array:
            base = tuple(resolved)
            index = self.last_index.get(base, -1) + 1
            self.last_index[base] = index
            self.found.setdefault(base, line)
            resolved.append(index)
        self.table = tuple(resolved)
        self.found[self.table] = line
        self.end_of_line()

    def keyval(self, base: KeyPath, *, inline: bool) -> None:
        parts = self.key()
        line = self.line_at(parts[0][1])
        path = base
        for name, _ in parts[:-1]:
            path += (name,)
            self.found.setdefault(path, line)
        path += (parts[-1][0],)
        self.found[path] = line
        self.expect("=")
        self.skip_ws()
        self.value(path)
        if not inline:
            self.end_of_line()

    def key(self) -> list[tuple[str, int]]:
        """A possibly dotted key, as (name, start offset) per part."""
        parts = []
        while True:
            self.skip_ws()
            start = self.i
            char = self.peek()
            if char == '"':
                name = self.basic_string()
            elif char == "'":
                name = self.literal_string()
            else:
                while self.peek() in _BARE_CHARS:
                    self.i += 1
                if self.i == start:
                    raise _Malformed
                name = self.s[start : self.i]
            parts.append((name, start))
            self.skip_ws()
            if self.peek() != ".":
                return parts
            self.i += 1

    # -- values ----------------------------------------------------------------------------

    def value(self, path: KeyPath) -> None:
        if self.s.startswith('"""', self.i):
            self.multiline_string('"""', escapes=True)
        elif self.s.startswith("'''", self.i):
            self.multiline_string("'''", escapes=False)
        elif self.peek() == '"':
            self.basic_string()
        elif self.peek() == "'":
            self.literal_string()
        elif self.peek() == "[":
            self.array(path)
        elif self.peek() == "{":
            self.inline_table(path)
        else:
            self.scalar()

    def array(self, path: KeyPath) -> None:
        self.i += 1
        index = 0
        while True:
            self.skip_blank()
            if self.peek() == "]":
                self.i += 1
                return
            element = path + (index,)
            self.found[element] = self.line_at(self.i)
            self.value(element)
            index += 1
            self.skip_blank()
            if self.peek() == ",":
                self.i += 1
            elif self.peek() != "]":
                raise _Malformed

    def inline_table(self, path: KeyPath) -> None:
        self.i += 1
        while True:
            self.skip_blank()
            if self.peek() == "}":
                self.i += 1
                return
            self.keyval(path, inline=True)
            self.skip_blank()
            if self.peek() == ",":
                self.i += 1
            elif self.peek() != "}":
                raise _Malformed

    def scalar(self) -> None:
        start = self.i
        while self.peek() and self.peek() not in _SCALAR_END:
            self.i += 1
        if self.i == start:
            raise _Malformed
        # A date-time may separate date and time with a space: 1979-05-27 07:32:00Z.
        if _DATE.fullmatch(self.s, start, self.i) and self.peek() == " " and self.peek(1).isdigit():
            self.i += 1
            while self.peek() and self.peek() not in _SCALAR_END:
                self.i += 1

    def basic_string(self) -> str:
        self.i += 1
        chars = []
        while True:
            char = self.peek()
            if char in ("", "\n"):
                raise _Malformed
            self.i += 1
            if char == '"':
                return "".join(chars)
            if char == "\\":
                chars.append(self.escape())
            else:
                chars.append(char)

    def escape(self) -> str:
        code = self.peek()
        self.i += 1
        if code in ("u", "U"):
            width = 4 if code == "u" else 8
            digits = self.s[self.i : self.i + width]
            self.i += width
            try:
                return chr(int(digits, 16))
            except ValueError:
                raise _Malformed from None
        return _ESCAPES.get(code, code)

    def literal_string(self) -> str:
        self.i += 1
        end = self.s.find("'", self.i)
        newline = self.s.find("\n", self.i)
        if end < 0 or 0 <= newline < end:
            raise _Malformed
        name = self.s[self.i : end]
        self.i = end + 1
        return name

    def multiline_string(self, delimiter: str, *, escapes: bool) -> None:
        self.i += 3
        while True:
            if self.i >= len(self.s):
                raise _Malformed
            if escapes and self.peek() == "\\":
                self.i += 2
                continue
            if self.s.startswith(delimiter, self.i):
                self.i += 3
                # Up to two more quotes belong to the content: """a""""" ends in "a"".
                for _ in range(2):
                    if self.peek() == delimiter[0]:
                        self.i += 1
                return
            self.i += 1
