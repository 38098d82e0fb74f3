"""The charge point certificate end to end, on security profile 3 over loopback TLS: the CSMS asks
for a new certificate (A02, ExtendedTriggerMessage) or the charge point asks because its own
expires within a month (A03); the CSMS's CA signs the CSR; CertificateSigned installs it and the
controller reconnects presenting it. Also the trust store operations over OCPP (M03-M05)."""
from __future__ import annotations

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import serialization
from cryptography.x509.oid import NameOID
from ocpp.v16 import call

from csms import TestCsms
from e2e_harness import CP_ID, WAIT, E2E, eventually
from security_pki import TestCa
from security_setup import SecureSite, booted
from security_setup import site  # noqa: F401  (the fixture)

pytestmark = pytest.mark.timeout(90)
SPKI = serialization.PublicFormat.SubjectPublicKeyInfo


def public_der(certificate_or_csr: x509.Certificate | x509.CertificateSigningRequest) -> bytes:
    return certificate_or_csr.public_key().public_bytes(serialization.Encoding.DER, SPKI)


def presented(csms: TestCsms) -> x509.Certificate:
    assert csms.connection is not None and csms.connection.client_certificate is not None
    return x509.load_der_x509_certificate(csms.connection.client_certificate)


async def profile_3(site: SecureSite, days: int) -> tuple[TestCsms, E2E, x509.Certificate]:
    csms = await site.csms(site.tls(client_ca=site.ca))
    factory = site.ca.client("FACTORY-0001", days=days)
    certificate, key = factory.write(site.directory, "factory")
    e2e = await site.start(csms, security_profile=3, ca_file=site.ca_file(), client_certificate_file=certificate,
                           client_key_file=key)
    await booted(e2e)
    assert presented(csms) == factory.certificate
    return csms, e2e, factory.certificate


async def sign_and_reconnect(site: SecureSite, csms: TestCsms, e2e: E2E, since: int) -> x509.Certificate:
    request = await csms.wait_for("SignCertificate", timeout=WAIT, since=since)
    csr = x509.load_pem_x509_csr(request.payload["csr"].encode())
    assert csr.is_signature_valid
    assert csr.subject.get_attributes_for_oid(NameOID.COMMON_NAME)[0].value == CP_ID  # no serial_number set
    assert csr.subject.get_attributes_for_oid(NameOID.ORGANIZATION_NAME)[0].value == "Test CPO"
    signed = site.ca.sign_csr(request.payload["csr"])
    connections = len(csms.connections)
    chain = signed.public_bytes(serialization.Encoding.PEM).decode()
    answer = await csms.call(call.CertificateSigned(certificate_chain=chain), timeout=WAIT)
    assert answer.status == "Accepted"
    await eventually(lambda: len(csms.connections) > connections and csms.connected, what="the reconnection")
    assert public_der(presented(csms)) == public_der(csr)
    assert presented(csms) == signed
    return signed


async def test_tc_074_cs_update_charge_point_certificate_by_request_of_central_system(site: SecureSite) -> None:
    """TC_074_CS Update Charge Point Certificate by request of Central System.

    On security profile 3, with CpoName set: ExtendedTriggerMessage SignChargePointCertificate:
    Accepted; SignCertificate.req with a CSR; CertificateSigned with the certificate the CSMS's CA
    issued for it: Accepted; the charge point reconnects presenting the new certificate (step 7).
    Also: the trigger is Rejected while CpoName is not set, the installation is reported as a
    security event and the new key is readable by its owner only."""
    csms, e2e, _ = await profile_3(site, days=365)
    trigger = call.ExtendedTriggerMessage(requested_message="SignChargePointCertificate")
    assert (await csms.call(trigger, timeout=WAIT)).status == "Rejected"  # CpoName is not set yet
    assert await e2e.change_configuration("CpoName", "Test CPO") == "Accepted"
    mark = csms.mark()
    assert (await csms.call(trigger, timeout=WAIT)).status == "Accepted"
    signed = await sign_and_reconnect(site, csms, e2e, mark)
    event = await csms.wait_for("SecurityEventNotification",
                                lambda p: p["type"] == "ReconfigurationOfSecurityParameters"
                                and "Charge Point certificate installed" in p.get("techInfo", ""), timeout=WAIT)
    assert format(signed.serial_number, "X") in event.payload["techInfo"]
    # The key stays on the device, readable by its owner only.
    keys = list((site.directory / "security" / "certs" / "charge-point").glob("*.key"))
    assert len(keys) == 1 and keys[0].stat().st_mode & 0o777 == 0o600


