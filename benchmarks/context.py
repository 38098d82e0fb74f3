"""What the runner hands every benchmark: the counts to use, a scratch directory and the peer."""
from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from benchmarks.common import Peer


@dataclass
class Context:
    quick: bool
    scratch: Path
    sim_files: bool = False  # keep the simulated board's file writes (latches, meter register)
    _peer: Peer | None = field(default=None, repr=False)

    def n(self, full: int, quick: int) -> int:
        return quick if self.quick else full

    @property
    def peer(self) -> Peer:
        """Started on first use, shared by the benchmarks of one run."""
        if self._peer is None:
            self._peer = Peer()
        return self._peer

    def directory(self, name: str) -> Path:
        path = self.scratch / name
        path.mkdir(parents=True, exist_ok=True)
        return path

    def close(self) -> None:
        if self._peer is not None:
            self._peer.close()
            self._peer = None
