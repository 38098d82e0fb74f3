"""The ocpp-rpc CSMS (ocpp_rpc_csms/csms.mjs) as a child process, seen from Python.

Borne is built on the Python `ocpp` library, and tests/csms.py validates with that same library,
so a schema mistake both share would go unnoticed. This CSMS is a different implementation
(Node, ocpp-rpc in strict mode, its own OCPP 1.6 schemas): its JSON-line event log is parsed here
and offered with the small interface the end-to-end helpers use (`received`, `frames`, `mark`,
`wait_for`), so e2e_harness.E2E drives the simulated board against it unchanged.
"""
from __future__ import annotations

import asyncio
import contextlib
import json
import shutil
import sys
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

E2E_DIR = Path(__file__).resolve().parent.parent / "e2e"
if str(E2E_DIR) not in sys.path:
    sys.path.insert(0, str(E2E_DIR))

from e2e_harness import WAIT  # noqa: E402  (also puts tests/ on sys.path)

from csms import Received  # noqa: E402

PACKAGE_DIR = Path(__file__).resolve().parent / "ocpp_rpc_csms"
SCRIPT = PACKAGE_DIR / "csms.mjs"
CALL, CALLRESULT, CALLERROR = 2, 3, 4

Event = dict[str, Any]
Payload = dict[str, Any]


def installation_problem() -> str | None:
    """Why the CSMS cannot run here, or None: node present and the pinned ocpp-rpc installed.

    A missing install is an error of the build, not a reason to skip: `make test` installs it."""
    fix = "run `make test` (it runs `npm ci` there) or `npm ci --prefix tests/conformance/ocpp_rpc_csms`"
    if shutil.which("node") is None:
        return "`node` is not installed (.ci/run installs Debian's nodejs and npm)"
    pinned = json.loads((PACKAGE_DIR / "package.json").read_text())["dependencies"]["ocpp-rpc"]
    installed_manifest = PACKAGE_DIR / "node_modules" / "ocpp-rpc" / "package.json"
    if not installed_manifest.exists():
        return f"ocpp-rpc is not installed in {PACKAGE_DIR}/node_modules: {fix}"
    installed = json.loads(installed_manifest.read_text())["version"]
    if installed != pinned:
        return f"ocpp-rpc {installed} is installed but package.json pins {pinned}: {fix}"
    return None


@dataclass(frozen=True)
class CallOutcome:
    """The end of one CSMS-initiated call: Borne's answer, or why there is none."""

    action: str
    payload: Payload | None
    error: Event | None

    @property
    def ok(self) -> bool:
        return self.error is None


