"""The AuthorizationKey (A01): its format, where it is kept, that GetConfiguration lists it
without its value, and that no log, security event or queued message ever holds it."""
from __future__ import annotations

import base64
import logging
import stat
from pathlib import Path
from types import SimpleNamespace

import pytest

from chargepoint.ocpp.v16.handlers import CsmsOperations
from chargepoint.security.authorization_key import acceptable_key
from chargepoint.settings import ChangeResult
from security_context_helpers import CP_ID, KEY, build

NEW_KEY = "F00DFACE" * 5  # 20 bytes: the largest


@pytest.mark.parametrize("value, ok", [
    (KEY, True), (NEW_KEY, True), (KEY.upper(), True),
    (KEY[:-2], False),  # 15 bytes
    (NEW_KEY + "00", False),  # 21 bytes
    (KEY + "0", False),  # half a byte
    ("g" * 32, False), ("correct horse battery staple", False), ("", False),
])
def test_authorization_key_is_16_to_20_bytes_in_hex(value: str, ok: bool) -> None:
    assert acceptable_key(value) is ok


def get_configuration(settings: object, keys: list[str] | None) -> dict[str, dict[str, object]]:
    session = SimpleNamespace(link=SimpleNamespace(settings=settings))
    answer = CsmsOperations.on_get_configuration(session, key=keys)  # type: ignore[arg-type]
    return {entry["key"]: entry for entry in answer.configuration_key}


def test_get_configuration_lists_the_key_without_its_value(tmp_path: Path) -> None:
    b = build(tmp_path)
    assert b.settings.change("AuthorizationKey", KEY) is ChangeResult.ACCEPTED
    for keys in (None, ["AuthorizationKey"], ["authorizationkey"]):
        entry = get_configuration(b.settings, keys)["AuthorizationKey"]
        assert entry == {"key": "AuthorizationKey", "readonly": False}, entry
    assert b.settings.raw("AuthorizationKey") == ""


def test_the_key_is_stored_private_and_used_for_basic_auth(tmp_path: Path) -> None:
    (tmp_path / "password").write_text(KEY + "\n")
    b = build(tmp_path, security_profile=1, password_file="password")
    header = b.security.plan().headers["Authorization"]
    assert base64.b64decode(header.removeprefix("Basic ")).decode() == f"{CP_ID}:{KEY}"
    assert b.settings.change("AuthorizationKey", NEW_KEY) is ChangeResult.ACCEPTED
    stored = b.security.authorization_key.stored
    assert stored.read_text() == NEW_KEY and stat.S_IMODE(stored.stat().st_mode) == 0o600
    assert base64.b64decode(b.security.plan().headers["Authorization"][6:]).decode() == f"{CP_ID}:{NEW_KEY}"
    # A01: Basic auth is in use, so the new key is used on a new connection, after the answer.
    b.security.reconnect_if_requested()
    assert b.security.reconnect.is_set()
    assert (tmp_path / "password").read_text() == KEY + "\n"  # the installer's file is left alone


def test_a_refused_key_changes_nothing(tmp_path: Path) -> None:
    (tmp_path / "password").write_text(KEY)
    b = build(tmp_path, security_profile=1, password_file="password")
    assert b.settings.change("AuthorizationKey", "short") is ChangeResult.REJECTED
    assert b.security.authorization_key.get() == KEY
    b.security.reconnect_if_requested()
    assert not b.security.reconnect.is_set()


def test_the_key_never_reaches_a_log_or_an_event(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG)
    (tmp_path / "password").write_text(KEY)
    b = build(tmp_path, security_profile=1, password_file="password")
    b.security.plan()
    b.settings.change("AuthorizationKey", NEW_KEY)
    b.settings.change("AuthorizationKey", NEW_KEY[:-1] + "Z")  # refused: its text must not show either
    b.security.plan()
    b.security.failed(ConnectionRefusedError("refused"))
    secrets = (KEY, NEW_KEY, NEW_KEY[:-1] + "Z", base64.b64encode(f"{CP_ID}:{NEW_KEY}".encode()).decode())
    texts = [caplog.text, *(p.read_text() for p in b.security.security_log.files())]
    while (item := b.store.notification_head("security_event")) is not None:
        texts.append(str(item.payload))
        b.store.notification_ack(item.seq)
    assert any("AuthorizationKey changed" in text for text in texts)
    for text in texts:
        for secret in secrets:
            assert secret not in text and secret.lower() not in text.lower()
