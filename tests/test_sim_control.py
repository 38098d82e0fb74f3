"""The simulator's control socket over a real Unix socket, and the `chargepoint sim` client."""
from __future__ import annotations

import argparse
import asyncio
import json
import os
import socket
import stat
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest

from chargepoint.config.model import (
    BoardConfig,
    ChargePointConfig,
    Config,
    ConnectorConfig,
    EvseConfig,
    OcppConfig,
    SimConfig,
    StorageConfig,
)
from drivers.sim.board import SimBoard, build_sim_board, sim_board_of
from drivers.sim.client import add_sim_arguments, run_sim_command, sim_request
from drivers.sim.control import SimControlError, SimControlServer
from hal.jsonl_socket import MAX_LINE_BYTES
from hal.clock import ManualClock
from hal.types import CpState, IdToken


def make_config(socket_path: Path) -> Config:
    return Config(
        source=Path("/etc/borne/firmware.toml"),
        chargepoint=ChargePointConfig(id="CP1", vendor="Borne", model="Sim"),
        ocpp=OcppConfig(version="1.6", csms_url="ws://127.0.0.1:9000"),
        board=BoardConfig(kind="sim"),
        storage=StorageConfig(path=Path("/tmp/borne-sim-store")),
        evses=(
            EvseConfig(id=1, max_current_a=32, phases=3, connectors=(ConnectorConfig(id=1, type="Type2Socket"),)),
            EvseConfig(id=2, max_current_a=16, phases=1, connectors=(ConnectorConfig(id=1, type="Type2Cable"),)),
        ),
        sim=SimConfig(control_socket=socket_path),
    )


class Provider:
    """A stand-in for the controller's status view."""

    def __init__(self) -> None:
        self.fail = False

    def __call__(self) -> dict[str, Any]:
        if self.fail:
            raise RuntimeError("controller busy")
        return {
            "evses": {
                1: {
                    "offered_current_a": 16.0,
                    "transaction_id": 12,
                    "connector_status": "Charging",
                    "cp_state": "X",
                    "session_energy_wh": 5.0,
                }
            },
            "ocpp": {"state": "connected", "csms": "ws://127.0.0.1:9000"},
        }


@pytest.fixture
def sock(tmp_path: Path) -> Path:
    return tmp_path / "run" / "ctl.sock"


@pytest.fixture
def clock() -> ManualClock:
    return ManualClock()


@pytest.fixture
def provider() -> Provider:
    return Provider()


@pytest.fixture
async def sim(sock: Path, clock: ManualClock, provider: Provider) -> AsyncIterator[SimBoard]:
    board = build_sim_board(make_config(sock), clock)
    task = asyncio.create_task(board.services[0](provider))
    for _ in range(200):
        if sock.exists():
            break
        await asyncio.sleep(0.01)
    yield sim_board_of(board)
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    assert not sock.exists()


async def ask(sock: Path, request: dict[str, Any]) -> dict[str, Any]:
    return await sim_request(sock, request)


