"""SecurityProfile (A05): raised only, prerequisites first, kept only once a connection with it
opened, given up after failed attempts; a file edit by the installer wins over an earlier raise."""
from __future__ import annotations

from pathlib import Path

from chargepoint.security.certificates import CertificateUse
from chargepoint.security.profiles import SWITCH_ATTEMPTS
from chargepoint.settings import ChangeResult
from chargepoint.store import Store
from security_context_helpers import KEY, build
from security_pki import TestCa

REJECTED, ACCEPTED = ChangeResult.REJECTED, ChangeResult.ACCEPTED
RECONFIGURED = "ReconfigurationOfSecurityParameters"


def queued_events(store: Store) -> list[tuple[str, str | None]]:
    found, seen = [], set()
    while (item := store.notification_head("security_event")) is not None and item.seq not in seen:
        seen.add(item.seq)
        found.append((item.payload["type"], item.payload["tech_info"]))
        store.notification_ack(item.seq)
    return found


def profile_1(tmp_path: Path, **extra: object):  # type: ignore[no-untyped-def]
    (tmp_path / "password").write_text(KEY + "\n")
    return build(tmp_path, security_profile=1, password_file="password", **extra)


def test_only_a_raise_is_accepted(tmp_path: Path) -> None:
    b = profile_1(tmp_path)
    assert b.settings.raw("SecurityProfile") == "1"
    for value in ("1", "0", "-1", "4", "two", ""):
        assert b.settings.change("SecurityProfile", value) is REJECTED, value
    assert b.settings.raw("SecurityProfile") == "1"
    assert not b.security.reconnect.is_set()


def test_prerequisites_of_each_profile(tmp_path: Path) -> None:
    b = build(tmp_path)  # profile 0, no key, no root, no certificate
    assert b.settings.change("SecurityProfile", "1") is REJECTED  # A05.FR.02: no AuthorizationKey
    assert b.settings.change("AuthorizationKey", KEY) is ACCEPTED
    assert b.settings.change("SecurityProfile", "2") is REJECTED  # A05.FR.03: no CSMS root
    root = TestCa("Root")
    assert b.security.install_certificate(CertificateUse.CENTRAL_SYSTEM_ROOT, root.pem).value == "Accepted"
    assert b.settings.change("SecurityProfile", "3") is REJECTED  # A05.FR.04: no charge point certificate
    assert b.settings.change("SecurityProfile", "2") is ACCEPTED


def test_a_raise_reconnects_and_is_kept_once_it_worked(tmp_path: Path) -> None:
    b = profile_1(tmp_path, ca_file=TestCa("Root").write(tmp_path / "ca.pem").name)
    assert b.settings.change("SecurityProfile", "2") is ACCEPTED
    assert not b.security.reconnect.is_set()  # not before the answer went out
    b.security.reconnect_if_requested()
    assert b.security.reconnect.is_set()
    plan = b.security.plan()
    assert plan.profile == 2 and plan.url == "wss://127.0.0.1:9/ocpp/SEC-CP-1" and plan.tls is not None
    assert b.settings.change("SecurityProfile", "3") is REJECTED  # one raise at a time
    # A restart before it connected comes back with the profile that worked.
    assert build(tmp_path, security_profile=1, password_file="password", ca_file="ca.pem").settings.raw(
        "SecurityProfile") == "1"
    b.security.connected([])
    assert ("ReconfigurationOfSecurityParameters", "SecurityProfile changed from 1 to 2") in queued_events(b.store)
    again = build(tmp_path, security_profile=1, password_file="password", ca_file="ca.pem")
    assert again.settings.raw("SecurityProfile") == "2"
    assert again.settings.change("SecurityProfile", "1") is REJECTED


def test_a_raise_that_cannot_connect_falls_back(tmp_path: Path) -> None:
    b = profile_1(tmp_path, ca_file=TestCa("Root").write(tmp_path / "ca.pem").name)
    assert b.settings.change("SecurityProfile", "2") is ACCEPTED
    for _ in range(SWITCH_ATTEMPTS - 1):
        b.security.failed(ConnectionRefusedError())
        assert b.security.plan().profile == 2
    b.security.failed(ConnectionRefusedError())
    plan = b.security.plan()
    assert plan.profile == 1 and plan.url.startswith("ws://") and plan.tls is None
    assert b.settings.raw("SecurityProfile") == "1"
    events = queued_events(b.store)
    assert any(t == RECONFIGURED and "back to 1" in (info or "") for t, info in events), events
    b.security.connected([])
    assert build(tmp_path, security_profile=1, password_file="password", ca_file="ca.pem").settings.raw(
        "SecurityProfile") == "1"


def test_the_installers_file_wins_over_an_earlier_raise(tmp_path: Path) -> None:
    b = profile_1(tmp_path, ca_file=TestCa("Root").write(tmp_path / "ca.pem").name)
    b.settings.change("SecurityProfile", "2")
    b.security.connected([])
    lowered = build(tmp_path, security_profile=0)
    assert lowered.settings.raw("SecurityProfile") == "0"


def test_security_keys_in_get_configuration_terms(tmp_path: Path) -> None:
    b = build(tmp_path)
    spec = b.settings.spec
    assert spec("AuthorizationKey").writable and spec("AuthorizationKey").write_only  # type: ignore[union-attr]
    assert spec("SecurityProfile").writable and spec("CpoName").writable  # type: ignore[union-attr]
    for name in ("CertificateStoreMaxLength", "AdditionalRootCertificateCheck", "CertificateSignedMaxChainSize"):
        assert not spec(name).writable, name  # type: ignore[union-attr]
    assert b.settings.raw("AdditionalRootCertificateCheck") == "false"
    assert b.settings.change("AdditionalRootCertificateCheck", "true") is REJECTED
    assert b.settings.change("CpoName", "Example CPO, Inc.") is ACCEPTED
    assert b.settings.raw("CpoName") == "Example CPO, Inc."
    assert b.settings.change("CpoName", "x" * 65) is REJECTED
