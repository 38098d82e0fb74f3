"""The OCPP security whitepaper's charge point side, protocol-neutral: certificates and keys
(certificates, identity, csr), the AuthorizationKey, the raise-only SecurityProfile, the TLS
settings, and security events with their log. docs/security.md describes the behaviour."""
