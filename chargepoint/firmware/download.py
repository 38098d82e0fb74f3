"""Fetch a firmware package over http, https or ftp (passive mode, as the whitepaper asks) with
the standard library only. The transfer runs in a worker thread so the event loop never waits
on the network; a cancelled download stops at its next block and leaves nothing behind."""
from __future__ import annotations

import asyncio
import base64
import ftplib
import os
import ssl
import threading
import urllib.error
import urllib.request
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO
from urllib.parse import SplitResult, unquote, urlsplit, urlunsplit

SCHEMES = ("http", "https", "ftp")
BLOCK = 64 * 1024


class DownloadError(Exception):
    """One attempt failed; the message is safe to log (it never holds a password)."""


@dataclass(frozen=True)
class DownloadOptions:
    timeout_s: float = 60.0  # without any data
    max_bytes: int = 512 * 1024 * 1024
    ca_file: Path | None = None  # https: trusted CAs; None: the system's


def supported(url: str) -> bool:
    parts = urlsplit(url)
    return parts.scheme.lower() in SCHEMES and bool(parts.hostname)


def redacted(url: str) -> str:
    """The URL without its password, for logs."""
    parts = urlsplit(url)
    if parts.password is None:
        return url
    netloc = f"{parts.username}:***@{parts.hostname}" + (f":{parts.port}" if parts.port else "")
    return urlunsplit((parts.scheme, netloc, parts.path, parts.query, parts.fragment))


async def download(url: str, dest: Path, options: DownloadOptions) -> None:
    """Fetch `url` into `dest` (replaced only once the whole file has arrived)."""
    cancel = threading.Event()
    try:
        await asyncio.to_thread(_fetch, url, dest, options, cancel)
    except asyncio.CancelledError:
        cancel.set()
        raise


def _fetch(url: str, dest: Path, options: DownloadOptions, cancel: threading.Event) -> None:
    parts = urlsplit(url)
    scheme = parts.scheme.lower()
    if scheme not in SCHEMES or not parts.hostname:
        raise DownloadError(f"unsupported location {redacted(url)!r} (http, https and ftp are)")
    dest.parent.mkdir(parents=True, exist_ok=True)
    tmp = dest.with_name(f".{dest.name}.{os.getpid()}.{threading.get_ident()}.part")
    try:
        with open(tmp, "wb") as out:
            sink = _Sink(out, options.max_bytes, cancel)
            if scheme == "ftp":
                _ftp(parts, sink, options)
            else:
                _http(url, sink, options)
            out.flush()
            os.fsync(out.fileno())
        if cancel.is_set():
            raise DownloadError("cancelled")
        os.replace(tmp, dest)
    finally:
        try:
            os.unlink(tmp)
        except FileNotFoundError:
            pass


class _Sink:
    def __init__(self, out: BinaryIO, limit: int, cancel: threading.Event) -> None:
        self.out, self.limit, self.cancel, self.size = out, limit, cancel, 0

    def write(self, block: bytes) -> None:
        if self.cancel.is_set():
            raise DownloadError("cancelled")
        self.size += len(block)
        if self.size > self.limit:
            raise DownloadError(f"larger than the {_size(self.limit)} allowed ([firmware] max_package_mb)")
        self.out.write(block)


def _size(limit: int) -> str:
    return f"{limit // (1024 * 1024)} MB" if limit >= 1024 * 1024 else f"{limit} bytes"


def _http(url: str, sink: _Sink, options: DownloadOptions) -> None:
    parts = urlsplit(url)
    headers = {"User-Agent": "Borne firmware updater"}
    if parts.username is not None:
        credentials = f"{unquote(parts.username)}:{unquote(parts.password or '')}"
        headers["Authorization"] = "Basic " + base64.b64encode(credentials.encode()).decode()
        host = parts.hostname or ""
        netloc = f"[{host}]" if ":" in host else host
        netloc += f":{parts.port}" if parts.port else ""
        url = urlunsplit((parts.scheme, netloc, parts.path, parts.query, ""))
    context = ssl.create_default_context(cafile=str(options.ca_file) if options.ca_file else None) \
        if parts.scheme.lower() == "https" else None
    request = urllib.request.Request(url, headers=headers)
    try:
        with urllib.request.urlopen(request, timeout=options.timeout_s, context=context) as response:
            if response.status != 200:
                raise DownloadError(f"HTTP status {response.status}")
            length = response.headers.get("Content-Length")
            if length is not None and length.isdigit() and int(length) > sink.limit:
                raise DownloadError(f"the server announces {int(length)} bytes, larger than the "
                                    f"{_size(sink.limit)} allowed ([firmware] max_package_mb)")
            while block := response.read(BLOCK):
                sink.write(block)
            if length is not None and length.isdigit() and sink.size != int(length):
                raise DownloadError(f"the transfer ended after {sink.size} of {length} bytes")
    except urllib.error.HTTPError as exc:
        raise DownloadError(f"HTTP status {exc.code}") from None
    except urllib.error.URLError as exc:
        raise DownloadError(f"cannot reach the server: {exc.reason}") from None
    except (OSError, ValueError) as exc:
        raise DownloadError(f"transfer failed: {type(exc).__name__}: {exc}") from None


def _ftp(parts: SplitResult, sink: _Sink, options: DownloadOptions) -> None:
    user = unquote(parts.username) if parts.username else "anonymous"
    password = unquote(parts.password) if parts.password else "anonymous@"
    path = unquote(parts.path).lstrip("/")
    if not path:
        raise DownloadError("the ftp location names no file")
    ftp = ftplib.FTP(timeout=options.timeout_s)
    try:
        ftp.connect(parts.hostname or "", parts.port or 21)
        ftp.login(user, password)
        ftp.set_pasv(True)
        ftp.retrbinary(f"RETR {path}", sink.write, blocksize=BLOCK)
    except ftplib.all_errors as exc:
        raise DownloadError(f"ftp: {type(exc).__name__}: {str(exc).strip()}") from None
    finally:
        try:
            ftp.quit()
        except ftplib.all_errors:
            ftp.close()
