"""The "mcu" board kind: its configuration, the board it builds, and the safe-state helper
(systemd's ExecStopPost) driving the emulated MCU safe without the rest of the application."""
from __future__ import annotations

from pathlib import Path

import pytest
from mcu_rig import RawPeer, until, write_config

from chargepoint.config import check_config, load_config
from drivers.mcu import protocol as p
from drivers.mcu.devices import McuContactor, McuLinkFault, McuPilot
from drivers.mcu.emulator import McuEmulator
from hal.board import BOARD_KINDS, build_board, safe_state
from hal.clock import ManualClock, SystemClock
from hal.types import FaultKind, PilotMode
from example_configs import example_text

EXAMPLE = Path(__file__).resolve().parents[2] / "docs" / "examples" / "mcu-sdm630-pn532.toml"


def test_the_example_is_valid() -> None:
    assert "mcu" in BOARD_KINDS
    assert check_config(EXAMPLE) == []
    config = load_config(EXAMPLE)
    assert config.mcu is not None and config.mcu.port == "/dev/ttyAMA2" and config.mcu.silence_timeout_ms == 500
    assert config.hardware is not None and config.hardware.evses[1].meter.model == "sdm630"


def _issues(tmp_path: Path, edit: tuple[str, str]) -> list[str]:
    path = tmp_path / "firmware.toml"
    text = example_text(EXAMPLE)
    assert edit[0] in text
    path.write_text(text.replace(*edit, 1))
    return [f"{i.key}: {i.message}" for i in check_config(path)]


@pytest.mark.parametrize("edit, expected", [
    (('port = "/dev/ttyAMA2"', ""), "mcu.port: required key is missing"),
    (("heartbeat_ms = 100", "heartbeat_ms = 200"), "mcu.silence_timeout_ms: a silence timeout of 500 ms"),
    (("silence_timeout_ms = 500", "silence_timeout_ms = 5000"), "mcu.silence_timeout_ms: 5000 is out of range"),
    (("lock = true", "lock = 1"), "mcu.lock: expected true or false"),
    (("[evse.meter]", "[evse.rcm]\nfault_pin = 5\n\n[evse.meter]"), 'evse[0].rcm: the co-processor drives the rcm'),
    (('kind = "mcu"', 'kind = "sim"'), "mcu: [mcu] table on board kind 'sim'"),
])
def test_mcu_tables_are_checked(tmp_path: Path, edit: tuple[str, str], expected: str) -> None:
    issues = _issues(tmp_path, edit)
    assert any(i.startswith(expected) for i in issues), issues


def test_the_mcu_table_is_required_on_the_mcu_board(tmp_path: Path) -> None:
    text = example_text(EXAMPLE)
    start = text.index("[mcu]")
    path = tmp_path / "firmware.toml"
    path.write_text(text[:start] + text[text.index("[storage]"):])
    issues = check_config(path)
    assert [(i.key, i.message) for i in issues] == [("mcu", "required table is missing")]


def test_build_board_wires_the_mcu_devices(tmp_path: Path) -> None:
    with McuEmulator(1, clock=ManualClock(), link=tmp_path / "mcu") as emu:
        config = load_config(write_config(tmp_path, emu.port, 1502))
        board = build_board(config, SystemClock())
        try:
            devices = board.evses[1]
            assert board.kind == "mcu" and board.reader is None
            assert isinstance(devices.contactor, McuContactor) and isinstance(devices.pilot, McuPilot)
            assert devices.proximity is not None and devices.lock is not None and devices.rcm is not None
            link_fault = devices.fault_inputs[FaultKind.MCU_LINK]
            assert isinstance(link_fault, McuLinkFault) and not link_fault.active()  # a session at start-up
        finally:
            link_fault.link.close()


def test_safe_state_drives_the_mcu_safe(tmp_path: Path) -> None:
    with McuEmulator(1, clock=ManualClock(), link=tmp_path / "mcu") as emu:
        peer = RawPeer(emu.port)  # a Borne that then dies with the relay closed
        peer.answer(peer.send(p.HELLO, 1))
        emu.set_ev(1, "C")
        peer.answer(peer.send(p.PILOT, 1, "PWM", "53.33"))
        peer.answer(peer.send(p.POWER, 1, "ON"))
        until(lambda: emu.relay_closed(1), what="the relay closed")
        peer.close()
        config = load_config(write_config(tmp_path, emu.port, 1502))
        assert safe_state(config) == {"1": {"contactor_closed": False, "pilot": "state_f", "confirmed": True}}
        assert not emu.relay_closed(1) and not emu.allowed(1)
        assert emu.pilot(1).mode is PilotMode.STATE_F


def test_safe_state_without_the_mcu_says_so(tmp_path: Path) -> None:
    config = load_config(write_config(tmp_path, str(tmp_path / "no-such-port"), 1502))
    outputs = safe_state(config)
    assert outputs["1"]["contactor_closed"] is False
    assert outputs["1"]["confirmed"].startswith("not confirmed: the MCU opens the relay and drives F by itself")
