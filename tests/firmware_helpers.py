"""Helpers for the firmware update tests: a manufacturer PKI, wheels of this project and of its
dependencies made without any package index (the installed distributions, packed again), real
update packages built from them, and http/https servers on loopback."""
from __future__ import annotations

import base64
import hashlib
import http.server
import importlib.metadata as metadata
import re
import ssl
import threading
import tomllib
import zipfile
from datetime import datetime, timedelta, timezone
from functools import partial
from pathlib import Path
from types import TracebackType

from cryptography import x509
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec
from packaging.markers import default_environment
from packaging.requirements import Requirement
from security_pki import Issued, TestCa, key_pem

PROJECT = Path(__file__).resolve().parent.parent
PACKAGES = ("chargepoint", "hal", "drivers")


# ---- a manufacturer hierarchy -------------------------------------------------------------------


def signing_certificate(ca: TestCa, common_name: str = "Borne Firmware Signing", days: int = 30,
                        not_before: datetime | None = None) -> Issued:
    """A Firmware Signing certificate issued directly by `ca` (no intermediate, as L01 asks)."""
    key = ec.generate_private_key(ec.SECP256R1())
    now = datetime.now(timezone.utc)
    certificate = (
        x509.CertificateBuilder()
        .subject_name(x509.Name([x509.NameAttribute(x509.NameOID.COMMON_NAME, common_name),
                                 x509.NameAttribute(x509.NameOID.ORGANIZATION_NAME, "Borne Maker")]))
        .issuer_name(ca.certificate.subject)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(not_before or now - timedelta(hours=1))
        .not_valid_after(now + timedelta(days=days))
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .add_extension(x509.KeyUsage(digital_signature=True, content_commitment=False, key_encipherment=False,
                                     data_encipherment=False, key_agreement=False, key_cert_sign=False,
                                     crl_sign=False, encipher_only=False, decipher_only=False), critical=True)
        .sign(ca.key, hashes.SHA256())
    )
    return Issued(certificate, key)


def signing_key_pem(issued: Issued) -> bytes:
    return key_pem(issued.key)


# ---- wheels without an index --------------------------------------------------------------------


def runtime_closure() -> list[str]:
    """The distributions Borne needs at run time: pyproject's dependencies and theirs."""
    pyproject = tomllib.loads((PROJECT / "pyproject.toml").read_text())
    env = default_environment()
    todo = [Requirement(r) for r in pyproject["project"]["dependencies"]]
    seen: dict[str, str] = {}
    while todo:
        req = todo.pop()
        key = re.sub(r"[-_.]+", "-", req.name).lower()
        if key in seen or (req.marker is not None and not req.marker.evaluate({**env, "extra": ""})):
            continue
        seen[key] = req.name
        todo.extend(Requirement(r) for r in metadata.requires(req.name) or [])
    return sorted(seen.values())


def repack_installed(name: str, dest: Path) -> Path:
    """A wheel of the installed distribution `name`, built from its installed files."""
    dist = metadata.distribution(name)
    info = dist.read_text("WHEEL") or ""
    tags = [line.split(":", 1)[1].strip().split("-") for line in info.splitlines() if line.startswith("Tag:")]
    tag = "-".join(".".join(dict.fromkeys(t[i] for t in tags)) for i in range(3))
    stem = re.sub(r"[-_.]+", "_", dist.metadata["Name"])
    path = dest / f"{stem}-{dist.version}-{tag}.whl"
    records, info_dir = [], ""
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as zf:
        for file in dist.files or []:
            name_ = str(file)
            if name_.startswith("..") or "__pycache__" in name_:
                continue
            top = Path(name_).parts[0]
            if top.endswith(".dist-info"):
                info_dir = top
                if Path(name_).name in ("RECORD", "INSTALLER", "REQUESTED", "direct_url.json"):
                    continue
            data = Path(str(dist.locate_file(file))).read_bytes()
            zf.writestr(name_, data)
            records.append(_record(name_, data))
        records.append(f"{info_dir}/RECORD,,")
        zf.writestr(f"{info_dir}/RECORD", "\n".join(records) + "\n")
    return path


def wheelhouse(dest: Path) -> Path:
    dest.mkdir(parents=True, exist_ok=True)
    for name in runtime_closure():
        repack_installed(name, dest)
    return dest


def borne_wheel(dest: Path, version: str, replace: dict[str, str] | None = None) -> Path:
    """A wheel of this working tree at `version`; `replace` swaps a file's text (a broken release)."""
    pyproject = tomllib.loads((PROJECT / "pyproject.toml").read_text())["project"]
    replace = replace or {}
    dist_info = f"borne-{version}.dist-info"
    metadata_text = "Metadata-Version: 2.1\nName: borne\n" + f"Version: {version}\n" + \
        f"Requires-Python: {pyproject['requires-python']}\n" + \
        "".join(f"Requires-Dist: {r}\n" for r in pyproject["dependencies"])
    scripts = "".join(f"{k} = {v}\n" for k, v in pyproject.get("scripts", {}).items())
    files: dict[str, bytes] = {}
    for package in PACKAGES:
        for path in sorted((PROJECT / package).rglob("*.py")):
            rel = path.relative_to(PROJECT).as_posix()
            files[rel] = replace[rel].encode() if rel in replace else path.read_bytes()
    files[f"{dist_info}/METADATA"] = metadata_text.encode()
    files[f"{dist_info}/WHEEL"] = (b"Wheel-Version: 1.0\nGenerator: borne-tests\nRoot-Is-Purelib: true\n"
                                   b"Tag: py3-none-any\n")
    files[f"{dist_info}/entry_points.txt"] = f"[console_scripts]\n{scripts}".encode()
    path = dest / f"borne-{version}-py3-none-any.whl"
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as zf:
        records = []
        for name, data in files.items():
            zf.writestr(name, data)
            records.append(_record(name, data))
        records.append(f"{dist_info}/RECORD,,")
        zf.writestr(f"{dist_info}/RECORD", "\n".join(records) + "\n")
    return path


def _record(name: str, data: bytes) -> str:
    digest = base64.urlsafe_b64encode(hashlib.sha256(data).digest()).rstrip(b"=").decode()
    return f"{name},sha256={digest},{len(data)}"


# ---- http and https on loopback -----------------------------------------------------------------


class _QuietHandler(http.server.SimpleHTTPRequestHandler):
    def log_message(self, format: str, *args: object) -> None:
        return None


class FileServer:
    """Serves `root` over http (or https with `tls`) on 127.0.0.1 from a thread of its own."""

    def __init__(self, root: Path, tls: ssl.SSLContext | None = None) -> None:
        self.root = root
        self.server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), partial(_QuietHandler, directory=str(root)))
        if tls is not None:
            self.server.socket = tls.wrap_socket(self.server.socket, server_side=True)
        self.scheme = "https" if tls is not None else "http"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    def url(self, name: str) -> str:
        return f"{self.scheme}://127.0.0.1:{self.server.server_address[1]}/{name}"

    def __enter__(self) -> FileServer:
        self.thread.start()
        return self

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        self.server.shutdown()
        self.server.server_close()
        self.thread.join(10)
