"""Configuration problems, each pointing at a file, a line and a key, and saying what fits."""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path


@dataclass(frozen=True)
class ConfigIssue:
    file: Path
    line: int | None  # 1-based; None when the key is missing and no better line exists
    key: str  # dotted path, e.g. "evse[1].max_current_a" (array indexes 0-based as in TOML order)
    message: str  # what is wrong
    fix: str  # what is accepted / how to fix it

    def __str__(self) -> str:
        where = f"{self.file}:{self.line}" if self.line else f"{self.file}"
        return f"{where}: {self.key}: {self.message} (fix: {self.fix})"


class ConfigError(Exception):
    def __init__(self, issues: list[ConfigIssue]) -> None:
        self.issues = issues
        super().__init__("\n".join(str(i) for i in issues))
