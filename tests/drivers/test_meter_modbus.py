"""ModbusMeter against real protocol peers: a pymodbus server over TCP on 127.0.0.1 and over RTU
on a pseudo-terminal null modem, serving each model's registers built from the same map data.
Failure cases: bad CRC, exception responses, silent devices, a stopped peer, and recovery."""
from __future__ import annotations

import asyncio
import socket
import struct
from collections.abc import AsyncIterator, Iterator

import pytest
from pymodbus.framer.rtu import FramerRTU

from drivers.meter.bus import ModbusBus
from drivers.meter.maps import EM340, MODELS, SDM630
from drivers.meter.modbus_meter import ModbusMeter
from drivers.meter.peer import MeterPeer, NullModem
from drivers.meter.registers import RegisterMap, custom_map, register_image
from hal.clock import ManualClock
from hal.contracts import EnergyMeter
from hal.types import MeterError, MeterReading

pytestmark = pytest.mark.timeout(30)

TIMEOUT_S = 0.2

VALUES = {"energy_import_wh": 12_345_600.0, "power_w": 7360.5,
          "voltage_v": (230.1, 229.8, 231.4), "current_a": (10.55, 10.6, 10.75)}


def values_for(m: RegisterMap) -> dict:
    phases = len(m.voltage_v)
    return VALUES | {"voltage_v": VALUES["voltage_v"][:phases], "current_a": VALUES["current_a"][:phases]}


async def read_when_back(meter: ModbusMeter, within_s: float = 10.0) -> MeterReading:
    """The first good reading after a peer restarted: a loaded machine may take a few request
    timeouts to bring the server up, and what is tested is that the meter recovers."""
    import time

    deadline = time.monotonic() + within_s
    while True:
        try:
            return await meter.read()
        except MeterError:
            if time.monotonic() > deadline:
                raise


def assert_reading(reading: MeterReading, m: RegisterMap) -> None:
    want = values_for(m)
    assert reading.energy_import_wh == pytest.approx(want["energy_import_wh"], rel=1e-6)
    assert reading.power_w == pytest.approx(want["power_w"], rel=1e-6)
    assert reading.voltage_v == pytest.approx(want["voltage_v"], rel=1e-6)
    assert reading.current_a == pytest.approx(want["current_a"], rel=1e-6)


def image_for(m: RegisterMap) -> dict[int, dict[int, int]]:
    return register_image(m, exponent=1, **values_for(m))  # exponent only where the map has one


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture
def modem() -> Iterator[NullModem]:
    nm = NullModem()
    yield nm
    nm.close()


@pytest.fixture
async def cleanup() -> AsyncIterator[list]:
    """Peers and buses registered here are stopped at the end of the test."""
    things: list = []
    yield things
    for thing in reversed(things):
        if isinstance(thing, MeterPeer):
            await thing.stop()
        else:
            await thing.close()


async def tcp_setup(images: dict, cleanup: list, **bus_kwargs) -> tuple[MeterPeer, ModbusBus, int]:
    port = free_port()
    peer = MeterPeer(images)
    await peer.start_tcp("127.0.0.1", port)
    bus = ModbusBus.tcp("127.0.0.1", port, timeout_s=TIMEOUT_S, reconnect_min_s=0, **bus_kwargs)
    cleanup += [peer, bus]
    return peer, bus, port


async def rtu_setup(images: dict, modem: NullModem, cleanup: list) -> tuple[MeterPeer, ModbusBus]:
    peer = MeterPeer(images)
    await peer.start_rtu(modem.port_b)
    bus = ModbusBus.rtu(modem.port_a, timeout_s=TIMEOUT_S, reconnect_min_s=0)
    cleanup += [peer, bus]
    return peer, bus


# ---- every model, both transports ----------------------------------------------------------------

