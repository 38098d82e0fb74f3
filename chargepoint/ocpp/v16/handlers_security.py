"""OCPP 1.6 security whitepaper operations the CSMS calls for certificates: CertificateSigned
(A02/A03), InstallCertificate (M05), DeleteCertificate (M04) and GetInstalledCertificateIds (M03).
The security context decides; these map the request onto it and the answer back.

Changes that need a new connection (a raised SecurityProfile, a new AuthorizationKey, a new
charge point certificate while profile 3 is in use) reconnect from the `@after` hooks, once the
answer is on the wire. This mixin owns `@after(change_configuration)`: the library keeps one
hook per action."""
from __future__ import annotations

from typing import TYPE_CHECKING, Any

from ocpp.routing import after, on
from ocpp.v16 import call_result
from ocpp.v16.enums import Action

from chargepoint.security.certificates import CertificateUse, DeleteStatus, InstallStatus
from chargepoint.security.x509_checks import CertificateHashData

if TYPE_CHECKING:
    from chargepoint.ocpp.v16.link import V16Link


class SecurityOperations:
    """Mixed into the 1.6 session."""

    link: V16Link

    @on(Action.certificate_signed)
    def on_certificate_signed(self, certificate_chain: str, **_: Any) -> call_result.CertificateSigned:
        security = self.link.security
        ok = security is not None and security.accept_signed_certificate(certificate_chain)
        return call_result.CertificateSigned(status="Accepted" if ok else "Rejected")

    @after(Action.certificate_signed)
    def after_certificate_signed(self, **_: Any) -> None:
        self._reconnect_if_requested()

    @after(Action.change_configuration)
    def after_change_configuration(self, **_: Any) -> None:
        self._reconnect_if_requested()

    def _reconnect_if_requested(self) -> None:
        if self.link.security is not None:
            self.link.security.reconnect_if_requested()

    @on(Action.install_certificate)
    def on_install_certificate(self, certificate_type: str, certificate: str,
                               **_: Any) -> call_result.InstallCertificate:
        security = self.link.security
        status = (InstallStatus.FAILED if security is None
                  else security.install_certificate(CertificateUse(certificate_type), certificate))
        return call_result.InstallCertificate(status=status.value)

    @on(Action.delete_certificate)
    def on_delete_certificate(self, certificate_hash_data: dict[str, Any],
                              **_: Any) -> call_result.DeleteCertificate:
        security = self.link.security
        wanted = CertificateHashData(
            hash_algorithm=certificate_hash_data["hash_algorithm"],
            issuer_name_hash=certificate_hash_data["issuer_name_hash"],
            issuer_key_hash=certificate_hash_data["issuer_key_hash"],
            serial_number=certificate_hash_data["serial_number"],
        )
        status = DeleteStatus.FAILED if security is None else security.delete_certificate(wanted)
        return call_result.DeleteCertificate(status=status.value)

    @on(Action.get_installed_certificate_ids)
    def on_get_installed_certificate_ids(self, certificate_type: str,
                                         **_: Any) -> call_result.GetInstalledCertificateIds:
        security = self.link.security
        ids = [] if security is None else security.installed_ids(CertificateUse(certificate_type))
        if not ids:
            return call_result.GetInstalledCertificateIds(status="NotFound")
        return call_result.GetInstalledCertificateIds(status="Accepted", certificate_hash_data=[
            {"hash_algorithm": i.hash_algorithm, "issuer_name_hash": i.issuer_name_hash,
             "issuer_key_hash": i.issuer_key_hash, "serial_number": i.serial_number} for i in ids])
