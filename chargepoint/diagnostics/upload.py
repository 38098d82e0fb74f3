"""Sends one file to the location a CSMS gave, over FTP, HTTP or HTTPS, with the standard library
only. Blocking: run it in a worker thread.

Where the file goes (OCPP 1.6 calls the location a directory; OCPP 2.0.1 N01 says more, and is
followed here for every request):
- a location ending in "/" gets the file name appended; otherwise it is used as received;
- HTTP(S): a multipart/form-data POST (part "uploadfile" with the file name, N01.FR.19); a server
  that refuses POST (405, 501) gets a PUT of the bare file instead (N01.FR.18 asks CSMSs to take
  both); credentials in the URL become Basic authentication; redirects are not followed; HTTPS
  trusts the system's CAs and the CSMS's root certificates (OCPP 2.0.1 N01.FR.15/16);
- FTP: passive mode, binary; without a trailing "/" the location is first taken as the directory
  (1.6), then, when the server refuses that path, as the file's own name.

Failures carry the reason the security whitepaper's LogStatusNotification can report."""
from __future__ import annotations

import base64
import ftplib
import http.client
import secrets
import socket
import ssl
import urllib.error
import urllib.request
from collections.abc import Iterator
from enum import Enum
from pathlib import Path
from typing import Any
from urllib.parse import SplitResult, unquote, urlsplit, urlunsplit

from chargepoint import __version__

SCHEMES = ("ftp", "http", "https")
CHUNK = 64 * 1024
REFUSED_METHOD = (405, 501)


class FailureKind(Enum):
    UPLOAD_FAILURE = "UploadFailure"
    BAD_MESSAGE = "BadMessage"
    PERMISSION_DENIED = "PermissionDenied"
    NOT_SUPPORTED = "NotSupportedOperation"


class UploadError(Exception):
    """The upload failed; `permanent` when trying again cannot help (the location is unusable)."""

    def __init__(self, kind: FailureKind, detail: str, permanent: bool = False) -> None:
        super().__init__(detail)
        self.kind = kind
        self.detail = detail
        self.permanent = permanent


def upload_tls(extra_roots_pem: str = "") -> ssl.SSLContext:
    """Server verification for HTTPS uploads: the system's CAs, plus the given roots (the CSMS's
    trust chain, since a CSMS may keep its upload server under its own CA)."""
    context = ssl.create_default_context()
    if extra_roots_pem.strip():
        context.load_verify_locations(cadata=extra_roots_pem)
    return context


def upload_file(location: str, path: Path, filename: str, *, timeout_s: float = 60.0,
                ssl_context: ssl.SSLContext | None = None) -> str:
    """Upload `path` as `filename` to `location`; returns where it went (without credentials)."""
    parts = _checked(location)
    if parts.scheme.lower() == "ftp":
        return _ftp(parts, path, filename, timeout_s)
    return _http(parts, path, filename, timeout_s, ssl_context)


def _checked(location: str) -> SplitResult:
    parts = urlsplit(location.strip())
    scheme = parts.scheme.lower()
    if scheme not in SCHEMES:
        raise UploadError(FailureKind.NOT_SUPPORTED, f"{scheme or 'no'} scheme: only ftp, http and https are supported",
                          permanent=True)
    try:
        parts.port
    except ValueError:
        raise UploadError(FailureKind.BAD_MESSAGE, "the location has an invalid port", permanent=True) from None
    if not parts.hostname:
        raise UploadError(FailureKind.BAD_MESSAGE, "the location has no host", permanent=True)
    return parts


def _netloc(parts: SplitResult) -> str:
    host = parts.hostname or ""
    if ":" in host:
        host = f"[{host}]"
    return f"{host}:{parts.port}" if parts.port is not None else host


# ---- HTTP(S) -----------------------------------------------------------------------------------


class _NoRedirect(urllib.request.HTTPRedirectHandler):
    """A redirect could turn the upload into a GET or send it elsewhere: treat it as a failure."""

    def redirect_request(self, *args: Any, **kwargs: Any) -> None:
        return None


def _http(parts: SplitResult, path: Path, filename: str, timeout_s: float,
          ssl_context: ssl.SSLContext | None) -> str:
    base = urlunsplit((parts.scheme.lower(), _netloc(parts), parts.path or "/", parts.query, ""))
    url = base + filename if base.endswith("/") else base
    headers = {"User-Agent": f"Borne/{__version__}"}
    if parts.username is not None:
        token = f"{unquote(parts.username)}:{unquote(parts.password or '')}".encode()
        headers["Authorization"] = "Basic " + base64.b64encode(token).decode("ascii")
    context = ssl_context if ssl_context is not None else upload_tls()
    opener = urllib.request.build_opener(_NoRedirect(), urllib.request.HTTPSHandler(context=context))
    size = path.stat().st_size
    status = _send(opener, _multipart(url, path, filename, size, headers), timeout_s)
    if status in REFUSED_METHOD:
        put_headers = {**headers, "Content-Type": "application/octet-stream", "Content-Length": str(size)}
        status = _send(opener, urllib.request.Request(url, data=_chunks(path), headers=put_headers, method="PUT"),
                       timeout_s)
    if 200 <= status < 300:
        return url
    raise _http_failure(status)


def _multipart(url: str, path: Path, filename: str, size: int, headers: dict[str, str]) -> urllib.request.Request:
    boundary = "borne-" + secrets.token_hex(12)
    quoted = filename.replace("\\", "\\\\").replace('"', '\\"')
    head = (f"--{boundary}\r\nContent-Disposition: form-data; name=\"uploadfile\"; filename=\"{quoted}\"\r\n"
            "Content-Type: application/octet-stream\r\n\r\n").encode("utf-8")
    tail = f"\r\n--{boundary}--\r\n".encode("ascii")
    body_headers = {**headers, "Content-Type": f"multipart/form-data; boundary={boundary}",
                    "Content-Length": str(len(head) + size + len(tail))}
    return urllib.request.Request(url, data=_chunks(path, head, tail), headers=body_headers, method="POST")