@pytest.mark.parametrize("model", sorted(MODELS))
async def test_each_model_over_tcp(model: str, cleanup: list) -> None:
    m = MODELS[model]
    _, bus, _ = await tcp_setup({m.default_device_id: image_for(m)}, cleanup)
    meter = ModbusMeter(bus, m.default_device_id, m)
    assert isinstance(meter, EnergyMeter)
    assert_reading(await meter.read(), m)
    assert (meter.reads_ok, meter.consecutive_failures, meter.lost) == (1, 0, False)
    assert bus.stats(m.default_device_id).requests == meter.requests_per_read


@pytest.mark.parametrize("model", sorted(MODELS))
async def test_each_model_over_rtu(model: str, modem: NullModem, cleanup: list) -> None:
    m = MODELS[model]
    _, bus = await rtu_setup({m.default_device_id: image_for(m)}, modem, cleanup)
    meter = ModbusMeter(bus, m.default_device_id, m)
    assert_reading(await meter.read(), m)
    requests = [f for d, f in modem.frames() if d == "a>b"]
    assert len(requests) == meter.requests_per_read


async def test_custom_map_mixed_types_over_rtu(modem: NullModem, cleanup: list) -> None:
    m = custom_map({
        "energy_import_wh": {"function": 3, "address": 0x0100, "type": "uint64", "word_order": "little", "scale": 10},
        "power_w": {"function": 4, "address": 0x0010, "type": "int32", "scale": 0.1},
        "voltage_v": {"function": 4, "address": [0x0000, 0x0001, 0x0002], "type": "uint16", "scale": 0.1},
        "current_a": [{"function": 3, "address": 0x0200, "type": "int16", "scale": 0.01},
                      {"function": 3, "address": 0x0201, "type": "int16", "scale": 0.01},
                      {"function": 3, "address": 0x0202, "type": "float32", "word_order": "little"}],
    })
    _, bus = await rtu_setup({7: image_for(m)}, modem, cleanup)
    meter = ModbusMeter(bus, 7, m)
    assert meter.requests_per_read == 4  # 0x0100+4, 0x0200+4 (FC 03); 0x0000+3, 0x0010+2 (FC 04)
    assert_reading(await meter.read(), m)


async def test_rising_energy_is_seen(cleanup: list) -> None:
    peer, bus, _ = await tcp_setup({1: image_for(SDM630)}, cleanup)
    meter = ModbusMeter(bus, 1, SDM630)
    first = await meter.read()
    await peer.set_registers(1, 4, 0x0048, SDM630.energy_import_wh.encode(first.energy_import_wh + 1500.0))
    assert (await meter.read()).energy_import_wh == pytest.approx(first.energy_import_wh + 1500.0, abs=1.0)


# ---- several meters on one RS-485 bus -------------------------------------------------------------

def crc_ok(frame: bytes) -> bool:
    return len(frame) >= 4 and FramerRTU.compute_CRC(frame[:-2]) == int.from_bytes(frame[-2:], "big")


