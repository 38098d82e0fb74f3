"""The security log (A04.FR.04, N01.FR.05): every security event, critical or not, one per line,
in a rolling pair of files so that it never fills the disk.

GetLog(SecurityLog) uploads `SecurityLog.files()`, oldest first. A line is the UTC timestamp, the
event type and, when there is one, the techInfo as a JSON string:

    2026-05-04T10:00:00.000Z InvalidCentralSystemCertificate "server certificate: unable to get local issuer certificate"
"""
from __future__ import annotations

import json
import logging
import os
from pathlib import Path

from chargepoint.security.files import ensure_directory

log = logging.getLogger(__name__)

MAX_BYTES = 256 * 1024  # per file: two files hold thousands of events


class SecurityLog:
    def __init__(self, path: Path, max_bytes: int = MAX_BYTES) -> None:
        self.path = path
        self.previous = path.with_name(path.name + ".1")
        self.max_bytes = max_bytes

    def files(self) -> list[Path]:
        """The log's files that exist, oldest first."""
        return [p for p in (self.previous, self.path) if p.exists()]

    def append(self, timestamp: str, event_type: str, tech_info: str | None) -> None:
        line = f"{timestamp} {event_type}" + (f" {json.dumps(tech_info)}" if tech_info else "") + "\n"
        try:
            ensure_directory(self.path.parent)
            if self.path.exists() and self.path.stat().st_size + len(line) > self.max_bytes:
                os.replace(self.path, self.previous)
            with open(self.path, "a", encoding="utf-8") as handle:
                handle.write(line)
                handle.flush()
                os.fsync(handle.fileno())
        except OSError as exc:
            log.error("cannot write the security log %s: %s", self.path, exc)

    def entries(self) -> list[dict[str, str]]:
        """Every entry still kept, oldest first, as {"timestamp", "type"[, "techInfo"]}; a
        damaged line is skipped."""
        found = []
        for path in self.files():
            for line in path.read_text(encoding="utf-8", errors="replace").splitlines():
                timestamp, _, rest = line.partition(" ")
                event_type, _, info = rest.partition(" ")
                if not event_type:
                    continue
                entry = {"timestamp": timestamp, "type": event_type}
                if info:
                    try:
                        entry["techInfo"] = json.loads(info)
                    except ValueError:
                        continue
                found.append(entry)
        return found
