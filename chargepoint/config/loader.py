"""Reads firmware.toml into a Config, reporting every problem of the file in one go.

A device that refuses to start should say everything that is wrong with its configuration at
once, each with a line to look at and what would be accepted instead."""
from __future__ import annotations

import re
import tomllib
from pathlib import Path

from chargepoint.config.errors import ConfigError, ConfigIssue
from chargepoint.config.lines import locate_lines
from chargepoint.config.model import Config
from chargepoint.config.schema import build_config
from chargepoint.config.validation import Checker

FILE_KEY = "(file)"
"""Key named by issues about the file as a whole: missing, unreadable, not UTF-8."""
SYNTAX_KEY = "(syntax)"
"""Key named by TOML syntax errors, which come before any key can be read."""

_TOML_FIX = "valid TOML 1.0 (https://toml.io/en/v1.0.0)"
_TOML_POSITION = re.compile(r"\s*\(at line (\d+), column (\d+)\)\s*$")
_TOML_AT_END = re.compile(r"\s*\(at end of document\)\s*$")


def load_config(path: str | Path) -> Config:
    """The validated configuration; raises ConfigError listing every issue found."""
    config, issues = _read(Path(path))
    if issues or config is None:
        raise ConfigError(issues)
    return config


def check_config(path: str | Path) -> list[ConfigIssue]:
    """Every issue of the file, in line order; an empty list means load_config will succeed."""
    return _read(Path(path))[1]


def _read(path: Path) -> tuple[Config | None, list[ConfigIssue]]:
    try:
        data = path.read_bytes()
    except FileNotFoundError:
        return None, [ConfigIssue(path, None, FILE_KEY, "file not found", "the path of an existing configuration file")]
    except IsADirectoryError:
        return None, [ConfigIssue(path, None, FILE_KEY, "is a directory", "the path of a configuration file")]
    except OSError as exc:
        reason = exc.strerror or str(exc)
        return None, [ConfigIssue(path, None, FILE_KEY, f"cannot be read: {reason}", "a file readable by this user")]

    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        line = data[: exc.start].count(b"\n") + 1
        return None, [ConfigIssue(path, line, FILE_KEY, "not valid UTF-8", "save the file as UTF-8")]

    try:
        document = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        return None, [_syntax_issue(path, text, str(exc))]

    source = path.resolve()
    checker = Checker(path, locate_lines(text), source.parent)
    config = build_config(checker, document, source)
    issues = sorted(checker.issues, key=lambda issue: (issue.line is None, issue.line or 0))
    return config, issues


def _syntax_issue(path: Path, text: str, message: str) -> ConfigIssue:
    """tomllib reports its position only inside the message text; move it to the issue's line."""
    line: int | None = None
    position = _TOML_POSITION.search(message)
    if position is not None:
        line = int(position[1])
        message = f"{message[: position.start()]} at column {position[2]}"
    elif (at_end := _TOML_AT_END.search(message)) is not None:
        line = max(1, text.count("\n") + (0 if text.endswith("\n") else 1))
        message = f"{message[: at_end.start()]} at the end of the file"
    return ConfigIssue(path, line, SYNTAX_KEY, message[:1].lower() + message[1:], _TOML_FIX)
