"""The [logging] keys of the retained log: defaults beside the database, paths from the
configuration file's directory, every mistake reported with its file, line, key and fix."""
from __future__ import annotations

from pathlib import Path

from chargepoint.config import load_config
from test_config import BASE_LINES, config_text, issues_for, only, write

LOGGING_LINE = len(BASE_LINES) + 1  # the [logging] header appended after the base file


def test_retained_log_defaults_to_the_state_directory(tmp_path: Path) -> None:
    config = load_config(write(tmp_path, config_text()))
    assert config.logging.file == tmp_path / "run" / "logs" / "borne.log"  # [storage] path = "run/borne.db"
    assert (config.logging.file_size_kb, config.logging.file_count) == (1024, 5)


def test_retained_log_keys_are_read(tmp_path: Path) -> None:
    config = load_config(write(tmp_path, config_text(append=[
        "[logging]", 'level = "warning"', 'file = "var/log/cp.log"', "file_size_kb = 256", "file_count = 10"])))
    assert config.logging.level == "WARNING"
    assert config.logging.file == tmp_path / "var" / "log" / "cp.log"
    assert (config.logging.file_size_kb, config.logging.file_count) == (256, 10)


def test_retained_log_mistakes_point_at_their_lines(tmp_path: Path) -> None:
    issues = issues_for(tmp_path, append=["[logging]", "file = 3", "file_size_kb = 8", "file_count = 1",
                                          "file_size_kb_max = 2"])
    bad_file = only(issues, "logging.file")
    assert (bad_file.line, bad_file.message) == (LOGGING_LINE + 1, "expected a string (a path), got an integer (3)")
    assert "logs/borne.log beside the database" in bad_file.fix
    size = only(issues, "logging.file_size_kb")
    assert (size.line, size.message) == (LOGGING_LINE + 2, "8 is out of range")
    assert size.fix == "an integer from 16 to 102400 (kilobytes per file before it is rotated)"
    count = only(issues, "logging.file_count")
    assert (count.line, count.message) == (LOGGING_LINE + 3, "1 is out of range")
    assert "2 to 50" in count.fix
    unknown = only(issues, "logging.file_size_kb_max")
    assert unknown.line == LOGGING_LINE + 4 and unknown.message.startswith("unknown key; did you mean file_size_kb?")
    assert str(size).startswith(f"{tmp_path / 'firmware.toml'}:{LOGGING_LINE + 2}: logging.file_size_kb: ")


def test_file_size_must_be_an_integer(tmp_path: Path) -> None:
    issue = only(issues_for(tmp_path, append=["[logging]", "file_size_kb = 1.5"]), "logging.file_size_kb")
    assert issue.message == "expected an integer, got a float (1.5)"
