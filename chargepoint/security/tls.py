"""TLS towards the CSMS (security profiles 2 and 3, whitepaper §2.4-2.5): TLS 1.2 or newer,
the server's certificate path and host name verified against the installed
CentralSystemRootCertificates only, no compression, and for TLS 1.2 only the AEAD cipher suites
the whitepaper names (A00.FR.318) plus their ECDHE-RSA siblings; TLS 1.3 suites are all AEAD.

A failed connection is turned into the security event it stands for."""
from __future__ import annotations

import ssl
from collections.abc import Iterator
from pathlib import Path

from chargepoint.security.events import SecurityEvent

TLS12_CIPHERS = ":".join((
    "ECDHE-ECDSA-AES128-GCM-SHA256", "ECDHE-ECDSA-AES256-GCM-SHA384",
    "ECDHE-RSA-AES128-GCM-SHA256", "ECDHE-RSA-AES256-GCM-SHA384",
    "AES128-GCM-SHA256", "AES256-GCM-SHA384",  # TLS_RSA_*: no forward secrecy, last resort
))

# OpenSSL verify codes for a certificate that is valid but names another host.
_HOSTNAME_MISMATCH = {62, 64}  # X509_V_ERR_HOSTNAME_MISMATCH, X509_V_ERR_IP_ADDRESS_MISMATCH
_VERSION_REASONS = {"UNSUPPORTED_PROTOCOL", "TLSV1_ALERT_PROTOCOL_VERSION", "WRONG_SSL_VERSION",
                    "VERSION_TOO_LOW", "NO_PROTOCOLS_AVAILABLE", "UNKNOWN_PROTOCOL"}
_CIPHER_REASONS = {"NO_SHARED_CIPHER", "NO_CIPHERS_AVAILABLE", "SSLV3_ALERT_HANDSHAKE_FAILURE",
                   "NO_SUITABLE_SIGNATURE_ALGORITHM", "WRONG_CIPHER_RETURNED"}
# Alerts a server sends when it does not accept the charge point's certificate.
_CLIENT_CERTIFICATE_REASONS = {"TLSV13_ALERT_CERTIFICATE_REQUIRED", "SSLV3_ALERT_BAD_CERTIFICATE",
                               "TLSV1_ALERT_UNKNOWN_CA", "SSLV3_ALERT_CERTIFICATE_UNKNOWN",
                               "SSLV3_ALERT_CERTIFICATE_EXPIRED", "SSLV3_ALERT_CERTIFICATE_REVOKED",
                               "SSLV3_ALERT_UNSUPPORTED_CERTIFICATE", "TLSV1_ALERT_ACCESS_DENIED",
                               "TLSV1_ALERT_DECRYPT_ERROR"}


def client_context(trusted_roots_pem: str, identity: tuple[Path, Path] | None = None) -> ssl.SSLContext:
    """A context that trusts exactly `trusted_roots_pem` (none: nothing verifies) and presents
    `identity` (certificate chain file, key file) when given."""
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)  # check_hostname and CERT_REQUIRED
    context.minimum_version = ssl.TLSVersion.TLSv1_2
    context.set_ciphers(TLS12_CIPHERS)
    context.options |= ssl.OP_NO_COMPRESSION
    # A00.FR.308: the Central System certificate's CN names the server; SANs take precedence.
    context.hostname_checks_common_name = True
    if trusted_roots_pem.strip():
        context.load_verify_locations(cadata=trusted_roots_pem)
    if identity is not None:
        context.load_cert_chain(certfile=str(identity[0]), keyfile=str(identity[1]))
    return context


def _causes(exc: BaseException) -> Iterator[BaseException]:
    seen: set[int] = set()
    current: BaseException | None = exc
    while current is not None and id(current) not in seen:
        seen.add(id(current))
        yield current
        current = current.__cause__ or current.__context__


def classify_failure(exc: BaseException) -> tuple[SecurityEvent, str] | None:
    """The security event a failed connection attempt stands for, with techInfo; None for
    failures that say nothing about security (refused, unreachable, timed out)."""
    for cause in _causes(exc):
        if isinstance(cause, ssl.SSLCertVerificationError):
            detail = cause.verify_message or str(cause)
            if cause.verify_code in _HOSTNAME_MISMATCH:
                return SecurityEvent.CENTRAL_SYSTEM_FAILED_TO_AUTHENTICATE, f"server certificate: {detail}"
            return SecurityEvent.INVALID_CENTRAL_SYSTEM_CERTIFICATE, f"server certificate: {detail}"
        if isinstance(cause, ssl.SSLError):
            reason = cause.reason or ""
            if reason in _VERSION_REASONS:
                return SecurityEvent.INVALID_TLS_VERSION, f"TLS handshake: {reason}"
            if reason in _CIPHER_REASONS:
                return SecurityEvent.INVALID_TLS_CIPHER_SUITE, f"TLS handshake: {reason}"
            if reason in _CLIENT_CERTIFICATE_REASONS:
                return SecurityEvent.FAILED_TO_AUTHENTICATE_AT_CENTRAL_SYSTEM, f"TLS alert: {reason}"
        status = getattr(getattr(cause, "response", None), "status_code", None)
        if status in (401, 403):
            return SecurityEvent.FAILED_TO_AUTHENTICATE_AT_CENTRAL_SYSTEM, f"HTTP {status} on the WebSocket handshake"
    return None
