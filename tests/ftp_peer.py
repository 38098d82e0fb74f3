"""A small FTP server for tests: a real protocol peer on loopback for ftplib (and anything else
that speaks FTP), serving and receiving files under a directory.

Commands: USER, PASS, TYPE, PASV, EPSV, RETR, STOR, SIZE, CWD, PWD, SYST, NOOP, QUIT. Only
passive mode (what the OCPP security whitepaper asks charge points to use). Paths are relative
to the root whatever the working directory; nothing outside the root can be read or written.

    async with FtpPeer(tmp_path, users={"cp": "secret"}) as peer:
        url = f"ftp://cp:secret@127.0.0.1:{peer.port}/firmware.tar.gz"

or, from synchronous code, `with FtpPeerThread(tmp_path) as peer: ...`.
`peer.commands` records every command received (passwords masked); `peer.stored` names the
files received by STOR; `fail_transfers` makes that many RETR/STOR fail with 451 first."""
from __future__ import annotations

import asyncio
import contextlib
import threading
from pathlib import Path
from types import TracebackType
from typing import Any


class FtpPeer:
    def __init__(self, root: Path, users: dict[str, str] | None = None, anonymous: bool = True,
                 host: str = "127.0.0.1", fail_transfers: int = 0) -> None:
        self.root = Path(root).resolve()
        self.users = dict(users or {})
        self.anonymous = anonymous
        self.host = host
        self.fail_transfers = fail_transfers
        self.commands: list[str] = []
        self.stored: list[str] = []
        self.port = 0
        self._server: asyncio.Server | None = None

    async def start(self) -> None:
        self._server = await asyncio.start_server(self._session, self.host, 0)
        self.port = self._server.sockets[0].getsockname()[1]

    async def stop(self) -> None:
        if self._server is not None:
            self._server.close()
            await self._server.wait_closed()
            self._server = None

    async def __aenter__(self) -> FtpPeer:
        await self.start()
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.stop()

    # ---- one control connection ----------------------------------------------------------------

    async def _session(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        state: dict[str, Any] = {"user": None, "logged_in": False, "passive": None}
        try:
            await _reply(writer, "220 Borne test FTP peer ready")
            while line := await reader.readline():
                text = line.decode("utf-8", "replace").rstrip("\r\n")
                verb, _, arg = text.partition(" ")
                verb = verb.upper()
                self.commands.append("PASS ***" if verb == "PASS" else text)
                if not await self._command(verb, arg, state, writer):
                    break
        except (ConnectionError, asyncio.IncompleteReadError):
            pass
        finally:
            passive = state.get("passive")
            if passive is not None:
                passive.close()
            writer.close()
            with contextlib.suppress(Exception):
                await writer.wait_closed()

    async def _command(self, verb: str, arg: str, state: dict[str, Any], writer: asyncio.StreamWriter) -> bool:
        if verb == "QUIT":
            await _reply(writer, "221 Goodbye")
            return False
        if verb == "USER":
            state["user"], state["logged_in"] = arg, False
            await _reply(writer, "331 Password required")
            return True
        if verb == "PASS":
            user = state["user"]
            ok = (user in self.users and self.users[user] == arg) or (self.anonymous and user == "anonymous")
            state["logged_in"] = ok
            await _reply(writer, "230 Logged in" if ok else "530 Login incorrect")
            return True
        if not state["logged_in"]:
            await _reply(writer, "530 Please log in with USER and PASS")
            return True
        if verb in ("TYPE", "CWD", "NOOP"):
            await _reply(writer, "200 OK" if verb != "CWD" else "250 OK")
        elif verb == "PWD":
            await _reply(writer, '257 "/"')
        elif verb == "SYST":
            await _reply(writer, "215 UNIX Type: L8")
        elif verb == "SIZE":
            path = self._path(arg)
            await _reply(writer, f"213 {path.stat().st_size}" if path is not None and path.is_file()
                         else "550 No such file")
        elif verb in ("PASV", "EPSV"):
            await self._open_passive(verb, state, writer)
        elif verb in ("RETR", "STOR"):
            await self._transfer(verb, arg, state, writer)
        else:
            await _reply(writer, f"502 {verb} not implemented")
        return True

    async def _open_passive(self, verb: str, state: dict[str, Any], writer: asyncio.StreamWriter) -> None:
        if state["passive"] is not None:
            state["passive"].close()
        passive = _Passive()
        await passive.listen(self.host)
        state["passive"] = passive
        if verb == "EPSV":
            await _reply(writer, f"229 Entering Extended Passive Mode (|||{passive.port}|)")
        else:
            h = self.host.replace(".", ",")
            await _reply(writer, f"227 Entering Passive Mode ({h},{passive.port >> 8},{passive.port & 0xFF})")

    async def _transfer(self, verb: str, arg: str, state: dict[str, Any], writer: asyncio.StreamWriter) -> None:
        passive: _Passive | None = state["passive"]
        state["passive"] = None
        if passive is None:
            await _reply(writer, "425 Use PASV first")
            return
        path = self._path(arg)
        try:
            if path is None or (verb == "RETR" and not path.is_file()):
                await _reply(writer, "550 No such file")
                return
            if self.fail_transfers > 0:
                self.fail_transfers -= 1
                await _reply(writer, "451 Requested action aborted: local error in processing")
                return
            await _reply(writer, "150 Opening BINARY mode data connection")
            data_reader, data_writer = await asyncio.wait_for(passive.accepted, 10)
            if verb == "RETR":
                data_writer.write(path.read_bytes())
                await data_writer.drain()
            else:
                path.parent.mkdir(parents=True, exist_ok=True)
                path.write_bytes(await data_reader.read())
                self.stored.append(path.relative_to(self.root).as_posix())
            data_writer.close()
            with contextlib.suppress(Exception):
                await data_writer.wait_closed()
            await _reply(writer, "226 Transfer complete")
        finally:
            passive.close()

    def _path(self, arg: str) -> Path | None:
        candidate = (self.root / arg.strip().lstrip("/")).resolve()
        return candidate if candidate == self.root or self.root in candidate.parents else None


class _Passive:
    """One passive-mode data connection: listen, take the first client, then stop listening."""

    def __init__(self) -> None:
        self.accepted: asyncio.Future[tuple[asyncio.StreamReader, asyncio.StreamWriter]] = \
            asyncio.get_running_loop().create_future()
        self.server: asyncio.Server | None = None
        self.port = 0

    async def listen(self, host: str) -> None:
        def take(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
            if self.accepted.done():
                writer.close()
            else:
                self.accepted.set_result((reader, writer))

        self.server = await asyncio.start_server(take, host, 0)
        self.port = self.server.sockets[0].getsockname()[1]

    def close(self) -> None:
        if self.server is not None:
            self.server.close()
        if not self.accepted.done():
            self.accepted.cancel()


async def _reply(writer: asyncio.StreamWriter, text: str) -> None:
    writer.write(text.encode() + b"\r\n")
    await writer.drain()


class FtpPeerThread:
    """FtpPeer on an event loop of its own, for synchronous tests and blocking clients."""

    def __init__(self, root: Path, **kwargs: Any) -> None:
        self.peer_args = (root, kwargs)
        self.peer: FtpPeer | None = None
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self._loop.run_forever, daemon=True)

    @property
    def port(self) -> int:
        assert self.peer is not None
        return self.peer.port

    def __enter__(self) -> FtpPeer:
        self._thread.start()
        root, kwargs = self.peer_args

        async def start() -> FtpPeer:
            peer = FtpPeer(root, **kwargs)
            await peer.start()
            return peer

        self.peer = asyncio.run_coroutine_threadsafe(start(), self._loop).result(10)
        return self.peer

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        if self.peer is not None:
            asyncio.run_coroutine_threadsafe(self.peer.stop(), self._loop).result(10)
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(10)
        self._loop.close()
