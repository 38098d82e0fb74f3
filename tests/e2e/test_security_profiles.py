"""Security profiles end to end: the controller process against CSMSs over real loopback TLS with
certificates made by the test. Basic auth (profiles 1, 2), server certificate and host name
checks (2), client certificates (3), the AuthorizationKey and SecurityProfile keys over OCPP, and
the security events that report what went wrong once the CSMS can be reached."""
from __future__ import annotations

import pytest
from cryptography import x509
from cryptography.x509.oid import NameOID
from ocpp.v16 import call

from e2e_harness import CP_ID, WAIT, eventually
from security_pki import TestCa
from security_setup import KEY, NEW_KEY, SecureSite, basic_credentials, booted, security_events
from security_setup import site  # noqa: F401  (the fixture)

pytestmark = pytest.mark.timeout(90)


async def get_configuration(e2e, *keys: str) -> dict[str, dict[str, object]]:  # type: ignore[no-untyped-def]
    answer = await e2e.csms.call(call.GetConfiguration(key=list(keys)), timeout=WAIT)
    return {entry["key"]: entry for entry in answer.configuration_key}


async def event_of(csms, event_type: str, since: int = 0) -> dict[str, object]:  # type: ignore[no-untyped-def]
    record = await csms.wait_for("SecurityEventNotification", lambda p: p["type"] == event_type,
                                 timeout=WAIT, since=since)
    return record.payload


async def test_tc_073_cs_update_charge_point_password_for_http_basic_authentication(site: SecureSite) -> None:
    """TC_073_CS Update Charge Point Password for HTTP Basic Authentication.

    Plays the case in part, on security profile 1: steps 1-3 (ChangeConfiguration AuthorizationKey:
    Accepted; the charge point reconnects with the new password); the second change of steps 4-6 is
    not played. Before it, the boot checks the Authorization header as TC_085_CS Basic
    Authentication - Valid username/password combination does in its step 1 (Basic
    <ChargePointId>:<AuthorizationKey as configured>). Also: a key that is not hex is Rejected, the
    change is reported as a security event and neither key reaches the log."""
    csms = await site.csms(credentials={CP_ID: KEY})
    e2e = await site.start(csms, security_profile=1, password_file=site.write_password())
    await booted(e2e)
    assert basic_credentials(csms.headers) == f"{CP_ID}:{KEY}"
    await event_of(csms, "StartupOfTheDevice")
    keys = await get_configuration(e2e, "AuthorizationKey", "SecurityProfile")
    assert keys["AuthorizationKey"] == {"key": "AuthorizationKey", "readonly": False}
    assert keys["SecurityProfile"]["value"] == "1"

    assert await e2e.change_configuration("AuthorizationKey", "not hex") == "Rejected"
    csms.basic_auth_credentials = {CP_ID: NEW_KEY}  # A01.FR.03: the CSMS now expects the new key
    mark = csms.mark()
    assert await e2e.change_configuration("AuthorizationKey", NEW_KEY) == "Accepted"
    await eventually(lambda: len(csms.connections) == 2 and csms.connected, what="a new connection")
    assert basic_credentials(csms.headers) == f"{CP_ID}:{NEW_KEY}"
    event = await event_of(csms, "ReconfigurationOfSecurityParameters", since=mark)
    assert event["techInfo"] == "AuthorizationKey changed"
    log = site.log()
    for secret in (KEY, NEW_KEY):
        assert secret not in log.lower()


async def test_profile_1_wrong_key_is_reported_once_it_gets_through(site: SecureSite) -> None:
    csms = await site.csms(credentials={CP_ID: "ffeeddccbbaa99887766554433221100"})
    e2e = await site.start(csms, security_profile=1, password_file=site.write_password())
    await e2e.unless_exited(eventually(lambda: len(csms.requests) >= 2, what="refused attempts"), "attempts")
    assert not csms.connections  # every attempt got HTTP 401
    csms.basic_auth_credentials = {CP_ID: KEY}
    await booted(e2e)
    event = await event_of(csms, "FailedToAuthenticationAtCentralSystem")
    assert event["techInfo"] == "HTTP 401 on the WebSocket handshake"
    # One event for the whole outage: once a later event is in, any repeat would have been too.
    assert await e2e.change_configuration("CpoName", "Test CPO") == "Accepted"
    await event_of(csms, "ReconfigurationOfSecurityParameters")
    assert len([e for e in security_events(csms) if e["type"] == "FailedToAuthenticationAtCentralSystem"]) == 1