def _chunks(path: Path, head: bytes = b"", tail: bytes = b"") -> Iterator[bytes]:
    if head:
        yield head
    with open(path, "rb") as source:
        while chunk := source.read(CHUNK):
            yield chunk
    if tail:
        yield tail


def _send(opener: urllib.request.OpenerDirector, request: urllib.request.Request, timeout_s: float) -> int:
    """The HTTP status of the answer; transport problems raise UploadError."""
    try:
        with opener.open(request, timeout=timeout_s) as answer:
            answer.read()
            return int(answer.status)
    except urllib.error.HTTPError as exc:
        exc.close()
        return int(exc.code)
    except urllib.error.URLError as exc:
        raise UploadError(FailureKind.UPLOAD_FAILURE, f"cannot reach the server: {_reason(exc.reason)}") from None
    except http.client.RemoteDisconnected:
        raise UploadError(FailureKind.UPLOAD_FAILURE, "the server closed the connection without answering") from None
    except http.client.HTTPException as exc:
        raise UploadError(FailureKind.BAD_MESSAGE, f"malformed HTTP answer: {type(exc).__name__}") from None
    except (socket.timeout, TimeoutError):
        raise UploadError(FailureKind.UPLOAD_FAILURE, "no answer in time") from None
    except OSError as exc:
        raise UploadError(FailureKind.UPLOAD_FAILURE, f"connection failed: {_reason(exc)}") from None


def _reason(reason: object) -> str:
    if isinstance(reason, ssl.SSLCertVerificationError):
        return f"certificate not trusted ({reason.verify_message})"
    if isinstance(reason, BaseException):
        return f"{type(reason).__name__}: {reason}"
    return str(reason)


def _http_failure(status: int) -> UploadError:
    if status in (401, 403):
        return UploadError(FailureKind.PERMISSION_DENIED, f"HTTP {status}: the server refused the credentials")
    if status in REFUSED_METHOD:
        return UploadError(FailureKind.NOT_SUPPORTED, f"HTTP {status}: the server takes neither POST nor PUT")
    if status == 400:
        return UploadError(FailureKind.BAD_MESSAGE, "HTTP 400: the server could not read the upload")
    if 300 <= status < 400:
        return UploadError(FailureKind.UPLOAD_FAILURE, f"HTTP {status}: redirects are not followed")
    return UploadError(FailureKind.UPLOAD_FAILURE, f"HTTP {status}")


# ---- FTP ---------------------------------------------------------------------------------------


def _ftp(parts: SplitResult, path: Path, filename: str, timeout_s: float) -> str:
    user = unquote(parts.username) if parts.username else "anonymous"
    password = unquote(parts.password) if parts.password is not None else ("anonymous@" if user == "anonymous" else "")
    remote = unquote(parts.path).lstrip("/")  # RFC 1738: relative to the login directory
    if not remote or remote.endswith("/"):
        names = [remote + filename]
    else:
        names = [f"{remote}/{filename}", remote]
    ftp = ftplib.FTP(timeout=timeout_s)
    try:
        ftp.connect(parts.hostname or "", parts.port or 21)
        ftp.login(user, password)
        for index, name in enumerate(names):
            try:
                with open(path, "rb") as source:
                    ftp.storbinary(f"STOR {name}", source, blocksize=CHUNK)
            except ftplib.error_perm as exc:
                if index + 1 < len(names) and _ftp_code(exc) in ("550", "553"):
                    continue
                raise
            _quit(ftp)
            return f"ftp://{_netloc(parts)}/{name}"
        raise UploadError(FailureKind.UPLOAD_FAILURE, "no file name was accepted")  # not reached
    except ftplib.error_perm as exc:
        raise _ftp_failure(exc) from None
    except ftplib.error_temp as exc:
        raise UploadError(FailureKind.UPLOAD_FAILURE, f"FTP {_ftp_text(exc)}") from None
    except (ftplib.error_proto, ftplib.error_reply) as exc:
        raise UploadError(FailureKind.BAD_MESSAGE, f"unexpected FTP reply: {_ftp_text(exc)}") from None
    except (socket.timeout, TimeoutError):
        raise UploadError(FailureKind.UPLOAD_FAILURE, "the FTP server did not answer in time") from None
    except (OSError, EOFError) as exc:
        raise UploadError(FailureKind.UPLOAD_FAILURE, f"FTP connection failed: {_reason(exc)}") from None
    finally:
        ftp.close()


def _quit(ftp: ftplib.FTP) -> None:
    try:
        ftp.quit()
    except (ftplib.Error, OSError, EOFError):
        pass  # the file is stored; a sloppy goodbye changes nothing


def _ftp_code(exc: ftplib.Error) -> str:
    return str(exc)[:3]


def _ftp_text(exc: ftplib.Error) -> str:
    return str(exc).splitlines()[0][:120] if str(exc) else type(exc).__name__


def _ftp_failure(exc: ftplib.error_perm) -> UploadError:
    code = _ftp_code(exc)
    if code in ("530", "532", "550"):
        return UploadError(FailureKind.PERMISSION_DENIED, f"FTP {_ftp_text(exc)}")
    if code in ("500", "501", "502", "504"):
        return UploadError(FailureKind.NOT_SUPPORTED, f"FTP {_ftp_text(exc)}")
    return UploadError(FailureKind.UPLOAD_FAILURE, f"FTP {_ftp_text(exc)}")
