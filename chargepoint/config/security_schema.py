"""The security keys of `[ocpp]` (OCPP 1.6 security whitepaper profiles 0-3): what each profile
needs, and whether the certificate and key files it names can be used, so that `config check`
finds a broken TLS set-up before the charge point tries to connect."""
from __future__ import annotations

import stat
from pathlib import Path
from typing import Any


from chargepoint.config.validation import Section
from chargepoint.lazy_modules import lazy

# cryptography is loaded when first used (see chargepoint/lazy_modules.py).
x509 = lazy("cryptography.x509")
serialization = lazy("cryptography.hazmat.primitives.serialization")

SECURITY_KEYS = ("password_file", "csms_url_tls", "ca_file", "client_certificate_file", "client_key_file",
                 "security_dir")

PROFILE_FIX = (
    "0 (no authentication), 1 (Basic auth), 2 (Basic auth over TLS) or 3 (TLS with a client certificate)"
)
_PATH_NOTE = "relative paths start from the directory of the configuration file"
PASSWORD_FILE_FIX = f"the path of a file holding the Basic-auth password; {_PATH_NOTE}"
_CA_FILE_FIX = (
    "the path of a PEM file with the CSMS's root certificate(s) (CentralSystemRootCertificate), "
    f"installed at the first start; {_PATH_NOTE}"
)
_CLIENT_CERT_FIX = (
    "the path of a PEM file with the charge point certificate (and its intermediates), "
    f"with client_key_file beside it; {_PATH_NOTE}"
)
_CLIENT_KEY_FIX = f"the path of the PEM private key of client_certificate_file, mode 0600; {_PATH_NOTE}"
_TLS_URL_FIX = 'a wss:// URL with a host, without the charge point id, e.g. "wss://csms.example.com/ocpp"'
_SECURITY_DIR_FIX = (
    f"a directory for keys, certificates and the security log (default: security/ beside the database); {_PATH_NOTE}"
)


def read_security(root: Section, s: Section, profile: int | None, url: str | None) -> dict[str, Any]:
    """The security fields of OcppConfig, with every problem reported on its key."""
    fields: dict[str, Any] = {
        "password_file": s.path("password_file", default=None, fix=PASSWORD_FILE_FIX),
        "csms_url_tls": _tls_url(s),
        "ca_file": s.path("ca_file", default=None, fix=_CA_FILE_FIX),
        "client_certificate_file": s.path("client_certificate_file", default=None, fix=_CLIENT_CERT_FIX),
        "client_key_file": s.path("client_key_file", default=None, fix=_CLIENT_KEY_FIX),
        "security_dir": s.path("security_dir", default=None, fix=_SECURITY_DIR_FIX),
    }
    if fields["security_dir"] is None:
        fields["security_dir"] = _default_security_dir(root)
    if profile in (1, 2) and "password_file" not in s.data:
        s.fail("password_file", f"security profile {profile} uses Basic auth, but no password_file is set",
               f"password_file = {PASSWORD_FILE_FIX}")
    if profile == 2 and url is not None and not url.startswith("wss://") and fields["csms_url_tls"] is None:
        s.fail("csms_url", "security profile 2 sends the password over TLS, but the URL starts with ws://",
               "a wss:// URL (or csms_url_tls), or security_profile = 1 for Basic auth without TLS")
    if profile == 3 and url is not None and not url.startswith("wss://") and fields["csms_url_tls"] is None:
        s.fail("csms_url", "security profile 3 is TLS, but the URL starts with ws://",
               "a wss:// URL (or csms_url_tls)")
    _check_ca_file(s, fields, profile)
    _check_client_certificate(s, fields, profile)
    return fields


def _tls_url(s: Section) -> str | None:
    url = s.string("csms_url_tls", default=None, fix=_TLS_URL_FIX)
    if url is not None and (not url.startswith("wss://") or any(c.isspace() for c in url) or "?" in url or "#" in url):
        s.fail("csms_url_tls", f'"{url}" is not a wss:// URL without query or fragment', _TLS_URL_FIX)
        return None
    return url