class Connection:
    """One raw client connection, for several requests and hand-made lines."""

    def __init__(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.reader, self.writer = reader, writer

    async def send_raw(self, data: bytes) -> dict[str, Any]:
        self.writer.write(data)
        await self.writer.drain()
        line = await asyncio.wait_for(self.reader.readline(), 5)
        return json.loads(line)

    async def send(self, request: Any) -> dict[str, Any]:
        return await self.send_raw(json.dumps(request).encode() + b"\n")


@pytest.fixture
async def conn(sim: SimBoard, sock: Path) -> AsyncIterator[Connection]:
    reader, writer = await asyncio.open_unix_connection(str(sock), limit=1 << 20)
    yield Connection(reader, writer)
    writer.close()


# --- socket set-up --------------------------------------------------------------------------


async def test_socket_mode_and_parent(sim: SimBoard, sock: Path) -> None:
    assert stat.S_ISSOCK(os.stat(sock).st_mode)
    assert stat.S_IMODE(os.stat(sock).st_mode) == 0o660


async def test_stale_socket_replaced(tmp_path: Path, clock: ManualClock) -> None:
    path = tmp_path / "ctl.sock"
    stale = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    stale.bind(str(path))
    stale.close()
    sim = SimBoard(make_config(path), clock)
    async with SimControlServer(sim, path):
        assert (await ask(path, {"cmd": "status"}))["ok"]
    assert not path.exists()


async def test_refuses_non_socket_and_live_socket(tmp_path: Path, clock: ManualClock) -> None:
    path = tmp_path / "ctl.sock"
    sim = SimBoard(make_config(path), clock)
    path.write_text("not a socket")
    with pytest.raises(SimControlError, match="not a socket"):
        await SimControlServer(sim, path).start()
    path.unlink()
    async with SimControlServer(sim, path):
        with pytest.raises(SimControlError, match="already serving"):
            await SimControlServer(sim, path).start()


# --- commands -------------------------------------------------------------------------------


async def test_every_command(sim: SimBoard, sock: Path) -> None:
    answer = await ask(sock, {"cmd": "plug", "evse": 1, "max_current_a": 16, "phases": 1, "cable_a": 20})
    assert answer["ok"] and answer["evse"] == 1
    assert answer["evse_status"]["cp_state"] == "B"
    assert answer["evse_status"]["ev"] == {"max_current_a": 16.0, "phases": 1, "cable_a": 20, "paused": False}
    assert sim.evses[1].proximity is not None and sim.evses[1].proximity.read().ampacity_a == 20

    assert (await ask(sock, {"cmd": "ev-state", "evse": 1, "state": "C"}))["evse_status"]["ev_state"] == "C"
    sim.evses[1].pilot.set_pwm(50.0)
    assert sim.evses[1].pilot.read().state is CpState.C

    answer = await ask(sock, {"cmd": "tap", "tag": "ABC", "evse": None})
    assert answer == {"ok": True, "tag": "ABC", "evse": None}
    assert await sim.reader.read() == IdToken("ABC", "rfid", None)
    assert (await ask(sock, {"cmd": "tap", "tag": "DEF", "evse": 2}))["evse"] == 2
    assert (await sim.reader.read()).evse_id == 2

    for kind in ("rcm", "diode", "weld", "meter-loss", "pp", "state-e"):
        answer = await ask(sock, {"cmd": "fault", "evse": 1, "kind": kind})
        assert answer["ok"] and kind in answer["evse_status"]["faults"]
    assert sim.evses[1].pilot.read().state is CpState.E
    for kind in ("rcm", "diode", "weld", "meter-loss", "pp", "state-e"):
        answer = await ask(sock, {"cmd": "clear", "evse": 1, "kind": kind})
        assert answer["ok"] and kind not in answer["evse_status"]["faults"]
    assert sim.evses[1].rcm.tripped()

    answer = await ask(sock, {"cmd": "unplug", "evse": 1})
    assert answer["ok"] and answer["evse_status"]["cp_state"] == "A"
    assert not sim.evses[1].ev.plugged


async def test_status_merges_provider(sim: SimBoard, sock: Path, clock: ManualClock) -> None:
    await ask(sock, {"cmd": "plug", "evse": 1})
    await ask(sock, {"cmd": "ev-state", "evse": 1, "state": "C"})
    sim.evses[1].pilot.set_pwm(26.67)
    sim.evses[1].contactor.set_closed(True)
    sim.evses[1].lock.set_locked(True)  # type: ignore[union-attr]
    clock.advance(1800)
    answer = await ask(sock, {"cmd": "status"})
    assert answer["ok"]
    status = answer["status"]
    assert status["ocpp"] == {"state": "connected", "csms": "ws://127.0.0.1:9000"}
    one, two = status["evses"]
    assert one["id"] == 1 and two["id"] == 2
    assert one["cp_state"] == "C", "the board, not the provider, knows the pilot"
    assert one["pwm_duty_percent"] == 26.67
    assert one["contactor_closed"] and one["contactor_feedback_closed"] and one["locked"]
    assert one["energy_wh"] == pytest.approx(5520.0, abs=0.01)
    assert one["power_w"] == pytest.approx(11040.0)
    assert one["offered_current_a"] == 16.0
    assert one["transaction_id"] == 12 and one["connector_status"] == "Charging"
    assert one["session_energy_wh"] == 5.0
    assert one["plugged"] and one["ev_state"] == "C" and one["faults"] == []
    assert two["cp_state"] == "A" and two["transaction_id"] is None and not two["plugged"]


async def test_status_survives_a_failing_provider(sim: SimBoard, sock: Path, provider: Provider) -> None:
    provider.fail = True
    answer = await ask(sock, {"cmd": "status"})
    assert answer["ok"]
    assert "controller busy" in answer["status"]["error"]
    assert [e["id"] for e in answer["status"]["evses"]] == [1, 2]


@pytest.mark.parametrize(
    ("raw", "match"),
    [
        (b"{not json\n", "malformed JSON"),
        (b"[1, 2]\n", "JSON object"),
        (b'{"evse": 1}\n', "'cmd' must be a string"),
        (b'{"cmd": "dance"}\n', "unknown command 'dance'"),
        (b'{"cmd": "plug", "evse": 7}\n', "unknown EVSE 7; configured EVSE ids: 1, 2"),
        (b'{"cmd": "plug", "evse": "1"}\n', "'evse' must be an integer"),
        (b'{"cmd": "plug", "evse": 1, "max_current_a": "lots"}\n', "'max_current_a' must be a number"),
        (b'{"cmd": "plug", "evse": 1, "phases": 2.5}\n', "'phases' must be 1, 2 or 3"),
        (b'{"cmd": "plug", "evse": 1, "max_curent_a": 16}\n', "unknown field(s) 'max_curent_a'"),
        (b'{"cmd": "plug"}\n', "needs the field(s) evse"),
        (b'{"cmd": "ev-state", "evse": 2, "state": "Z"}\n', "'state' must be one of B, C, D"),
        (b'{"cmd": "fault", "evse": 1, "kind": "fire"}\n', "'kind' must be one of rcm"),
        (b'{"cmd": "tap", "tag": 42}\n', "'tag' must be a non-empty string"),
        (b"\xff\xfe\n", "UTF-8"),
    ],
)
async def test_bad_requests_answered_and_server_keeps_serving(conn: Connection, raw: bytes, match: str) -> None:
    answer = await conn.send_raw(raw)
    assert answer["ok"] is False
    assert match in answer["error"]
    assert (await conn.send({"cmd": "status"}))["ok"]


async def test_oversize_line(conn: Connection) -> None:
    answer = await conn.send_raw(b'{"cmd": "tap", "tag": "' + b"x" * (MAX_LINE_BYTES + 10) + b'"}\n')
    assert answer == {"ok": False, "error": f"request line longer than {MAX_LINE_BYTES} bytes"}
    assert (await conn.send({"cmd": "status"}))["ok"]


async def test_several_requests_per_line_batch(conn: Connection) -> None:
    conn.writer.write(b'{"cmd": "plug", "evse": 1}\n\n{"cmd": "unplug", "evse": 1}\r\n{"cmd": "status"}\n')
    answers = [json.loads(await conn.reader.readline()) for _ in range(3)]
    assert [a["ok"] for a in answers] == [True, True, True]
    assert "status" in answers[2]


async def test_many_clients_at_once(sim: SimBoard, sock: Path) -> None:
    conns = [await asyncio.open_unix_connection(str(sock)) for _ in range(10)]
    for _, writer in conns:
        writer.write(b'{"cmd": "status"}\n')
    answers = await asyncio.gather(*(reader.readline() for reader, _ in conns))
    assert all(json.loads(a)["ok"] for a in answers)
    for _, writer in conns:
        writer.close()


# --- command-line client --------------------------------------------------------------------


def parse(*argv: str) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="chargepoint sim")
    add_sim_arguments(parser)
    return parser.parse_args(argv)


