"""The [firmware] table: defaults beside the database, paths from the file's directory, and
every mistake reported with its file, line and key."""
from __future__ import annotations

from pathlib import Path

from chargepoint.config import check_config, load_config
from chargepoint.firmware import firmware_settings

BASE = """\
[chargepoint]
id = "CP-FW"
vendor = "Borne"
model = "Test"

[ocpp]
version = "1.6"
csms_url = "ws://127.0.0.1:9/ocpp"

[board]
kind = "sim"

[storage]
path = "state/borne.db"

[[evse]]
id = 1
max_current_a = 16
phases = 3

[[evse.connector]]
id = 1

[sim]
control_socket = "sim.sock"
"""


def _write(tmp_path: Path, extra: str = "") -> Path:
    path = tmp_path / "firmware.toml"
    path.write_text(BASE + extra)
    return path


def test_defaults_live_beside_the_database(tmp_path: Path) -> None:
    config = load_config(_write(tmp_path))
    fw = config.firmware
    assert fw is not None
    state = tmp_path / "state"
    assert (fw.root, fw.work_dir, fw.state_file) == (state / "firmware", state / "firmware-work",
                                                     state / "firmware-update.json")
    assert fw.unsigned_updates and fw.python is None and fw.max_trial_starts == 3
    assert firmware_settings(config) == fw


def test_every_key_read(tmp_path: Path) -> None:
    config = load_config(_write(tmp_path, """
[firmware]
root = "/opt/borne"
work_dir = "work"
state_file = "fw.json"
python = "/usr/bin/python3"
unsigned_updates = false
ca_file = "ca.pem"
download_timeout_s = 30
max_package_mb = 64
default_retries = 5
default_retry_interval_s = 10
install_timeout_s = 600
trial_timeout_s = 120
max_trial_starts = 2
"""))
    fw = config.firmware
    assert fw is not None
    assert fw.root == Path("/opt/borne") and fw.work_dir == tmp_path / "work" and fw.ca_file == tmp_path / "ca.pem"
    assert (fw.unsigned_updates, fw.max_package_mb, fw.default_retries, fw.trial_timeout_s) == (False, 64, 5, 120.0)


def test_mistakes_name_file_line_and_key(tmp_path: Path) -> None:
    path = _write(tmp_path, """
[firmware]
unsigned_updates = "no"
max_trial_starts = 0
trial_timeout_s = 1
rooot = "/opt/borne"
""")
    issues = {i.key: i for i in check_config(path)}
    lines = BASE.count("\n")
    assert issues["firmware.unsigned_updates"].line == lines + 3
    assert "true or false" in issues["firmware.unsigned_updates"].message
    assert issues["firmware.max_trial_starts"].line == lines + 4
    assert issues["firmware.trial_timeout_s"].line == lines + 5
    assert "did you mean root?" in issues["firmware.rooot"].message
    assert str(issues["firmware.max_trial_starts"]).startswith(f"{path}:{lines + 4}: firmware.max_trial_starts:")


def test_releases_and_downloads_must_not_overlap(tmp_path: Path) -> None:
    issues = check_config(_write(tmp_path, '\n[firmware]\nroot = "fw"\nwork_dir = "fw/work"\n'))
    assert [i.key for i in issues] == ["firmware.work_dir"]
    assert "overlap" in issues[0].message
