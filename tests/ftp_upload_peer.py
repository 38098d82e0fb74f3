"""A minimal FTP server for upload tests, on loopback, in asyncio: USER, PASS, TYPE, PASV, STOR,
QUIT, and 502 for anything else. Files land in memory; "directories" are a set of names, so a
test decides which paths exist. Enough for ftplib's login and storbinary in passive mode.

tests/ftp_peer.py (the firmware download peer) creates missing directories on STOR; this one
refuses a STOR into a directory that does not exist (550) or onto a directory (553), and has
read-only users, as real servers do: the upload's directory-or-file choice depends on that."""
from __future__ import annotations

import asyncio
import contextlib
from dataclasses import dataclass, field


@dataclass
class StoredFile:
    user: str
    path: str
    data: bytes


@dataclass
class _Session:
    writer: asyncio.StreamWriter
    user: str | None = None
    logged_in: bool = False
    binary: bool = False
    data_server: asyncio.Server | None = None
    data_conn: asyncio.Future[tuple[asyncio.StreamReader, asyncio.StreamWriter]] | None = None


@dataclass
class FtpUploadPeer:
    """`users` maps user names to passwords ("anonymous" takes any password when listed);
    `directories` are the paths a STOR may put a file into ("" is the login directory);
    `read_only` users log in but may not store."""

    users: dict[str, str] = field(default_factory=lambda: {"borne": "s3cret"})
    directories: set[str] = field(default_factory=lambda: {""})
    read_only: set[str] = field(default_factory=set)
    host: str = "127.0.0.1"
    stored: list[StoredFile] = field(default_factory=list)
    commands: list[str] = field(default_factory=list)
    _server: asyncio.Server | None = None
    _sessions: set[asyncio.Task[None]] = field(default_factory=set)
    _port: int | None = None

    async def start(self) -> int:
        self._server = await asyncio.start_server(self._serve, self.host, self._port or 0)
        self._port = int(self._server.sockets[0].getsockname()[1])
        return self._port

    async def stop(self) -> None:
        if self._server is not None:
            self._server.close()
            await self._server.wait_closed()
            self._server = None
        if self._sessions:
            # Clients hang up after QUIT or a failure; let their sessions end on their own.
            await asyncio.wait(self._sessions, timeout=5)

    async def __aenter__(self) -> FtpUploadPeer:
        await self.start()
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.stop()

    @property
    def port(self) -> int:
        assert self._port is not None, "never started"
        return self._port

    def url(self, path: str = "/", user: str | None = "borne", password: str | None = None) -> str:
        creds = ""
        if user is not None:
            creds = user + (f":{password if password is not None else self.users.get(user, '')}") + "@"
        return f"ftp://{creds}{self.host}:{self.port}{path}"

    # ---- one control connection ----------------------------------------------------------------

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        session = _Session(writer)
        task = asyncio.current_task()
        if task is not None:
            self._sessions.add(task)
            task.add_done_callback(self._sessions.discard)

        async def reply(text: str) -> None:
            await _reply(writer, text)

        try:
            await reply("220 upload peer ready")
            while line := await reader.readline():
                command, _, argument = line.decode(errors="replace").strip().partition(" ")
                verb = command.upper()
                self.commands.append(verb if verb != "PASS" else "PASS ***")
                if verb == "QUIT":
                    await reply("221 bye")
                    break
                await reply(await self._handle(session, verb, argument))
        except (ConnectionError, asyncio.IncompleteReadError):
            pass
        finally:
            if session.data_server is not None:
                session.data_server.close()
            writer.close()
            with contextlib.suppress(ConnectionError):
                await writer.wait_closed()

    async def _handle(self, session: _Session, verb: str, argument: str) -> str:
        if verb == "USER":
            session.user, session.logged_in = argument, False
            return "331 password please"
        if verb == "PASS":
            user = session.user or ""
            expected = self.users.get(user)
            if expected is None or (user != "anonymous" and argument != expected):
                return "530 Login incorrect"
            session.logged_in = True
            return "230 logged in"
        if not session.logged_in:
            return "530 Please login with USER and PASS"
        if verb == "TYPE":
            session.binary = argument.upper().startswith("I")
            return "200 type set"
        if verb == "PASV":
            return await self._passive(session)
        if verb == "STOR":
            return await self._store(session, argument)
        return f"502 {verb} not implemented"

    async def _passive(self, session: _Session) -> str:
        if session.data_server is not None:
            session.data_server.close()
        loop = asyncio.get_running_loop()
        accepted: asyncio.Future[tuple[asyncio.StreamReader, asyncio.StreamWriter]] = loop.create_future()

        async def on_data(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
            if not accepted.done():
                accepted.set_result((reader, writer))

        session.data_server = await asyncio.start_server(on_data, self.host, 0)
        session.data_conn = accepted
        port = int(session.data_server.sockets[0].getsockname()[1])
        address = self.host.replace(".", ",")
        return f"227 Entering Passive Mode ({address},{port // 256},{port % 256})"

    async def _store(self, session: _Session, path: str) -> str:
        if session.data_conn is None:
            return "425 use PASV first"
        reader, writer = await asyncio.wait_for(session.data_conn, 10)
        session.data_conn = None
        directory = path.rpartition("/")[0]
        refusal = None
        if session.user in self.read_only:
            refusal = "550 Permission denied"
        elif path in self.directories:
            refusal = "553 that name is a directory"
        elif directory not in self.directories:
            refusal = "550 No such directory"
        if refusal is not None:
            writer.close()
            return refusal
        await _reply(session.writer, "150 Ok to send data")
        data = await reader.read()
        writer.close()
        self.stored.append(StoredFile(session.user or "", path, data))
        return "226 Transfer complete"


async def _reply(writer: asyncio.StreamWriter, text: str) -> None:
    writer.write(text.encode() + b"\r\n")
    await writer.drain()