async def run(sock: Path, *argv: str) -> int:
    return await asyncio.to_thread(run_sim_command, parse(*argv), sock)


async def test_client_commands(sim: SimBoard, sock: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert await run(sock, "plug", "1", "--max-current", "16", "--phases", "1", "--cable-a", "20") == 0
    assert "EVSE 1: EV plugged" in capsys.readouterr().out
    assert sim.evses[1].ev.max_current_a == 16.0 and sim.evses[1].ev.phases == 1
    assert await run(sock, "ev-state", "1", "c") == 0
    assert sim.evses[1].ev.requested is CpState.C
    assert await run(sock, "tap", "BADGE1", "--evse", "1") == 0
    assert "badge BADGE1 presented at EVSE 1" in capsys.readouterr().out
    assert await run(sock, "fault", "1", "weld") == 0
    assert "weld injected" in capsys.readouterr().out
    assert await run(sock, "clear", "1", "weld") == 0
    assert await run(sock, "unplug", "1") == 0
    assert not sim.evses[1].ev.plugged


async def test_client_status(sim: SimBoard, sock: Path, capsys: pytest.CaptureFixture[str]) -> None:
    capsys.readouterr()
    assert await run(sock, "status") == 0
    out = capsys.readouterr().out.splitlines()
    assert out[0].startswith("EVSE 1: CP A") and "Charging" in out[0] and "tx 12" in out[0]
    assert out[1].startswith("EVSE 2: CP A")
    assert out[2] == "OCPP: connected"
    assert await run(sock, "status", "--json") == 0
    status = json.loads(capsys.readouterr().out)
    assert status["ocpp"]["state"] == "connected"
    assert status["evses"][0]["transaction_id"] == 12


async def test_client_refused_exit_1(sim: SimBoard, sock: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert await run(sock, "unplug", "1") == 1
    assert "no EV is plugged at EVSE 1" in capsys.readouterr().err
    assert await run(sock, "plug", "9") == 1
    assert "unknown EVSE 9" in capsys.readouterr().err


async def test_client_unreachable_exit_2(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    missing = tmp_path / "nobody.sock"
    assert await run(missing, "status") == 2
    err = capsys.readouterr().err
    assert str(missing) in err
    assert "chargepoint run" in err and '"sim"' in err


async def test_stop_with_a_client_still_connected(tmp_path: Path, clock: ManualClock) -> None:
    path = tmp_path / "ctl.sock"
    board = build_sim_board(make_config(path), clock)
    task = asyncio.create_task(board.services[0](lambda: {}))
    for _ in range(200):
        if path.exists():
            break
        await asyncio.sleep(0.01)
    reader, writer = await asyncio.open_unix_connection(str(path))
    writer.write(b'{"cmd": "status"}\n')
    assert json.loads(await reader.readline())["ok"]
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await asyncio.wait_for(task, 5)
    assert await asyncio.wait_for(reader.read(), 5) == b""
    assert not path.exists()
    writer.close()
