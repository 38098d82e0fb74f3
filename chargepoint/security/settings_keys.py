"""The whitepaper's configuration keys (§7), with the access and type it gives them.

SecurityProfile and AuthorizationKey are delegated to their owners (chargepoint.security.context):
the profile persists only once it worked, the key lives in a file of its own and is write-only."""
from __future__ import annotations

from chargepoint.settings import KeySpec, Kind

CERTIFICATE_STORE_MAX_LENGTH = 20  # CentralSystemRoot + ManufacturerRoot certificates together
CERTIFICATE_SIGNED_MAX_CHAIN_SIZE = 10000  # characters; the schema's maximum
CPO_NAME_MAX_LENGTH = 64  # X.520 ub-organization-name: it becomes the O of the CSR


def security_keys(security_profile: int) -> list[KeySpec]:
    return [
        KeySpec("SecurityProfile", Kind.INT, str(security_profile), minimum=0, maximum=3),
        KeySpec("AuthorizationKey", Kind.STRING, "", maximum=40, write_only=True),
        KeySpec("CpoName", Kind.STRING, "", maximum=CPO_NAME_MAX_LENGTH),
        KeySpec("CertificateStoreMaxLength", Kind.INT, str(CERTIFICATE_STORE_MAX_LENGTH), writable=False),
        KeySpec("CertificateSignedMaxChainSize", Kind.INT, str(CERTIFICATE_SIGNED_MAX_CHAIN_SIZE), writable=False),
        # The one-root replacement scheme (M05.FR.08-13) is not implemented: read-only false.
        KeySpec("AdditionalRootCertificateCheck", Kind.BOOL, "false", writable=False),
    ]
