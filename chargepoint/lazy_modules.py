"""Modules loaded on first use. `cryptography` adds about 14 MB to the process; a charge point
that never touches a certificate (security profile 0 or 1, no signed firmware) should not pay
for it, so the security and firmware modules name its parts through `lazy`."""
from __future__ import annotations

import importlib
import sys
from types import ModuleType
from typing import Any


class _LazyModule(ModuleType):
    """Stands for a module and imports it, the normal way, when an attribute is first read; it
    never replaces anything in sys.modules, so the module's own (circular) imports are unaffected."""

    def __init__(self, name: str) -> None:
        super().__init__(name)

    def __getattr__(self, attr: str) -> Any:
        return getattr(importlib.import_module(self.__name__), attr)


def lazy(name: str) -> ModuleType:
    """The module `name` if it is already loaded, else a stand-in that loads it on first use."""
    return sys.modules.get(name) or _LazyModule(name)
