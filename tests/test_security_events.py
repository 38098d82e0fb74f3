"""Security events: the security log on disk, and the durable queue for SecurityEventNotification
that survives a restart, keeps its order, reports a repeating failure once per outage and stays
bounded."""
from __future__ import annotations

from datetime import datetime, timezone
from pathlib import Path

import pytest

from chargepoint.security.events import MAX_QUEUED, NOTIFICATION_KIND, SecurityEvent, SecurityEvents
from chargepoint.security.security_log import SecurityLog
from chargepoint.store import Store
from hal.clock import ManualClock


def events_in(tmp_path: Path, max_bytes: int = 256 * 1024) -> tuple[SecurityEvents, Store]:
    store = Store(tmp_path / "borne.db")
    clock = ManualClock(datetime(2026, 5, 4, 10, 0, tzinfo=timezone.utc))
    return SecurityEvents(store, SecurityLog(tmp_path / "security" / "security.log", max_bytes), clock), store


def drain(store: Store) -> list[dict[str, object]]:
    payloads = []
    while (item := store.notification_head(NOTIFICATION_KIND)) is not None:
        payloads.append(item.payload)
        store.notification_ack(item.seq)
    return payloads


def test_startup_reports_the_restart_the_previous_process_asked_for(tmp_path: Path) -> None:
    from security_context_helpers import build

    before = build(tmp_path)
    before.security.note_restart("SoftReset")
    drain(before.store)
    before.store.close()
    after = build(tmp_path)
    after.security.report_startup()
    assert [(p["type"], p["tech_info"]) for p in drain(after.store)] == [
        ("StartupOfTheDevice", "security profile 0"), ("ResetOrReboot", "SoftReset")]
    after.security.report_startup()  # reported once: the next start is a plain start
    assert [p["type"] for p in drain(after.store)] == ["StartupOfTheDevice"]


def test_queued_events_survive_a_restart_in_order(tmp_path: Path) -> None:
    events, store = events_in(tmp_path)
    events.emit(SecurityEvent.STARTUP_OF_THE_DEVICE)
    events.emit(SecurityEvent.INVALID_CENTRAL_SYSTEM_CERTIFICATE, "x" * 300)
    store.close()
    reopened = Store(tmp_path / "borne.db")
    payloads = drain(reopened)
    assert [p["type"] for p in payloads] == ["StartupOfTheDevice", "InvalidCentralSystemCertificate"]
    assert payloads[0] == {"type": "StartupOfTheDevice", "timestamp": "2026-05-04T10:00:00.000Z", "tech_info": None}
    assert payloads[1]["tech_info"] == "x" * 255  # techInfo is string[0..255]


def test_the_security_log_keeps_every_event(tmp_path: Path) -> None:
    events, _ = events_in(tmp_path)
    events.emit(SecurityEvent.RESET_OR_REBOOT, 'reason "Soft" reset')
    events.emit("FirmwareUpdated")
    log_file = tmp_path / "security" / "security.log"
    assert log_file.read_text().splitlines() == [
        '2026-05-04T10:00:00.000Z ResetOrReboot "reason \\"Soft\\" reset"',
        "2026-05-04T10:00:00.000Z FirmwareUpdated",
    ]
    assert events.log.entries() == [
        {"timestamp": "2026-05-04T10:00:00.000Z", "type": "ResetOrReboot", "techInfo": 'reason "Soft" reset'},
        {"timestamp": "2026-05-04T10:00:00.000Z", "type": "FirmwareUpdated"},
    ]


def test_the_security_log_rolls_over(tmp_path: Path) -> None:
    events, _ = events_in(tmp_path, max_bytes=200)
    for number in range(10):
        events.emit(SecurityEvent.INVALID_MESSAGES, f"frame {number}")
    files = events.log.files()
    assert [f.name for f in files] == ["security.log.1", "security.log"]
    assert all(f.stat().st_size <= 200 for f in files)
    kept = [e["techInfo"] for e in events.log.entries()]
    assert kept[-1] == "frame 9" and kept == sorted(kept)


def test_a_repeating_failure_is_one_event_per_outage(tmp_path: Path) -> None:
    events, store = events_in(tmp_path)
    woken: list[int] = []
    events.on_queued(lambda: woken.append(1))
    for _ in range(5):
        events.emit(SecurityEvent.INVALID_CENTRAL_SYSTEM_CERTIFICATE, "unknown issuer", once_per_connection=True)
    events.connection_established()
    events.emit(SecurityEvent.INVALID_CENTRAL_SYSTEM_CERTIFICATE, "unknown issuer", once_per_connection=True)
    assert len(drain(store)) == 2 and len(woken) == 2


def test_the_queue_is_bounded_oldest_first_out(tmp_path: Path) -> None:
    events, store = events_in(tmp_path)
    for number in range(MAX_QUEUED + 5):
        events.emit(SecurityEvent.INVALID_MESSAGES, str(number))
    payloads = drain(store)
    assert len(payloads) == MAX_QUEUED
    assert payloads[0]["tech_info"] == "5" and payloads[-1]["tech_info"] == str(MAX_QUEUED + 4)


def test_an_overflowing_meter_queue_is_memory_exhaustion_once_per_overflow(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from security_context_helpers import build

    import chargepoint.store as store_module

    monkeypatch.setattr(store_module, "MAX_QUEUED_METER_VALUES", 10)
    built = build(tmp_path)
    built.security.watch_storage()
    store = built.store
    drain(store)
    tx = store.begin_transaction(1, 1, "TAG", 0.0, "2026-05-04T10:00:00.000Z", {"connector_id": 1})
    for n in range(10):  # up to the limit: nothing is dropped, nothing reported
        store.record_meter_values(tx, float(n), "2026-05-04T10:00:00.000Z", {"n": n})
    assert drain(store) == []
    for n in range(10, 15):  # the oldest go: reported once, not once per sample
        store.record_meter_values(tx, float(n), "2026-05-04T10:00:00.000Z", {"n": n})
    events = drain(store)
    assert [e["type"] for e in events] == ["MemoryExhaustion"]
    assert "10 queued MeterValues" in str(events[0]["tech_info"])
    # The CSMS drains the queue below 90 %: the next overflow is a new event.
    for item in store.outbox_batch(5):
        store.outbox_ack(item.seq)
    store.record_meter_values(tx, 20.0, "2026-05-04T10:00:00.000Z", {"n": 20})
    store.record_meter_values(tx, 21.0, "2026-05-04T10:00:00.000Z", {"n": 21})
    assert drain(store) == []
    for n in range(22, 26):
        store.record_meter_values(tx, float(n), "2026-05-04T10:00:00.000Z", {"n": n})
    assert [e["type"] for e in drain(store)] == ["MemoryExhaustion"]