def _default_security_dir(root: Section) -> Path | None:
    storage = root.data.get("storage")
    path = storage.get("path") if isinstance(storage, dict) else None
    if not isinstance(path, str) or not path.strip():
        return None
    return (root.checker.base_dir / path).parent / "security"


def _installed(directory: Path | None, folder: str, pattern: str) -> bool:
    folder_path = directory / "certs" / folder if directory is not None else None
    return folder_path is not None and folder_path.is_dir() and any(folder_path.glob(pattern))


def _check_ca_file(s: Section, fields: dict[str, Any], profile: int | None) -> None:
    path: Path | None = fields["ca_file"]
    if path is not None:
        certificates = _read_certificates(s, "ca_file", path, _CA_FILE_FIX)
        for certificate in certificates or []:
            if not _is_ca(certificate):
                s.fail("ca_file", f"{path} holds a certificate that is not a CA certificate "
                       f"({certificate.subject.rfc4514_string()})", _CA_FILE_FIX)
                break
    elif profile in (2, 3) and not _installed(fields["security_dir"], "central-system-root", "*.pem"):
        s.fail("ca_file", f"security profile {profile} verifies the CSMS's certificate, but no ca_file is set "
               "and no CentralSystemRootCertificate is installed", f"ca_file = {_CA_FILE_FIX}")


def _check_client_certificate(s: Section, fields: dict[str, Any], profile: int | None) -> None:
    certificate_file: Path | None = fields["client_certificate_file"]
    key_file: Path | None = fields["client_key_file"]
    if (certificate_file is None) != (key_file is None):
        missing = "client_key_file" if key_file is None else "client_certificate_file"
        s.fail(missing, "client_certificate_file and client_key_file go together, but this one is missing",
               _CLIENT_KEY_FIX if key_file is None else _CLIENT_CERT_FIX)
        return
    if certificate_file is None or key_file is None:
        if profile == 3 and not _installed(fields["security_dir"], "charge-point", "*.pem"):
            s.fail("client_certificate_file", "security profile 3 needs a charge point certificate, but none is "
                   "set and none is installed", f"client_certificate_file = {_CLIENT_CERT_FIX}")
        return
    certificates = _read_certificates(s, "client_certificate_file", certificate_file, _CLIENT_CERT_FIX)
    key = _read_key(s, key_file)
    if certificates and key is not None:
        public = serialization.PublicFormat.SubjectPublicKeyInfo
        if (certificates[0].public_key().public_bytes(serialization.Encoding.DER, public)
                != key.public_key().public_bytes(serialization.Encoding.DER, public)):
            s.fail("client_key_file", f"{key_file} is not the key of the certificate in {certificate_file}",
                   _CLIENT_KEY_FIX)


def _read_certificates(s: Section, key: str, path: Path, fix: str) -> list[x509.Certificate] | None:
    try:
        certificates = x509.load_pem_x509_certificates(path.read_bytes())
    except OSError as exc:
        s.fail(key, f"{path} cannot be read: {exc.strerror or exc}", fix)
        return None
    except ValueError:
        certificates = []
    if not certificates:
        s.fail(key, f"{path} holds no PEM certificate", fix)
        return None
    return certificates


def _read_key(s: Section, path: Path) -> Any:
    try:
        mode = path.stat().st_mode
        data = path.read_bytes()
    except OSError as exc:
        s.fail("client_key_file", f"{path} cannot be read: {exc.strerror or exc}", _CLIENT_KEY_FIX)
        return None
    if mode & (stat.S_IROTH | stat.S_IWOTH):
        s.fail("client_key_file", f"{path} is readable by every user (mode {stat.S_IMODE(mode):04o})",
               "chmod 0600 (or 0640 with the service's group) so that only the charge point reads its key")
        return None
    try:
        return serialization.load_pem_private_key(data, password=None)
    except (ValueError, TypeError):
        s.fail("client_key_file", f"{path} holds no unencrypted PEM private key", _CLIENT_KEY_FIX)
        return None


def _is_ca(certificate: x509.Certificate) -> bool:
    try:
        return bool(certificate.extensions.get_extension_for_class(x509.BasicConstraints).value.ca)
    except x509.ExtensionNotFound:
        return False
