"""cryptography (about 14 MB of resident memory) is loaded only when a certificate is touched:
a controller on security profile 0 or 1 never pays for it."""
from __future__ import annotations

import subprocess
import sys

from chargepoint.lazy_modules import lazy


def test_importing_the_controller_leaves_cryptography_unloaded() -> None:
    probe = ("import sys, chargepoint.app, chargepoint.cli; "
             "print('cryptography.hazmat.bindings._rust' in sys.modules)")
    out = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False", out.stderr


def test_a_lazy_module_loads_on_first_use() -> None:
    probe = ("import sys; from chargepoint.lazy_modules import lazy; m = lazy('json.tool'); "
             "before = 'json.tool' in sys.modules; print(before, callable(m.main), 'json.tool' in sys.modules)")
    out = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False True True", out.stderr


def test_an_already_loaded_module_is_returned_as_it_is() -> None:
    assert lazy("sys") is sys
