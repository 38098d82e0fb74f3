"""Everything security for one running controller, wired together: the trust store, the charge
point's identity, the AuthorizationKey, the SecurityProfile, events and the security log.

The connection asks it how to connect (`plan`) and tells it how that went (`connected`,
`failed`, `disconnected`); the OCPP adapter hands it the CSMS's certificate operations."""
from __future__ import annotations

import asyncio
import logging
import ssl
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path


from chargepoint.config import Config
from chargepoint.security.authorization_key import AuthorizationKey, acceptable_key, basic_auth_header
from chargepoint.security.certificates import CertificateStore, CertificateUse, DeleteStatus, InstallStatus
from chargepoint.security.events import SecurityEvent, SecurityEvents
from chargepoint.security.identity import ChargePointIdentity
from chargepoint.security.profiles import SecurityProfiles
from chargepoint.security.security_log import SecurityLog
from chargepoint.security.settings_keys import CERTIFICATE_SIGNED_MAX_CHAIN_SIZE, CERTIFICATE_STORE_MAX_LENGTH
from chargepoint.security.tls import classify_failure, client_context
from chargepoint.security.x509_checks import CertificateError, CertificateHashData, issued_by
from chargepoint.settings import ChangeResult, Settings
from chargepoint.store import Store
from hal.clock import Clock
from chargepoint.lazy_modules import lazy

# cryptography is loaded when first used (see chargepoint/lazy_modules.py).
x509 = lazy("cryptography.x509")
hashes = lazy("cryptography.hazmat.primitives.hashes")

log = logging.getLogger(__name__)

# A03: the charge point asks for a new certificate when its own expires within a month.
RESTART_REASON = "borne.restart_reason"  # why the previous process restarted itself, until reported
RENEW_BEFORE = timedelta(days=30)


@dataclass(frozen=True)
class ConnectPlan:
    """How to open the next connection. `tls` is None for ws:// (and for wss:// with profiles 0
    and 1 when no CSMS root is installed: the system's trust store then decides)."""

    url: str
    headers: dict[str, str]
    tls: ssl.SSLContext | None
    profile: int


def security_directory(config: Config) -> Path:
    return config.ocpp.security_dir or config.storage.path.parent / "security"


