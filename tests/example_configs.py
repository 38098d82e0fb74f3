"""The configurations shipped in docs/examples, as tests copy them elsewhere: the files they
name relative to their own directory (the CSMS root certificate) are made absolute."""
from __future__ import annotations

from pathlib import Path

EXAMPLES = Path(__file__).resolve().parents[1] / "docs" / "examples"
RELATIVE_FILES = ("example-csms-root.pem",)


def example_text(path: Path) -> str:
    text = path.read_text()
    for name in RELATIVE_FILES:
        text = text.replace(f'"{name}"', f'"{path.parent / name}"')
    return text