async def test_two_meters_share_one_rtu_client_without_interleaving(modem: NullModem, cleanup: list) -> None:
    _, bus = await rtu_setup({1: image_for(SDM630), 2: image_for(EM340)}, modem, cleanup)
    sdm, em = ModbusMeter(bus, 1, SDM630), ModbusMeter(bus, 2, EM340)
    rounds = 5
    for _ in range(rounds):
        a, b = await asyncio.gather(sdm.read(), em.read())
        assert_reading(a, SDM630)
        assert_reading(b, EM340)
    frames = modem.frames()
    # Strict request/response alternation on the wire: never a second request before the reply.
    assert [d for d, _ in frames] == ["a>b", "b>a"] * (len(frames) // 2)
    assert len(frames) == 2 * rounds * (sdm.requests_per_read + em.requests_per_read)
    for (_, request), (_, reply) in zip(frames[::2], frames[1::2], strict=True):
        assert len(request) == 8 and crc_ok(request)
        assert crc_ok(reply) and reply[:2] == request[:2]  # same device id and function code
    ids = [request[0] for _, request in frames[::2]]
    assert sorted(set(ids)) == [1, 2] and ids != sorted(ids)  # the two meters really were interleaved
    assert (bus.stats(1).ok, bus.stats(2).ok) == (rounds * sdm.requests_per_read, rounds * em.requests_per_read)


# ---- failures ------------------------------------------------------------------------------------

async def test_bad_crc_is_counted_and_reported(modem: NullModem, cleanup: list) -> None:
    _, bus = await rtu_setup({1: image_for(SDM630)}, modem, cleanup)
    meter = ModbusMeter(bus, 1, SDM630)
    modem.corrupt_replies = 1
    with pytest.raises(MeterError, match=r"meter sdm630 id 1 on rtu bus .*FC04 0x0000\+12: .*bad CRC") as err:
        await meter.read()
    assert str(err.value).count(modem.port_a) == 1
    assert (meter.crc_errors, meter.timeouts, meter.consecutive_failures) == (1, 0, 1)
    assert bus.stats(1).crc_errors == 1
    assert_reading(await meter.read(), SDM630)
    assert meter.consecutive_failures == 0


@pytest.mark.parametrize("transport", ["tcp", "rtu"])
async def test_exception_response_names_the_exception(transport: str, modem: NullModem, cleanup: list) -> None:
    served = custom_map({"energy_import_wh": {"function": 4, "address": 0, "type": "float32"},
                         "power_w": {"function": 4, "address": 2, "type": "float32"}})
    image = register_image(served, energy_import_wh=1.0, power_w=2.0)
    if transport == "tcp":
        _, bus, _ = await tcp_setup({1: image}, cleanup)
    else:
        _, bus = await rtu_setup({1: image}, modem, cleanup)
    wrong = custom_map({"energy_import_wh": {"function": 4, "address": 0, "type": "float32"},
                        "power_w": {"function": 4, "address": 0x0300, "type": "float32"}})
    meter = ModbusMeter(bus, 1, wrong)
    with pytest.raises(MeterError, match=r"FC04 0x0300\+2: Modbus exception 2 \(illegal data address\)"):
        await meter.read()
    assert (meter.exceptions, meter.timeouts, meter.crc_errors) == (1, 0, 0)
    assert bus.stats(1).exceptions == 1


async def test_absent_device_id_times_out(modem: NullModem, cleanup: list) -> None:
    _, bus = await rtu_setup({1: image_for(SDM630)}, modem, cleanup)
    modem.drop_requests_to = {5}  # nothing with id 5 on the line: the request goes unanswered
    ghost, real = ModbusMeter(bus, 5, SDM630), ModbusMeter(bus, 1, SDM630)
    loop = asyncio.get_running_loop()
    start = loop.time()
    with pytest.raises(MeterError, match=r"meter sdm630 id 5 .*no reply \(timeout\)"):
        await ghost.read()
    assert TIMEOUT_S * 0.9 <= loop.time() - start < TIMEOUT_S + 1.0
    assert (ghost.timeouts, bus.stats(5).timeouts) == (1, 1)
    assert_reading(await real.read(), SDM630)  # the bus is still usable for the others


async def test_silent_meter_is_lost_after_three_and_recovers(modem: NullModem, cleanup: list) -> None:
    _, bus = await rtu_setup({1: image_for(SDM630)}, modem, cleanup)
    meter = ModbusMeter(bus, 1, SDM630, failures_for_loss=3)
    assert_reading(await meter.read(), SDM630)
    modem.mute_replies = True
    for n in (1, 2, 3):
        with pytest.raises(MeterError, match="timeout"):
            await meter.read()
        assert meter.consecutive_failures == n
        assert meter.lost is (n >= 3)
    assert meter.timeouts == 3
    modem.mute_replies = False
    assert_reading(await meter.read(), SDM630)
    assert (meter.consecutive_failures, meter.lost, meter.timeouts) == (0, False, 3)


async def test_rtu_peer_stopped_then_back(modem: NullModem, cleanup: list) -> None:
    peer, bus = await rtu_setup({1: image_for(EM340)}, modem, cleanup)
    meter = ModbusMeter(bus, 1, EM340, failures_for_loss=2)
    assert_reading(await meter.read(), EM340)
    await peer.stop()
    for _ in range(2):
        with pytest.raises(MeterError, match="timeout"):
            await meter.read()
    assert meter.lost
    modem.flush()  # a restarted device does not answer requests sent while it was off
    await peer.start_rtu(modem.port_b)
    assert_reading(await read_when_back(meter), EM340)
    assert not meter.lost and meter.consecutive_failures == 0 and meter.timeouts >= 2


async def test_tcp_peer_stopped_then_back(cleanup: list) -> None:
    peer, bus, port = await tcp_setup({1: image_for(SDM630)}, cleanup)
    meter = ModbusMeter(bus, 1, SDM630)
    assert_reading(await meter.read(), SDM630)
    await peer.stop()
    for _ in range(3):
        with pytest.raises(MeterError):
            await meter.read()
    assert meter.lost
    assert meter.connection_errors + meter.timeouts == 3
    await peer.start_tcp("127.0.0.1", port)
    assert_reading(await read_when_back(meter), SDM630)
    assert not meter.lost


async def test_reconnect_backs_off_on_the_injected_clock(cleanup: list) -> None:
    clock = ManualClock()
    port = free_port()
    bus = ModbusBus.tcp("127.0.0.1", port, timeout_s=TIMEOUT_S, clock=clock, reconnect_min_s=5, reconnect_max_s=60)
    cleanup.append(bus)
    meter = ModbusMeter(bus, 1, SDM630)
    with pytest.raises(MeterError, match="cannot connect"):
        await meter.read()
    peer = MeterPeer({1: image_for(SDM630)})
    await peer.start_tcp("127.0.0.1", port)
    cleanup.insert(0, peer)
    with pytest.raises(MeterError, match=r"next attempt in 5\.0 s"):
        await meter.read()  # still backing off: no connection attempt yet
    clock.advance(5.0)
    assert_reading(await meter.read(), SDM630)
    assert meter.connection_errors == 2


async def test_nan_value_is_a_meter_error(cleanup: list) -> None:
    image = image_for(SDM630)
    nan = struct.unpack(">HH", struct.pack(">f", float("nan")))
    image[4][0x0034], image[4][0x0035] = nan
    _, bus, _ = await tcp_setup({1: image}, cleanup)
    meter = ModbusMeter(bus, 1, SDM630)
    with pytest.raises(MeterError, match=r"unusable value: power_w at 0x0034 is nan"):
        await meter.read()
    assert (meter.invalid_values, meter.consecutive_failures) == (1, 1)


# ---- a misbehaving client never leaks anything but MeterError -----------------------------------

class FakeClient:
    """Stands in for a pymodbus client that fails in ways pymodbus should not (hangs, OSError)."""

    def __init__(self, behaviour: str) -> None:
        self.behaviour = behaviour
        self.connected = False

    async def connect(self) -> bool:
        self.connected = True
        return True

    def close(self) -> None:
        self.connected = False

    async def read_input_registers(self, address: int, *, count: int, device_id: int):
        if self.behaviour == "hang":
            await asyncio.Event().wait()
        raise OSError(5, "Input/output error")


@pytest.mark.parametrize(("behaviour", "message", "counter"), [
    ("hang", r"no reply within 0\.1 s", "timeouts"),
    ("oserror", r"I/O error: OSError\(5, 'Input/output error'\)", "connection_errors"),
])
async def test_client_failures_become_meter_errors(behaviour: str, message: str, counter: str) -> None:
    bus = ModbusBus(lambda trace: FakeClient(behaviour), name="fake", transport="rtu", guard_s=0.1)
    meter = ModbusMeter(bus, 1, SDM630)
    with pytest.raises(MeterError, match=message):
        await meter.read()
    assert getattr(meter, counter) == 1 and getattr(bus.stats(1), counter) == 1
    await bus.close()