class SecurityContext:
    def __init__(self, config: Config, store: Store, settings: Settings, clock: Clock) -> None:
        self.config = config
        self.store = store
        self.settings = settings
        self.clock = clock
        ocpp = config.ocpp
        self.directory = security_directory(config)
        self.certificates = CertificateStore(self.directory / "certs", CERTIFICATE_STORE_MAX_LENGTH)
        provisioned = None
        if ocpp.client_certificate_file is not None and ocpp.client_key_file is not None:
            provisioned = (ocpp.client_certificate_file, ocpp.client_key_file)
        self.identity = ChargePointIdentity(self.directory / "certs" / "charge-point", provisioned)
        self.authorization_key = AuthorizationKey(self.directory / "authorization_key", ocpp.password_file)
        self.security_log = SecurityLog(self.directory / "security.log")
        self.events = SecurityEvents(store, self.security_log, clock)
        self.events_queued = asyncio.Event()  # wakes the adapter's SecurityEventNotification sender
        self.events.on_queued(self.events_queued.set)
        self.reconnect = asyncio.Event()  # set: close the connection and open a new one now
        self.renewal_check = asyncio.Event()  # set: look again whether a certificate is due
        self._reconnect_requested = False
        self._renewals_requested: set[bytes] = set()
        self._server_chain: list[x509.Certificate] = []
        self.profiles = SecurityProfiles(ocpp.security_profile, store, self.events, self._missing_for,
                                         self.request_reconnect)
        if ocpp.ca_file is not None:
            self.certificates.seed(CertificateUse.CENTRAL_SYSTEM_ROOT, ocpp.ca_file, clock.now())
        settings.delegate("SecurityProfile", self.profiles)
        settings.delegate("AuthorizationKey", _AuthorizationKeyChange(self))
        settings.on_change(self._setting_changed)

    # ---- the connection -----------------------------------------------------------------------

    def plan(self) -> ConnectPlan:
        profile = self.profiles.current
        ocpp = self.config.ocpp
        base = ocpp.csms_url
        if profile >= 2:
            base = ocpp.csms_url_tls or (base.replace("ws://", "wss://", 1) if base.startswith("ws://") else base)
        url = base.rstrip("/") + "/" + self.config.chargepoint.id
        headers: dict[str, str] = {}
        if profile in (1, 2):
            key = self.authorization_key.get()
            if key is None:
                log.error("security profile %d needs an AuthorizationKey, and there is none", profile)
            else:
                headers = basic_auth_header(self.config.chargepoint.id, key)
        context = None
        if url.startswith("wss://"):
            roots = self.certificates.pem(CertificateUse.CENTRAL_SYSTEM_ROOT)
            if profile >= 2 or roots:
                context = self._tls_context(roots, self._client_identity() if profile == 3 else None)
        return ConnectPlan(url, headers, context, profile)

    def _tls_context(self, roots: str, identity: tuple[Path, Path] | None) -> ssl.SSLContext:
        """Never fails: a client certificate that cannot be loaded is left out (the CSMS then
        refuses the connection, which is reported), rather than stopping every attempt."""
        try:
            return client_context(roots, identity)
        except (OSError, ssl.SSLError, ValueError) as exc:
            log.error("the TLS settings cannot be loaded (%s); connecting without a client certificate",
                      type(exc).__name__)
            try:
                return client_context(roots)
            except (OSError, ssl.SSLError, ValueError):
                return client_context("")

    def _client_identity(self) -> tuple[Path, Path] | None:
        identity = self.identity.active(self.clock.now())
        if identity is None:
            log.error("security profile 3 needs a valid charge point certificate, and there is none")
            return None
        return identity.certificate_file, identity.key_file

    def connected(self, server_chain_der: list[bytes]) -> None:
        """The WebSocket opened. `server_chain_der`: the verified chain, leaf first, root last
        (only the leaf when the chain is not available; empty without TLS)."""
        try:
            self._server_chain = [x509.load_der_x509_certificate(der) for der in server_chain_der]
        except ValueError:
            self._server_chain = []
        self.events.connection_established()
        self.profiles.connected()
        self.renewal_check.set()

    def failed(self, exc: BaseException) -> None:
        found = classify_failure(exc)
        if found is not None:
            self.events.emit(found[0], found[1], once_per_connection=True)
        self.profiles.failed()

    def disconnected(self) -> None:
        self._server_chain = []

    def request_reconnect(self) -> None:
        """Reconnect once the answer to the current CSMS call is out (`reconnect_if_requested`)."""
        self._reconnect_requested = True

    def reconnect_if_requested(self) -> None:
        if self._reconnect_requested:
            self._reconnect_requested = False
            self.reconnect.set()

    def root_in_use(self, root: x509.Certificate) -> bool:
        """Whether `root` anchors the current connection's server certificate (M04.FR.06)."""
        if not self._server_chain:
            return False
        if len(self._server_chain) > 1:
            return self._server_chain[-1] == root
        return issued_by(self._server_chain[0], root)

    # ---- prerequisites of a SecurityProfile (A05.FR.02-04) -----------------------------------

    def _missing_for(self, profile: int) -> str | None:
        if profile in (1, 2) and self.authorization_key.get() is None:
            return "no AuthorizationKey is set"
        if profile in (2, 3) and not self.certificates.certificates(CertificateUse.CENTRAL_SYSTEM_ROOT):
            return "no CentralSystemRootCertificate is installed"
        if profile == 3 and self.identity.active(self.clock.now()) is None:
            return "no valid Charge Point certificate is installed"
        return None

    # ---- certificates the CSMS manages ---------------------------------------------------------

    def install_certificate(self, use: CertificateUse, pem: str) -> InstallStatus:
        status = self.certificates.install(use, pem, self.clock.now())
        if status is InstallStatus.ACCEPTED:
            self.events.emit(SecurityEvent.RECONFIGURATION_OF_SECURITY_PARAMETERS, f"{use.value} installed")
        return status

    def delete_certificate(self, wanted: CertificateHashData) -> DeleteStatus:
        status = self.certificates.delete(wanted, self.root_in_use)
        if status is DeleteStatus.ACCEPTED:
            self.events.emit(SecurityEvent.RECONFIGURATION_OF_SECURITY_PARAMETERS,
                             f"certificate with serial {wanted.serial_number} deleted")
        return status

    def installed_ids(self, use: CertificateUse, algorithm: str = "SHA256") -> list[CertificateHashData]:
        return self.certificates.installed_ids(use, algorithm)

    # ---- the charge point certificate (A02, A03) ------------------------------------------------

    def cpo_name(self) -> str:
        return self.settings.raw("CpoName")

    def begin_signing_request(self) -> str | None:
        """A new key pair and its CSR (PEM), or None when CpoName is not set (the A02/A03
        prerequisite: it is the O of the certificate)."""
        organization = self.cpo_name()
        if not organization:
            log.warning("no certificate signing request: CpoName is not set")
            return None
        cp = self.config.chargepoint
        return self.identity.begin_request(cp.serial_number or cp.id, organization)

    def accept_signed_certificate(self, chain_pem: str) -> bool:
        """CertificateSigned.req: True when the chain was installed (a TLS client identity from
        its notBefore on); otherwise it is discarded with an InvalidChargePointCertificate event."""
        try:
            if len(chain_pem) > CERTIFICATE_SIGNED_MAX_CHAIN_SIZE:
                raise CertificateError(f"the chain is longer than {CERTIFICATE_SIGNED_MAX_CHAIN_SIZE} characters")
            roots = self.certificates.certificates(CertificateUse.CENTRAL_SYSTEM_ROOT)
            leaf = self.identity.accept(chain_pem, roots, self.clock.now())
        except CertificateError as exc:
            self.events.emit(SecurityEvent.INVALID_CHARGE_POINT_CERTIFICATE, str(exc))
            return False
        except OSError as exc:
            log.error("could not store the charge point certificate: %s", exc)
            return False
        self.events.emit(SecurityEvent.RECONFIGURATION_OF_SECURITY_PARAMETERS,
                         f"Charge Point certificate installed (serial {leaf.serial_number:X})")
        if self.profiles.current == 3:
            self.request_reconnect()
        return True

    def renewal_due(self) -> bool:
        """A03: the certificate in use expires within a month, CpoName is set, and no renewal of
        it was asked for yet (a CA that does not answer is not asked again and again)."""
        now = self.clock.now()
        identity = self.identity.active(now)
        if identity is None or not self.cpo_name():
            return False
        if identity.certificate.not_valid_after_utc - now > RENEW_BEFORE:
            return False
        return identity.certificate.fingerprint(hashes.SHA256()) not in self._renewals_requested

    def renewal_requested(self) -> None:
        identity = self.identity.active(self.clock.now())
        if identity is not None:
            self._renewals_requested.add(identity.certificate.fingerprint(hashes.SHA256()))

    # ---- the device ----------------------------------------------------------------------------

    def note_restart(self, reason: str) -> None:
        """A restart was asked for (Reset, a firmware installation): reported as ResetOrReboot by
        the process that comes up, after its BootNotification like every queued event."""
        self.store.save_setting(RESTART_REASON, reason)

    def watch_storage(self) -> None:
        """MemoryExhaustion when the queue of MeterValues overflows (the oldest are dropped to
        keep the disk from filling while the CSMS is unreachable)."""
        def overflow(limit: int) -> None:
            self.events.emit(SecurityEvent.MEMORY_EXHAUSTION,
                             f"{limit} queued MeterValues: the oldest are being dropped")
        self.store.on_meter_overflow = overflow

    def report_startup(self) -> None:
        self.events.emit(SecurityEvent.STARTUP_OF_THE_DEVICE, f"security profile {self.profiles.current}")
        reason = self.store.load_settings().get(RESTART_REASON)
        if reason:
            self.events.emit(SecurityEvent.RESET_OR_REBOOT, reason)
            self.store.save_setting(RESTART_REASON, "")

    def _setting_changed(self, name: str, _value: str) -> None:
        if name == "CpoName":
            self.events.emit(SecurityEvent.RECONFIGURATION_OF_SECURITY_PARAMETERS, "CpoName changed")
            self.renewal_check.set()


class _AuthorizationKeyChange:
    """ChangeConfiguration(AuthorizationKey), A01: checked, stored, logged as a security event
    without its value, and used from a new connection on when Basic auth is in use."""

    def __init__(self, context: SecurityContext) -> None:
        self.context = context

    def read(self) -> str:
        return ""

    def change(self, value: str) -> ChangeResult:
        key = value.strip()
        if not acceptable_key(key):
            log.warning("AuthorizationKey refused: it must be 16 to 20 bytes written as 32 to 40 hex digits")
            return ChangeResult.REJECTED
        try:
            self.context.authorization_key.set(key)
        except Exception as exc:  # never let the library log the request, which holds the key
            log.error("the new AuthorizationKey could not be stored: %s", type(exc).__name__)
            return ChangeResult.REJECTED
        self.context.events.emit(SecurityEvent.RECONFIGURATION_OF_SECURITY_PARAMETERS, "AuthorizationKey changed")
        if self.context.profiles.current in (1, 2):
            self.context.request_reconnect()
        return ChangeResult.ACCEPTED