async def test_tc_086_cs_tls_server_side_certificate_valid_certificate(site: SecureSite) -> None:
    """TC_086_CS TLS - server-side certificate - Valid certificate.

    Plays the case in part, on security profile 2: the charge point accepts the CSMS's server
    certificate, sets up the secured WebSocket connection and sends the step 5 Authorization
    header (Basic <ChargePointId>:<AuthorizationKey>); the TLS version and cipher suite checks of
    step 2 are not made. Also: GetInstalledCertificateIds lists the CentralSystemRootCertificate
    that verified the server."""
    csms = await site.csms(site.tls(), credentials={CP_ID: KEY})
    assert csms.url.startswith("wss://")
    e2e = await site.start(csms, security_profile=2, password_file=site.write_password(), ca_file=site.ca_file())
    await booted(e2e)
    assert basic_credentials(csms.headers) == f"{CP_ID}:{KEY}"
    ids = await e2e.csms.call(call.GetInstalledCertificateIds(certificate_type="CentralSystemRootCertificate"))
    assert ids.status == "Accepted" and len(ids.certificate_hash_data) == 1
    assert ids.certificate_hash_data[0]["serial_number"] == format(site.ca.certificate.serial_number, "X")


@pytest.mark.parametrize("case, event_type", [
    ("untrusted", "InvalidCentralSystemCertificate"),
    ("host-name-mismatch", "CentralSystemFailedToAuthentication"),
])
async def test_tc_078_cs_invalid_central_system_certificate_security_event(site: SecureSite, case: str,
                                                                           event_type: str) -> None:
    """TC_078_CS Invalid CentralSystemCertificate Security Event.

    Plays the case in part, on security profile 2, with the "untrusted" server certificate: steps
    5-7 (the charge point deems the server certificate invalid and terminates the connection, more
    than once, sending nothing) and the steps after them (the CSMS gets a valid certificate, the
    charge point connects and sends SecurityEventNotification InvalidCentralSystemCertificate).
    Steps 1-4 (a first abort and reconnection on a valid certificate, by which the tool times the
    reconnection) are not played: the charge point meets the invalid certificate on its first
    connection. The "host-name-mismatch" variant goes beyond the case: a certificate of the right
    CA for another host name, reported as CentralSystemFailedToAuthentication."""
    issued = (TestCa("Stranger Root") if case == "untrusted" else site.ca).server(
        "127.0.0.1" if case == "untrusted" else "csms.example.com")
    csms = await site.csms(site.tls(issued), credentials={CP_ID: KEY})
    e2e = await site.start(csms, security_profile=2, password_file=site.write_password(), ca_file=site.ca_file())
    await e2e.unless_exited(eventually(lambda: site.log().count("SSLCertVerificationError") >= 2,
                                       what="refused TLS handshakes"), "attempts")
    assert not csms.connections and not csms.requests  # nothing was sent, the password least of all
    await csms.stop()
    csms.ssl_context = site.tls()  # the CSMS gets a certificate the charge point can verify
    await csms.start()
    await booted(e2e)
    event = await event_of(csms, event_type)
    assert str(event["techInfo"]).startswith("server certificate: ")


async def test_tc_087_cs_tls_client_side_certificate_valid_certificate(site: SecureSite) -> None:
    """TC_087_CS TLS - Client-side certificate - valid certificate.

    Plays the case in part, on security profile 3: the charge point presents its client
    certificate, whose subject commonName is its serial number, sets up the secured WebSocket
    connection and sends no Authorization header; the TLS version, cipher suite and key length
    checks of step 4 are not made."""
    csms = await site.csms(site.tls(client_ca=site.ca))
    certificate, key = site.ca.client("SN-0001", days=365).write(site.directory, "cp")
    e2e = await site.start(csms, security_profile=3, ca_file=site.ca_file(), client_certificate_file=certificate,
                           client_key_file=key)
    await booted(e2e)
    assert "Authorization" not in csms.headers
    presented = x509.load_der_x509_certificate(csms.connection.client_certificate)
    assert presented.subject.get_attributes_for_oid(NameOID.COMMON_NAME)[0].value == "SN-0001"


