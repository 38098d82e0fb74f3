"""The release tree on the box: atomic link switches, their rollback, fresh directory names, the
pruning of what no link names, and the restart command that follows the current release."""
from __future__ import annotations

import os
import sys
from pathlib import Path

from chargepoint.config.model import FirmwareConfig
from chargepoint.firmware.boot import restart_argv
from chargepoint.firmware.releases import Releases, runs_from
from firmware_rig import make_release


def test_switch_moves_current_to_previous_and_restore_undoes_it(tmp_path: Path) -> None:
    releases = Releases(tmp_path)
    one, two = make_release(tmp_path, "1.0", "1.0"), make_release(tmp_path, "2.0", "2.0")
    releases.switch(one)
    assert releases.links().current == one.resolve() and releases.links().previous is None
    releases.switch(two)
    assert releases.links().current == two.resolve() and releases.links().previous == one.resolve()
    assert os.readlink(tmp_path / "current") == "releases/2.0"  # relative: the tree may move
    releases.switch(two)  # again, as after a power cut in the middle: nothing changes
    assert releases.links().previous == one.resolve()
    releases.restore(one, None)
    assert releases.links().current == one.resolve() and releases.links().previous is None
    assert not list(tmp_path.glob(".*tmp"))


def test_new_directory_never_names_a_linked_or_finished_release(tmp_path: Path) -> None:
    releases = Releases(tmp_path)
    one = make_release(tmp_path, "2.0", "2.0")
    releases.switch(one)
    assert releases.new_dir("2.0") == tmp_path / "releases" / "2.0~2"
    assert releases.new_dir("2.0 beta/../x") == tmp_path / "releases" / "2.0_beta_.._x"
    unfinished = tmp_path / "releases" / "3.0"
    unfinished.mkdir()
    assert releases.new_dir("3.0") == unfinished  # an unfinished install is built again


def test_prune_keeps_only_what_the_links_name(tmp_path: Path) -> None:
    releases = Releases(tmp_path)
    one, two, three = (make_release(tmp_path, v, v) for v in ("1.0", "2.0", "3.0"))
    releases.switch(two)
    releases.switch(three)
    removed = releases.prune()
    assert removed == [one] and two.exists() and three.exists()


def test_restart_uses_the_current_release_then_this_interpreter(tmp_path: Path) -> None:
    settings = FirmwareConfig(root=tmp_path / "root", work_dir=tmp_path / "work", state_file=tmp_path / "s.json")
    assert restart_argv(settings, ["run", "--config", "x"]) == [sys.executable, "-m", "chargepoint", "run",
                                                               "--config", "x"]
    release = make_release(settings.root, "2.0", "2.0")
    Releases(settings.root).switch(release)
    argv = restart_argv(settings, ["run"])
    assert argv[0] == str(release.resolve() / "venv" / "bin" / "python")
    assert runs_from(release, (release / "venv").resolve()) and not runs_from(release, tmp_path)


def test_the_unit_runs_the_current_release_and_counts_starts_from_the_previous() -> None:
    unit = (Path(__file__).resolve().parents[1] / "systemd" / "chargepoint.service").read_text()
    lines = [line.strip() for line in unit.splitlines()]
    assert "ExecStartPre=-/opt/borne/previous/venv/bin/chargepoint firmware boot-check " \
           "--config /etc/borne/firmware.toml" in lines
    assert "ExecStart=/opt/borne/current/venv/bin/chargepoint run --config /etc/borne/firmware.toml" in lines
    assert "ReadWritePaths=/opt/borne" in lines