async def test_certificate_expiring_within_a_month_is_renewed(site: SecureSite) -> None:
    csms, e2e, factory = await profile_3(site, days=10)
    mark = csms.mark()
    assert await e2e.change_configuration("CpoName", "Test CPO") == "Accepted"
    signed = await sign_and_reconnect(site, csms, e2e, mark)
    assert signed.not_valid_after_utc > factory.not_valid_after_utc


async def test_tc_077_cs_invalid_charge_point_certificate_security_event(site: SecureSite) -> None:
    """TC_077_CS Invalid ChargePointCertificate Security Event.

    Plays the case on security profile 3, with CpoName set, and checks it in part: steps 1 and 3-7
    (ExtendedTriggerMessage SignChargePointCertificate; SignCertificate.req; CertificateSigned with
    a certificate from a CA the charge point does not trust: Rejected; SecurityEventNotification
    InvalidChargePointCertificate); the ExtendedTriggerMessage.conf status of step 2 is not
    checked. Also: the charge point stays connected with its old certificate."""
    csms, e2e, factory = await profile_3(site, days=365)
    assert await e2e.change_configuration("CpoName", "Test CPO") == "Accepted"
    mark = csms.mark()
    await csms.call(call.ExtendedTriggerMessage(requested_message="SignChargePointCertificate"), timeout=WAIT)
    request = await csms.wait_for("SignCertificate", timeout=WAIT, since=mark)
    stranger = TestCa("Stranger Root").sign_csr(request.payload["csr"]).public_bytes(serialization.Encoding.PEM)
    answer = await csms.call(call.CertificateSigned(certificate_chain=stranger.decode()), timeout=WAIT)
    assert answer.status == "Rejected"
    event = await csms.wait_for("SecurityEventNotification", lambda p: p["type"] == "InvalidChargePointCertificate",
                                timeout=WAIT, since=mark)
    assert "installed root" in event.payload["techInfo"]
    assert len(csms.connections) == 1 and presented(csms) == factory


async def test_trust_store_operations(site: SecureSite) -> None:
    csms, e2e, _ = await profile_3(site, days=365)
    root_ids = await csms.call(call.GetInstalledCertificateIds(certificate_type="CentralSystemRootCertificate"))
    assert root_ids.status == "Accepted"
    (in_use,) = root_ids.certificate_hash_data
    delete = call.DeleteCertificate(certificate_hash_data={
        "hashAlgorithm": in_use["hash_algorithm"], "issuerNameHash": in_use["issuer_name_hash"],
        "issuerKeyHash": in_use["issuer_key_hash"], "serialNumber": in_use["serial_number"]})
    assert (await csms.call(delete, timeout=WAIT)).status == "Failed"  # it verified this connection

    maker = TestCa("Maker Root")
    none = await csms.call(call.GetInstalledCertificateIds(certificate_type="ManufacturerRootCertificate"))
    assert none.status == "NotFound"
    install = call.InstallCertificate(certificate_type="ManufacturerRootCertificate", certificate=maker.pem)
    assert (await csms.call(install, timeout=WAIT)).status == "Accepted"
    leaf = call.InstallCertificate(certificate_type="CentralSystemRootCertificate",
                                   certificate=maker.server("csms.example.com").pem)
    assert (await csms.call(leaf, timeout=WAIT)).status == "Rejected"
    makers = await csms.call(call.GetInstalledCertificateIds(certificate_type="ManufacturerRootCertificate"))
    (maker_id,) = makers.certificate_hash_data
    assert maker_id["serial_number"] == format(maker.certificate.serial_number, "X")
    delete_maker = call.DeleteCertificate(certificate_hash_data={
        "hashAlgorithm": "SHA256", "issuerNameHash": maker_id["issuer_name_hash"],
        "issuerKeyHash": maker_id["issuer_key_hash"], "serialNumber": maker_id["serial_number"]})
    assert (await csms.call(delete_maker, timeout=WAIT)).status == "Accepted"
    assert (await csms.call(delete_maker, timeout=WAIT)).status == "NotFound"