async def test_tc_083_cs_upgrade_security_profile(site: SecureSite) -> None:
    """TC_083_CS Upgrade security profile.

    Plays the case in part, from security profile 1 to 2: steps 1-2 (ChangeConfiguration
    SecurityProfile 2: Accepted), after which the charge point moves to the profile 2 CSMS by
    itself. The Reset.req of steps 3-4 is not sent; a restart of the controller takes its place.
    The charge point then boots on profile 2 (step 5; the StatusNotification of step 7 is not
    checked), does not come back to the profile 1 CSMS, which stays up (step 16), and is connected
    on profile 2 (step 18). Also: before the raise, SecurityProfile 1 and 0, and 3
    without a client certificate, are Rejected; the raise is reported as a security event and
    GetConfiguration reads SecurityProfile 2."""
    plain = await site.csms(credentials={CP_ID: KEY})
    tls = await site.csms(site.tls(), credentials={CP_ID: KEY})
    e2e = await site.start(plain, security_profile=1, password_file=site.write_password(), ca_file=site.ca_file(),
                           csms_url_tls=tls.url)
    await booted(e2e)
    for lower in ("1", "0"):
        assert await e2e.change_configuration("SecurityProfile", lower) == "Rejected"
    assert await e2e.change_configuration("SecurityProfile", "3") == "Rejected"  # no client certificate
    assert await e2e.change_configuration("SecurityProfile", "2") == "Accepted"
    await plain.wait_disconnected(timeout=WAIT)
    await tls.wait_connected(timeout=WAIT)
    assert basic_credentials(tls.headers) == f"{CP_ID}:{KEY}"
    event = await event_of(tls, "ReconfigurationOfSecurityParameters")
    assert event["techInfo"] == "SecurityProfile changed from 1 to 2"
    tls_e2e = type(e2e)(tls, e2e.cp)
    assert (await get_configuration(tls_e2e, "SecurityProfile"))["SecurityProfile"]["value"] == "2"
    # Kept across a restart: the controller boots on the TLS CSMS.
    await site.restart(tls)
    await tls.wait_for("BootNotification", timeout=WAIT)
    assert len(plain.connections) == 1


async def test_security_profile_raise_that_fails_falls_back(site: SecureSite) -> None:
    plain = await site.csms(credentials={CP_ID: KEY})
    unverifiable = await site.csms(site.tls(TestCa("Stranger Root").server("127.0.0.1")), credentials={CP_ID: KEY})
    e2e = await site.start(plain, security_profile=1, password_file=site.write_password(), ca_file=site.ca_file(),
                           csms_url_tls=unverifiable.url)
    await booted(e2e)
    mark = plain.mark()
    assert await e2e.change_configuration("SecurityProfile", "2") == "Accepted"
    await eventually(lambda: len(plain.connections) == 2 and plain.connected, what="the fallback connection")
    assert not unverifiable.connections
    fallback = await event_of(plain, "ReconfigurationOfSecurityParameters", mark)
    assert fallback["techInfo"] == "SecurityProfile 2 could not connect in 3 attempts; back to 1"
    await event_of(plain, "InvalidCentralSystemCertificate", mark)
    assert basic_credentials(plain.headers) == f"{CP_ID}:{KEY}"
    assert (await get_configuration(e2e, "SecurityProfile"))["SecurityProfile"]["value"] == "1"
    await site.restart(plain)
    await eventually(lambda: len(plain.connections) == 3 and plain.connected, what="the connection after restart")


async def test_invalid_messages_are_reported_once_per_connection(ready) -> None:  # type: ignore[no-untyped-def]
    csms = ready.csms
    mark = csms.mark()
    for number in range(3):
        reply = await csms.send_raw(f'[2, "bad-{number}", "Reset", {{"type": "Sideways"}}]', timeout=WAIT)
        assert reply[0] == 4
    await csms.send_raw("this is not JSON", timeout=WAIT)
    event = await event_of(csms, "InvalidMessages", since=mark)
    assert event["techInfo"] == "Reset: FormatViolation"
    # Events go out in order: once this later one is in, any repeat would have been too.
    assert await ready.change_configuration("CpoName", "Test CPO") == "Accepted"
    await event_of(csms, "ReconfigurationOfSecurityParameters", since=mark)
    later = [e["type"] for e in security_events(csms, mark) if e["type"] != "StartupOfTheDevice"]
    assert later == ["InvalidMessages", "ReconfigurationOfSecurityParameters"]