class NodeCsms:
    """The ocpp-rpc CSMS process: start it, send it commands, read what happened."""

    def __init__(self, events_path: Path, stderr_path: Path, heartbeat_interval: int = 300) -> None:
        self.events_path = events_path
        self.stderr_path = stderr_path
        self.heartbeat_interval = heartbeat_interval
        self.events: list[Event] = []
        self.received: list[Received] = []
        self.frames: list[tuple[str, str]] = []
        self.port: int | None = None
        # Waits end at once on a schema failure, so a scenario fails where it went wrong.
        self.fail_on_problems = True
        self._proc: asyncio.subprocess.Process | None = None
        self._reader: asyncio.Task[None] | None = None
        self._stderr_file: Any = None
        self._events_file: Any = None
        self._changed = asyncio.Event()
        self._refs = 0

    # ---- lifecycle

    async def start(self) -> str:
        """Start the process and return the URL the charge point appends its id to."""
        self._stderr_file = open(self.stderr_path, "wb")
        self._events_file = open(self.events_path, "w")
        self._proc = await asyncio.create_subprocess_exec(
            "node", str(SCRIPT), "--port", "0", "--heartbeat-interval", str(self.heartbeat_interval),
            stdin=asyncio.subprocess.PIPE, stdout=asyncio.subprocess.PIPE, stderr=self._stderr_file,
            cwd=str(PACKAGE_DIR),
        )
        self._reader = asyncio.create_task(self._read_events())
        listening = await self.wait_event(lambda e: e["event"] == "listening", WAIT, "the CSMS to listen")
        self.port = int(listening["port"])
        return self.url

    @property
    def url(self) -> str:
        assert self.port is not None, "CSMS not started"
        return f"ws://127.0.0.1:{self.port}/ocpp"

    async def stop(self) -> None:
        """Close stdin (the CSMS finishes and exits); terminate it if it does not."""
        proc = self._proc
        if proc is None:
            return
        if proc.stdin is not None and not proc.stdin.is_closing():
            proc.stdin.close()
        try:
            await asyncio.wait_for(proc.wait(), 5)
        except asyncio.TimeoutError:
            with contextlib.suppress(ProcessLookupError):
                proc.kill()
            await proc.wait()
        if self._reader is not None:
            await asyncio.gather(self._reader, return_exceptions=True)
        for handle in (self._stderr_file, self._events_file):
            if handle is not None:
                handle.close()

    def stderr(self) -> str:
        return self.stderr_path.read_text(errors="replace") if self.stderr_path.exists() else ""

    # ---- what happened

    def of(self, event: str) -> list[Event]:
        return [e for e in self.events if e["event"] == event]

    def problems(self) -> list[Event]:
        """Every strict-mode schema failure (either direction) and every frame ocpp-rpc rejected."""
        return [e for e in self.events if e["event"] in ("strict_validation_failure", "bad_message", "command_error")]

    def mark(self) -> int:
        """Position in `received` to pass as `since`."""
        return len(self.received)

    async def wait_for(self, action: str, predicate: Callable[[Payload], bool] | None = None,
                       timeout: float = WAIT, since: int = 0) -> Received:
        """The first CALL of `action` from Borne at or after position `since` matching `predicate`."""
        def find() -> Received | None:
            for record in self.received[since:]:
                if record.action == action and (predicate is None or predicate(record.payload)):
                    return record
            return None
        return await self._wait_until(find, timeout, f"{action} from the charge point")

    async def wait_event(self, predicate: Callable[[Event], bool], timeout: float = WAIT,
                         what: str = "an event", since: int = 0) -> Event:
        def find() -> Event | None:
            return next((e for e in self.events[since:] if predicate(e)), None)
        return await self._wait_until(find, timeout, what)

    def unanswered(self) -> list[Event]:
        """The charge point's CALLs the CSMS has not answered (yet)."""
        answered = {e["id"] for e in self.of("sent_response")}
        return [e for e in self.of("recv_call") if e["id"] not in answered]

    async def all_answered(self, timeout: float = WAIT) -> None:
        """Wait until every CALL received so far has been answered: the answer is logged just
        after the call, so a test that saw a call must not conclude before its answer."""
        await self._wait_until(lambda: True if not self.unanswered() else None, timeout,
                               "answers to every call of the charge point")

    # ---- CSMS → charge point

    async def call(self, action: str, payload: Payload, timeout: float = WAIT) -> CallOutcome:
        """Have the CSMS call `action` on the connected charge point; wait for the outcome."""
        assert self._proc is not None and self._proc.stdin is not None, "CSMS not started"
        self._refs += 1
        ref = f"c{self._refs}"
        command = {"ref": ref, "action": action, "payload": payload, "timeout_ms": int(timeout * 1000)}
        self._proc.stdin.write((json.dumps(command) + "\n").encode())
        await self._proc.stdin.drain()
        done = await self.wait_event(
            lambda e: e.get("ref") == ref and e["event"] in ("call_result", "call_error"),
            timeout + WAIT, f"the outcome of {action}")
        if done["event"] == "call_result":
            return CallOutcome(action, done["payload"], None)
        return CallOutcome(action, None, done)

    # ---- internals

    async def _read_events(self) -> None:
        assert self._proc is not None and self._proc.stdout is not None
        try:
            while line := await self._proc.stdout.readline():
                self._events_file.write(line.decode(errors="replace"))
                self._events_file.flush()
                try:
                    event = json.loads(line)
                except ValueError:
                    event = {"event": "unparsable_output", "line": line.decode(errors="replace")}
                self._record(event)
        finally:
            self._notify()

    def _record(self, event: Event) -> None:
        self.events.append(event)
        kind = event["event"]
        if kind == "recv_call":
            frame = [CALL, event["id"], event["action"], event["payload"]]
            self.frames.append(("in", json.dumps(frame)))
            self.received.append(Received(event["action"], event["payload"], event["id"],
                                          datetime.now(timezone.utc), json.dumps(frame)))
        elif kind in ("sent_response", "recv_response"):
            if event["kind"] == "CALLRESULT":
                frame = [CALLRESULT, event["id"], event["payload"]]
            else:
                error = event["error"]
                frame = [CALLERROR, event["id"], error["code"], error["description"], error["details"]]
            self.frames.append(("out" if kind == "sent_response" else "in", json.dumps(frame)))
        elif kind == "sent_call":
            self.frames.append(("out", json.dumps([CALL, event["id"], event["action"], event["payload"]])))
        self._notify()

    def _notify(self) -> None:
        self._changed.set()
        self._changed = asyncio.Event()

    async def _wait_until(self, check: Callable[[], Any], timeout: float, what: str) -> Any:
        """Poll `check` on every new event; stop at once on a schema failure or a dead CSMS."""
        try:
            async with asyncio.timeout(timeout):
                while True:
                    changed = self._changed
                    problems = self.problems()
                    if problems and self.fail_on_problems:
                        raise AssertionError(f"while waiting for {what}, the ocpp-rpc CSMS reported:\n"
                                             + "\n".join(json.dumps(p) for p in problems))
                    result = check()
                    if result is not None:
                        return result
                    if self._reader is not None and self._reader.done():
                        raise AssertionError(f"the ocpp-rpc CSMS exited while waiting for {what}:\n{self.stderr()}")
                    await changed.wait()
        except TimeoutError:
            seen = ", ".join(r.action for r in self.received[-20:]) or "nothing"
            raise AssertionError(f"waited {timeout}s for {what}; last calls received: {seen}") from None
