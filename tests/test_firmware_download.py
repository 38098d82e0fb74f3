"""Downloads against real servers on loopback: http.server, the same over TLS with a test CA,
and the test FTP peer (passive mode, login, RETR). Failures are reported, never half a file."""
from __future__ import annotations

import ssl
from pathlib import Path

import pytest

from chargepoint.firmware.download import DownloadError, DownloadOptions, download, redacted
from firmware_helpers import FileServer
from firmware_rig import Rig, until
from ftp_peer import FtpPeer
from security_pki import TestCa

pytestmark = pytest.mark.timeout(30)

PAYLOAD = bytes(range(256)) * 4096  # 1 MiB


@pytest.fixture
def served(tmp_path: Path) -> Path:
    root = tmp_path / "served"
    root.mkdir()
    (root / "borne-2.0.tar.gz").write_bytes(PAYLOAD)
    return root


async def test_http(served: Path, tmp_path: Path) -> None:
    dest = tmp_path / "in" / "package.tar.gz"
    with FileServer(served) as server:
        await download(server.url("borne-2.0.tar.gz"), dest, DownloadOptions(timeout_s=5))
        assert dest.read_bytes() == PAYLOAD
        with pytest.raises(DownloadError, match="HTTP status 404"):
            await download(server.url("missing.tar.gz"), tmp_path / "other", DownloadOptions(timeout_s=5))
    assert not (tmp_path / "other").exists()


async def test_https_with_the_configured_ca(served: Path, tmp_path: Path) -> None:
    ca = TestCa("Download CA")
    issued = ca.server("127.0.0.1")
    cert_file, key_file = issued.write(tmp_path, "server")
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(cert_file, key_file)
    dest = tmp_path / "package.tar.gz"
    with FileServer(served, tls=context) as server:
        url = server.url("borne-2.0.tar.gz")
        await download(url, dest, DownloadOptions(timeout_s=5, ca_file=ca.write(tmp_path / "ca.pem")))
        assert dest.read_bytes() == PAYLOAD
        dest.unlink()
        with pytest.raises(DownloadError, match="CERTIFICATE_VERIFY_FAILED|certificate verify failed"):
            await download(url, dest, DownloadOptions(timeout_s=5))  # the system CAs do not know it
    assert not dest.exists()


async def test_ftp_with_user_and_password(served: Path, tmp_path: Path) -> None:
    dest = tmp_path / "package.tar.gz"
    async with FtpPeer(served, users={"cp": "s3cret"}, anonymous=False) as peer:
        url = f"ftp://cp:s3cret@127.0.0.1:{peer.port}/borne-2.0.tar.gz"
        await download(url, dest, DownloadOptions(timeout_s=5))
        assert dest.read_bytes() == PAYLOAD
        assert "PASV" in peer.commands and "RETR borne-2.0.tar.gz" in peer.commands
        assert "PASS ***" in peer.commands
        with pytest.raises(DownloadError, match="530"):
            await download(f"ftp://cp:wrong@127.0.0.1:{peer.port}/borne-2.0.tar.gz", tmp_path / "x",
                           DownloadOptions(timeout_s=5))
        with pytest.raises(DownloadError, match="550"):
            await download(f"ftp://cp:s3cret@127.0.0.1:{peer.port}/nothing.tar.gz", tmp_path / "x",
                           DownloadOptions(timeout_s=5))
    assert not (tmp_path / "x").exists()
    assert redacted(url) == f"ftp://cp:***@127.0.0.1:{peer.port}/borne-2.0.tar.gz"


async def test_anonymous_ftp(served: Path, tmp_path: Path) -> None:
    async with FtpPeer(served) as peer:
        await download(f"ftp://127.0.0.1:{peer.port}/borne-2.0.tar.gz", tmp_path / "p", DownloadOptions(timeout_s=5))
    assert (tmp_path / "p").read_bytes() == PAYLOAD
    assert "USER anonymous" in peer.commands


async def test_too_large_is_abandoned(served: Path, tmp_path: Path) -> None:
    with FileServer(served) as server:
        with pytest.raises(DownloadError, match="larger than"):
            await download(server.url("borne-2.0.tar.gz"), tmp_path / "p", DownloadOptions(max_bytes=1000))
    async with FtpPeer(served) as peer:
        with pytest.raises(DownloadError, match="larger than"):
            await download(f"ftp://127.0.0.1:{peer.port}/borne-2.0.tar.gz", tmp_path / "p",
                           DownloadOptions(max_bytes=1000))
    assert not (tmp_path / "p").exists() and not list(tmp_path.glob(".p.*"))


async def test_unreachable_and_unsupported(tmp_path: Path) -> None:
    with pytest.raises(DownloadError, match="cannot reach"):
        await download("http://127.0.0.1:9/borne.tar.gz", tmp_path / "p", DownloadOptions(timeout_s=2))
    with pytest.raises(DownloadError, match="unsupported"):
        await download("file:///etc/passwd", tmp_path / "p", DownloadOptions())


async def test_updater_retries_a_failed_ftp_transfer(tmp_path: Path) -> None:
    """The state machine with the real downloader: the first RETR fails, the retry succeeds."""
    rig = Rig(tmp_path)
    served = tmp_path / "served"
    served.mkdir()
    (served / "borne-2.0.tar.gz").write_bytes(rig.package.read_bytes())

    async def fetch(url: str, dest: Path) -> None:
        await download(url, dest, DownloadOptions(timeout_s=5))

    rig.updater.fetch = fetch
    async with FtpPeer(served, fail_transfers=1) as peer:
        rig.start()
        rig.updater.start(rig.request(location=f"ftp://127.0.0.1:{peer.port}/borne-2.0.tar.gz", retries=2,
                                      retry_interval_s=10))
        await until(lambda: rig.updater.state.job and rig.updater.state.job.next_attempt_at, "the failed attempt")
        await rig.advance(10)
        await until(lambda: rig.restarts, "the installation")
    assert rig.notices() == ["Downloading", "Downloaded", "Installing"]
    assert [c for c in peer.commands if c.startswith("RETR")] == ["RETR borne-2.0.tar.gz"] * 2
    await rig.stop()
