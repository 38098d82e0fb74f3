"""Uploads against real servers on loopback: HTTP (multipart POST, PUT fallback, Basic auth,
refusals, redirects), HTTPS with a throw-away CA, and FTP in passive mode. Each failure carries
the reason a LogStatusNotification reports."""
from __future__ import annotations

import asyncio
import socket
import ssl
from pathlib import Path

import pytest

from chargepoint.diagnostics.upload import FailureKind, UploadError, upload_file, upload_tls
from ftp_peer import FtpPeer
from ftp_upload_peer import FtpUploadPeer
from http_upload_peer import HttpUploadPeer, make_certificate, server_context

NAME = "CP-1-diagnostics-20260101T000000Z.tar.gz"
TIMEOUT_S = 5.0


@pytest.fixture
def archive(tmp_path: Path) -> Path:
    path = tmp_path / NAME
    path.write_bytes(bytes(range(256)) * 1000)  # binary, with CR/LF bytes a text mode would mangle
    return path


def failure_of(location: str, archive: Path, **kwargs: object) -> UploadError:
    with pytest.raises(UploadError) as caught:
        upload_file(location, archive, NAME, timeout_s=TIMEOUT_S, **kwargs)  # type: ignore[arg-type]
    return caught.value


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


# ---- HTTP ----------------------------------------------------------------------------------------


def test_http_post_multipart_to_a_directory_location(archive: Path) -> None:
    with HttpUploadPeer() as peer:
        where = upload_file(peer.url("/diagnostics/"), archive, NAME, timeout_s=TIMEOUT_S)
    [got] = peer.received
    assert (got.method, got.path, got.filename, got.field_name) == ("POST", f"/diagnostics/{NAME}", NAME, "uploadfile")
    assert got.data == archive.read_bytes()
    assert got.headers["Content-Type"].startswith("multipart/form-data; boundary=")
    assert where == peer.url(f"/diagnostics/{NAME}")


def test_http_location_without_trailing_slash_is_used_as_received(archive: Path) -> None:
    with HttpUploadPeer() as peer:
        upload_file(peer.url("/upload.php?station=CP-1"), archive, NAME, timeout_s=TIMEOUT_S)
    assert peer.received[0].path == "/upload.php?station=CP-1"


def test_http_put_when_the_server_refuses_post(archive: Path) -> None:
    with HttpUploadPeer(refuse_post=True) as peer:
        upload_file(peer.url("/logs/"), archive, NAME, timeout_s=TIMEOUT_S)
    assert peer.requests == [("POST", f"/logs/{NAME}"), ("PUT", f"/logs/{NAME}")]
    [got] = peer.received
    assert got.method == "PUT" and got.data == archive.read_bytes()
    assert got.headers["Content-Type"] == "application/octet-stream"


def test_http_credentials_in_the_url_become_basic_auth(archive: Path) -> None:
    with HttpUploadPeer(credentials=("cp 1", "p@ss:word")) as peer:
        upload_file(peer.url("/up/", userinfo="cp%201:p%40ss%3Aword"), archive, NAME, timeout_s=TIMEOUT_S)
        denied = failure_of(peer.url("/up/", userinfo="cp%201:wrong"), archive)
    assert len(peer.received) == 1
    assert denied.kind is FailureKind.PERMISSION_DENIED and not denied.permanent


@pytest.mark.parametrize("answer,kind", [
    (500, FailureKind.UPLOAD_FAILURE),
    (404, FailureKind.UPLOAD_FAILURE),
    (403, FailureKind.PERMISSION_DENIED),
    (400, FailureKind.BAD_MESSAGE),
    (501, FailureKind.NOT_SUPPORTED),
])
def test_http_refusals_carry_their_reason(archive: Path, answer: int, kind: FailureKind) -> None:
    with HttpUploadPeer(answer=answer) as peer:
        error = failure_of(peer.url("/up/"), archive)
    assert error.kind is kind, error.detail
    assert str(answer) in error.detail


def test_http_redirects_are_not_followed(archive: Path) -> None:
    with HttpUploadPeer() as target, HttpUploadPeer(redirect_to="") as peer:
        peer.redirect_to = target.url("/elsewhere/")
        error = failure_of(peer.url("/up/"), archive)
    assert error.kind is FailureKind.UPLOAD_FAILURE and "307" in error.detail
    assert target.requests == []


def test_nobody_listening_is_an_upload_failure(archive: Path) -> None:
    error = failure_of(f"http://127.0.0.1:{free_port()}/up/", archive)
    assert error.kind is FailureKind.UPLOAD_FAILURE and not error.permanent


@pytest.mark.parametrize("location,kind", [
    ("sftp://host/dir/", FailureKind.NOT_SUPPORTED),
    ("C:\\diagnostics", FailureKind.NOT_SUPPORTED),
    ("http:///no-host/", FailureKind.BAD_MESSAGE),
    ("http://host:99999/", FailureKind.BAD_MESSAGE),
])
def test_unusable_locations_fail_for_good(archive: Path, location: str, kind: FailureKind) -> None:
    error = failure_of(location, archive)
    assert error.kind is kind and error.permanent


