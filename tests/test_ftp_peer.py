"""The shared test FTP peer itself: login, passive RETR and STOR from ftplib, refusals, and the
thread wrapper for blocking clients."""
from __future__ import annotations

import ftplib
import io
from pathlib import Path

import pytest

from ftp_peer import FtpPeerThread


def test_stor_and_retr_through_ftplib(tmp_path: Path) -> None:
    with FtpPeerThread(tmp_path, users={"cp": "pw"}, anonymous=False) as peer:
        ftp = ftplib.FTP()
        ftp.connect("127.0.0.1", peer.port, timeout=5)
        ftp.login("cp", "pw")
        ftp.storbinary("STOR logs/diag.tar.gz", io.BytesIO(b"upload" * 1000))
        assert (tmp_path / "logs" / "diag.tar.gz").read_bytes() == b"upload" * 1000
        assert peer.stored == ["logs/diag.tar.gz"]
        received = io.BytesIO()
        ftp.retrbinary("RETR logs/diag.tar.gz", received.write)
        assert received.getvalue() == b"upload" * 1000
        assert ftp.size("logs/diag.tar.gz") == 6000
        with pytest.raises(ftplib.error_perm, match="550"):
            ftp.retrbinary("RETR ../outside", received.write)
        ftp.quit()
        assert peer.commands[:2] == ["USER cp", "PASS ***"]


def test_wrong_password_and_injected_transfer_failure(tmp_path: Path) -> None:
    (tmp_path / "f").write_bytes(b"x")
    with FtpPeerThread(tmp_path, fail_transfers=1) as peer:
        ftp = ftplib.FTP()
        ftp.connect("127.0.0.1", peer.port, timeout=5)
        with pytest.raises(ftplib.error_perm, match="530"):
            ftp.login("someone", "wrong")
        ftp.login()  # anonymous
        with pytest.raises(ftplib.error_temp, match="451"):
            ftp.retrbinary("RETR f", lambda _: None)
        data: list[bytes] = []
        ftp.retrbinary("RETR f", data.append)
        assert data == [b"x"]
        ftp.quit()
