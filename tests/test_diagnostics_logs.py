"""The retained log and what diagnostics cut from it: UTC records, rotation by size, time windows
across rotated files, secrets masked, the archive's contents."""
from __future__ import annotations

import io
import json
import logging
import tarfile
from datetime import datetime, timedelta, timezone
from pathlib import Path

from chargepoint.config.model import LoggingConfig
from chargepoint.diagnostics.archive import LogPart, write_archive
from chargepoint.diagnostics.logfile import file_handler
from chargepoint.diagnostics.logwindow import line_stamp, rotated_files, window_lines
from chargepoint.diagnostics.redact import redact_text, redact_tree
from chargepoint.diagnostics.summary import configuration_keys

T0 = datetime(2026, 3, 1, 12, 0, 0, tzinfo=timezone.utc)


def at(minutes: float) -> datetime:
    return T0 + timedelta(minutes=minutes)


def stamp(minutes: float) -> str:
    return at(minutes).strftime("%Y-%m-%dT%H:%M:%S.000Z")


def write_rotated(base: Path, files: list[list[str]]) -> None:
    """`files` oldest first: base.N ... base.1, base."""
    for index, lines in enumerate(files):
        number = len(files) - 1 - index
        path = base if number == 0 else base.with_name(f"{base.name}.{number}")
        path.write_text("".join(line + "\n" for line in lines))


def test_rotated_files_are_listed_oldest_first(tmp_path: Path) -> None:
    base = tmp_path / "borne.log"
    write_rotated(base, [["a"], ["b"], ["c"], ["d"]])
    (tmp_path / "borne.log.old").write_text("not a rotation\n")
    (tmp_path / "other.log.1").write_text("another log\n")
    assert [p.name for p in rotated_files(base)] == ["borne.log.3", "borne.log.2", "borne.log.1", "borne.log"]
    assert rotated_files(tmp_path / "missing" / "borne.log") == []


def test_window_spans_rotated_files_and_keeps_continuation_lines(tmp_path: Path) -> None:
    base = tmp_path / "borne.log"
    write_rotated(base, [
        ["  orphan continuation, older than anything", f"{stamp(0)} INFO a: first", f"{stamp(10)} INFO a: ten"],
        [f"{stamp(20)} ERROR a: failed", "Traceback (most recent call last):", "  ValueError: x"],
        ["  still the traceback of minute 20", f"{stamp(30)} INFO a: thirty", f"{stamp(40)} INFO a: forty"],
    ])
    files = rotated_files(base)
    lines = list(window_lines(files, at(10), at(30)))
    assert lines == [f"{stamp(10)} INFO a: ten\n", f"{stamp(20)} ERROR a: failed\n",
                     "Traceback (most recent call last):\n", "  ValueError: x\n",
                     "  still the traceback of minute 20\n", f"{stamp(30)} INFO a: thirty\n"]
    assert list(window_lines(files, None, at(0)))[:2] == ["  orphan continuation, older than anything\n",
                                                           f"{stamp(0)} INFO a: first\n"]
    assert list(window_lines(files, at(35), None)) == [f"{stamp(40)} INFO a: forty\n"]
    assert len(list(window_lines(files, None, None))) == 9
    assert list(window_lines(files, at(50), at(60))) == []
    assert list(window_lines(files, at(30), at(10))) == []  # start after stop: nothing


def test_line_stamps_in_utc_whatever_the_offset() -> None:
    assert line_stamp("2026-03-01T12:00:00.123Z INFO x") == T0 + timedelta(milliseconds=123)
    assert line_stamp("2026-03-01T13:00:00+01:00 INFO x") == T0
    assert line_stamp("[2026-03-01 12:00:00,000] x") == T0
    assert line_stamp("2026-03-01T12:00:00 naive, read as UTC") == T0
    assert line_stamp("  File \"x.py\", line 3") is None
    assert line_stamp("2026-13-01T12:00:00Z bad month") is None


def test_file_log_writes_utc_records_rotates_by_size_and_masks_secrets(tmp_path: Path) -> None:
    config = LoggingConfig(level="INFO", file=tmp_path / "logs" / "borne.log", file_size_kb=16, file_count=3)
    handler = file_handler(config)
    assert handler is not None
    try:
        for minute in range(200):
            record = logging.makeLogRecord({"name": "chargepoint.test", "levelno": logging.INFO,
                                            "levelname": "INFO", "msg": "record %d of the day %s",
                                            "args": (minute, "x" * 100), "created": at(minute).timestamp(),
                                            "msecs": 0.0})
            handler.handle(record)
        secret = logging.makeLogRecord({"name": "chargepoint.test", "levelno": logging.WARNING,
                                        "levelname": "WARNING", "msg": "upload to ftp://cp:hunter2@ftp.example/d",
                                        "created": at(200).timestamp(), "msecs": 0.0})
        handler.handle(secret)
    finally:
        handler.close()
    files = rotated_files(config.file)  # type: ignore[arg-type]
    assert [p.name for p in files] == ["borne.log.2", "borne.log.1", "borne.log"]
    assert all(p.stat().st_size <= 16 * 1024 for p in files)
    assert oct(files[-1].stat().st_mode & 0o777) == "0o640"
    text = "".join(p.read_text() for p in files)
    assert "hunter2" not in text and "ftp://cp:***@ftp.example/d" in text
    lines = list(window_lines(files, at(190), at(192)))
    assert [line.split(" ", 1)[0] for line in lines] == [stamp(190), stamp(191), stamp(192)]
    assert "record 191 of the day" in lines[1]