# ---- HTTPS ---------------------------------------------------------------------------------------


def test_https_upload_to_a_server_the_charge_point_trusts(tmp_path: Path, archive: Path) -> None:
    ca, cert, key = make_certificate(tmp_path)
    trusting = ssl.create_default_context(cafile=str(ca))
    with HttpUploadPeer(tls=server_context(cert, key)) as peer:
        upload_file(peer.url("/secure/"), archive, NAME, timeout_s=TIMEOUT_S, ssl_context=trusting)
        untrusted = failure_of(peer.url("/secure/"), archive)  # the system CAs do not know this one
    [got] = peer.received
    assert got.path == f"/secure/{NAME}" and got.data == archive.read_bytes()
    assert untrusted.kind is FailureKind.UPLOAD_FAILURE and "certificate" in untrusted.detail


def test_https_trusts_the_csms_roots_besides_the_system_cas(tmp_path: Path, archive: Path) -> None:
    ca, cert, key = make_certificate(tmp_path)
    with HttpUploadPeer(tls=server_context(cert, key)) as peer:
        upload_file(peer.url("/secure/"), archive, NAME, timeout_s=TIMEOUT_S, ssl_context=upload_tls(ca.read_text()))
    assert len(peer.received) == 1


# ---- FTP -----------------------------------------------------------------------------------------


async def ftp_upload(location: str, archive: Path) -> str:
    return await asyncio.to_thread(upload_file, location, archive, NAME, timeout_s=TIMEOUT_S)


async def test_ftp_upload_into_a_directory(archive: Path) -> None:
    async with FtpUploadPeer(directories={"", "diag"}) as peer:
        await ftp_upload(peer.url("/diag/"), archive)
        await ftp_upload(peer.url("/diag"), archive)  # OCPP 1.6: the location is a directory
        await ftp_upload(peer.url(""), archive)
    assert [(f.user, f.path) for f in peer.stored] == [("borne", f"diag/{NAME}"), ("borne", f"diag/{NAME}"),
                                                      ("borne", NAME)]
    assert all(f.data == archive.read_bytes() for f in peer.stored)
    assert "TYPE" in peer.commands and "PASV" in peer.commands and peer.commands[-1] == "QUIT"


async def test_ftp_location_naming_the_file(archive: Path) -> None:
    async with FtpUploadPeer(directories={"", "diag"}) as peer:
        where = await ftp_upload(peer.url("/diag/report.tar.gz"), archive)
    assert [f.path for f in peer.stored] == ["diag/report.tar.gz"]
    assert where == f"ftp://127.0.0.1:{peer.port}/diag/report.tar.gz"  # no credentials in what is logged


async def test_ftp_anonymous_when_the_url_has_no_user(archive: Path) -> None:
    async with FtpUploadPeer(users={"anonymous": ""}) as peer:
        await ftp_upload(peer.url("/", user=None), archive)
    assert [(f.user, f.path) for f in peer.stored] == [("anonymous", NAME)]


async def test_ftp_refusals_carry_their_reason(archive: Path) -> None:
    async with FtpUploadPeer(users={"borne": "s3cret", "viewer": "v"}, read_only={"viewer"}) as peer:
        wrong_password = await asyncio.to_thread(failure_of, peer.url("/", password="nope"), archive)
        read_only = await asyncio.to_thread(failure_of, peer.url("/", user="viewer"), archive)
    assert wrong_password.kind is FailureKind.PERMISSION_DENIED and "530" in wrong_password.detail
    assert read_only.kind is FailureKind.PERMISSION_DENIED and "550" in read_only.detail
    assert peer.stored == []


async def test_ftp_server_gone_is_an_upload_failure(archive: Path) -> None:
    error = await asyncio.to_thread(failure_of, f"ftp://borne:x@127.0.0.1:{free_port()}/", archive)
    assert error.kind is FailureKind.UPLOAD_FAILURE and not error.permanent


async def test_ftp_upload_to_the_firmware_peer_and_a_transient_refusal(tmp_path: Path, archive: Path) -> None:
    """The same client against the other test server, which writes to disk and can refuse a
    transfer with 451 (a temporary error: worth a retry)."""
    root = tmp_path / "ftp-root"
    root.mkdir()
    async with FtpPeer(root, users={"cp": "pw"}, anonymous=False, fail_transfers=1) as peer:
        location = f"ftp://cp:pw@127.0.0.1:{peer.port}/uploads/"
        busy = await asyncio.to_thread(failure_of, location, archive)
        await ftp_upload(location, archive)
    assert busy.kind is FailureKind.UPLOAD_FAILURE and "451" in busy.detail and not busy.permanent
    assert peer.stored == [f"uploads/{NAME}"]
    assert (root / "uploads" / NAME).read_bytes() == archive.read_bytes()
