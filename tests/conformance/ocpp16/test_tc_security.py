"""OCA OCPP 1.6 compliance cases, Charge Point side: the security whitepaper's certificate
management, security events and security log (TC_074_CS, TC_075_1_CS, TC_075_2_CS, TC_076_CS,
TC_077_CS, TC_079_CS).

Each case runs once Borne handles its operation (`oca16.require`), and is skipped until then."""
from __future__ import annotations

from typing import Any

import pytest
from ocpp.v16 import call

from e2e_harness import WAIT
from http_upload_peer import HttpUploadPeer
from oca16 import Station, answered_before, require
from security_pki import TestCa, cert_pem

pytestmark = [pytest.mark.asyncio(loop_scope="module"), pytest.mark.timeout(60)]


async def installed(st: Station, kind: str) -> list[dict[str, Any]]:
    result = await st.call(call.GetInstalledCertificateIds(certificate_type=kind))
    return list(result.certificate_hash_data or []) if result.status == "Accepted" else []


async def install(st: Station, kind: str, pem: str) -> str:
    return str((await st.call(call.InstallCertificate(certificate_type=kind, certificate=pem))).status)


async def remove_all(st: Station, kind: str) -> None:
    for entry in await installed(st, kind):
        await st.call(call.DeleteCertificate(certificate_hash_data=entry))


async def sign_certificate_request(st: Station) -> str:
    """ExtendedTriggerMessage SignChargePointCertificate: Accepted, then SignCertificate.req with
    a CSR; returns the CSR. Configuration state: CpoName set (it becomes the certificate's O)."""
    assert await st.configure("CpoName", "OCTT CPO") == "Accepted"
    mark = st.csms.mark()
    result = await st.call(call.ExtendedTriggerMessage(requested_message="SignChargePointCertificate"))
    assert result.status == "Accepted"
    request = await st.csms.wait_for("SignCertificate", timeout=WAIT, since=mark)
    assert answered_before(st.csms, "ExtendedTriggerMessage", request)
    csr = request.payload["csr"]
    assert "CERTIFICATE REQUEST" in csr
    return str(csr)


@pytest.mark.parametrize("kind", ["ManufacturerRootCertificate", "CentralSystemRootCertificate"],
                         ids=["TC_075_1_CS", "TC_075_2_CS"])
async def test_tc_075_cs_install_a_certificate_on_the_charge_point(cp: Station, kind: str) -> None:
    """TC_075_1_CS Install a certificate on the Charge Point - ManufacturerRootCertificate;
    TC_075_2_CS … - CentralSystemRootCertificate.

    InstallCertificate with a valid root: Accepted, and GetInstalledCertificateIds lists it."""
    await require(cp, "InstallCertificate", "Security")
    before = await installed(cp, kind)
    try:
        assert await install(cp, kind, TestCa(f"OCTT {kind}").pem) == "Accepted"
        assert len(await installed(cp, kind)) == len(before) + 1
    finally:
        for entry in await installed(cp, kind):
            if entry not in before:
                await cp.call(call.DeleteCertificate(certificate_hash_data=entry))


async def test_tc_076_cs_delete_a_specific_certificate_from_the_charge_point(cp: Station) -> None:
    """TC_076_CS Delete a specific certificate from the Charge Point.

    GetInstalledCertificateIds gives the hash data; DeleteCertificate with it: Accepted, and the
    certificate is no longer listed; deleting it again: NotFound."""
    await require(cp, "DeleteCertificate", "Security")
    kind = "ManufacturerRootCertificate"
    before = await installed(cp, kind)
    assert await install(cp, kind, TestCa("OCTT delete me").pem) == "Accepted"
    [added] = [entry for entry in await installed(cp, kind) if entry not in before]
    assert (await cp.call(call.DeleteCertificate(certificate_hash_data=added))).status == "Accepted"
    assert added not in await installed(cp, kind)
    assert (await cp.call(call.DeleteCertificate(certificate_hash_data=added))).status == "NotFound"


async def test_tc_074_cs_update_charge_point_certificate_by_request_of_central_system(cp: Station) -> None:
    """TC_074_CS Update Charge Point Certificate by request of Central System.

    ExtendedTriggerMessage SignChargePointCertificate: Accepted; SignCertificate.req with a CSR
    (answered Accepted); CertificateSigned with the certificate issued for it by the CPO's CA
    (installed as CentralSystemRootCertificate): Accepted."""
    await require(cp, "CertificateSigned", "Security")
    ca = TestCa("OCTT CPO CA")
    assert await install(cp, "CentralSystemRootCertificate", ca.pem) == "Accepted"
    try:
        csr = await sign_certificate_request(cp)
        chain = cert_pem(ca.sign_csr(csr)).decode()
        assert (await cp.call(call.CertificateSigned(certificate_chain=chain))).status == "Accepted"
    finally:
        await remove_all(cp, "CentralSystemRootCertificate")


async def test_tc_077_cs_invalid_charge_point_certificate_security_event(cp: Station) -> None:
    """TC_077_CS Invalid ChargePointCertificate Security Event.

    SignCertificate flow as in TC_074_CS, but CertificateSigned carries a certificate that does
    not fit the CSR: Rejected, then SecurityEventNotification InvalidChargePointCertificate."""
    await require(cp, "CertificateSigned", "Security")
    await sign_certificate_request(cp)
    stranger = TestCa("OCTT stranger").client("somebody-else").pem
    mark = cp.csms.mark()
    assert (await cp.call(call.CertificateSigned(certificate_chain=stranger))).status == "Rejected"
    event = await cp.csms.wait_for("SecurityEventNotification",
                                   lambda p: p["type"] == "InvalidChargePointCertificate", timeout=WAIT, since=mark)
    assert event.payload["timestamp"].endswith("Z")


async def test_tc_079_cs_get_security_log(cp: Station) -> None:
    """TC_079_CS Get Security Log.

    GetLog of the SecurityLog: Accepted with a filename; LogStatusNotification Uploading then
    Uploaded, with the request's requestId; the file reaches the location."""
    await require(cp, "GetLog", "Security")
    mark = cp.csms.mark()
    with HttpUploadPeer() as peer:
        result = await cp.call(call.GetLog(log={"remoteLocation": peer.url("/log/")}, log_type="SecurityLog",
                                           request_id=79, retries=0))
        assert result.status == "Accepted" and result.filename
        await cp.csms.wait_for("LogStatusNotification", lambda p: p["status"] == "Uploaded", timeout=WAIT,
                               since=mark)
    notes = [r.payload for r in cp.csms.received[mark:] if r.action == "LogStatusNotification"]
    assert [n["status"] for n in notes] == ["Uploading", "Uploaded"]
    assert {n.get("requestId") for n in notes} == {79}
    assert [r.filename for r in peer.received] == [result.filename]