def test_file_log_is_skipped_when_its_directory_cannot_be_made(tmp_path: Path, capsys) -> None:
    blocker = tmp_path / "not-a-dir"
    blocker.write_text("")
    assert file_handler(LoggingConfig(file=blocker / "borne.log")) is None
    assert "logging to stderr only" in capsys.readouterr().err
    assert file_handler(LoggingConfig(file=None)) is None


def test_redaction_of_log_text_and_configuration() -> None:
    text = ('GetDiagnostics to ftp://user:pa55@host/dir; {"key": "AuthorizationKey", "value": "0011aabbcc"}; '
            "AuthorizationKey=deadbeef password: hunter2\n-----BEGIN EC PRIVATE KEY-----\nMHcC\n"
            "-----END EC PRIVATE KEY-----")
    redacted = redact_text(text)
    for secret in ("pa55", "0011aabbcc", "deadbeef", "hunter2", "MHcC"):
        assert secret not in redacted, secret
    assert "ftp://user:***@host/dir" in redacted
    tree = redact_tree({"AuthorizationKey": "0011", "ocpp": {"password_file": "/etc/borne/pw",
                                                           "csms_url": "wss://cp:pw@csms/ocpp"}})
    assert tree == {"AuthorizationKey": "***", "ocpp": {"password_file": "/etc/borne/pw",
                                                        "csms_url": "wss://cp:***@csms/ocpp"}}


def test_archive_holds_the_window_and_the_summary(tmp_path: Path) -> None:
    base = tmp_path / "borne.log"
    write_rotated(base, [
        [f"{stamp(0)} INFO a: before", f"{stamp(5)} INFO a: inside, password=hunter2"],
        [f"{stamp(6)} INFO a: inside too", f"{stamp(9)} INFO a: after"],
    ])
    dest = tmp_path / "CP-diagnostics.tar.gz"
    counts = write_archive(dest, "CP-diagnostics", [LogPart("borne.log", rotated_files(base))], at(5), at(6),
                           at(10), summary={"configuration_keys": [{"key": "HeartbeatInterval", "value": "300"}]})
    assert counts == {"borne.log": 2}
    with tarfile.open(dest, "r:gz") as tar:
        assert tar.getnames() == ["CP-diagnostics/borne.log", "CP-diagnostics/summary.json"]
        log = tar.extractfile("CP-diagnostics/borne.log").read().decode()  # type: ignore[union-attr]
        summary = json.load(tar.extractfile("CP-diagnostics/summary.json"))  # type: ignore[arg-type]
        member = tar.getmember("CP-diagnostics/borne.log")
    assert log == f"{stamp(5)} INFO a: inside, password=***\n{stamp(6)} INFO a: inside too\n"
    assert summary["configuration_keys"][0]["value"] == "300"
    assert member.mtime == int(at(10).timestamp()) and member.mode == 0o640


def test_archive_of_a_log_with_nothing_in_the_window_is_still_one_file(tmp_path: Path) -> None:
    dest = tmp_path / "x.tar.gz"
    assert write_archive(dest, "x", [LogPart("security.log", [])], None, None, at(0)) == {"security.log": 0}
    with tarfile.open(fileobj=io.BytesIO(dest.read_bytes()), mode="r:gz") as tar:
        assert tar.getnames() == ["x/security.log"]
        assert tar.getmember("x/security.log").size == 0


class FakeSettings:
    values = {"HeartbeatInterval": "300", "AuthorizationKey": "00112233445566778899aabbccddeeff", "CpoName": ""}

    def names(self) -> list[str]:
        return list(self.values)

    def spec(self, name: str) -> object:
        return None

    def raw(self, name: str) -> str:
        return self.values[name]


def test_summary_configuration_masks_the_authorization_key() -> None:
    keys = {k["key"]: k["value"] for k in configuration_keys(FakeSettings())}  # type: ignore[arg-type]
    assert keys == {"HeartbeatInterval": "300", "AuthorizationKey": "***", "CpoName": ""}
