"""The AuthorizationKey: the HTTP Basic password of security profiles 1 and 2.

The installer's `[ocpp] password_file` gives the first one; a key the CSMS sets with
ChangeConfiguration is kept in `<security_dir>/authorization_key` (mode 0600, written atomically)
and wins from then on. The value never appears in a log, a GetConfiguration answer or a
security event (A01.FR.12)."""
from __future__ import annotations

import base64
import logging
import re
from pathlib import Path

from chargepoint.security.files import PRIVATE, write_atomically

log = logging.getLogger(__name__)

# A00.FR.205: at least 16 bytes, at most 20, sent as hexadecimal: 32 to 40 hex digits.
_HEX_KEY = re.compile(r"(?:[0-9A-Fa-f]{2}){16,20}")


def acceptable_key(value: str) -> bool:
    return _HEX_KEY.fullmatch(value) is not None


def basic_auth_header(username: str, password: str) -> dict[str, str]:
    """RFC 7617: base64 of `username:password`; the username is the charge point id (A00.FR.204)."""
    token = base64.b64encode(f"{username}:{password}".encode()).decode()
    return {"Authorization": f"Basic {token}"}


class AuthorizationKey:
    def __init__(self, stored: Path, initial: Path | None) -> None:
        self.stored = stored
        self.initial = initial

    def get(self) -> str | None:
        """The key to send, or None when there is none (or it cannot be read)."""
        for path in (self.stored, self.initial):
            if path is None:
                continue
            try:
                text = path.read_text(encoding="utf-8").strip()
            except FileNotFoundError:
                continue
            except (OSError, UnicodeDecodeError) as exc:
                log.error("cannot read the AuthorizationKey file %s: %s", path, type(exc).__name__)
                return None
            return text or None
        return None

    def set(self, value: str) -> None:
        """Store a key the CSMS set (already checked with `acceptable_key`)."""
        write_atomically(self.stored, value.encode("ascii"), PRIVATE)
