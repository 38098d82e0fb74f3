"""Test helpers shared by every directory of tests/ (e.g. example_configs) are importable by
their module name, whichever test file is collected first."""
from __future__ import annotations

import sys
from pathlib import Path

TESTS = str(Path(__file__).resolve().parent)
if TESTS not in sys.path:
    sys.path.insert(0, TESTS)
