"""An HTTP(S) server for upload tests, on loopback, in a thread of its own (the uploader under
test blocks in a worker thread, the controller runs in another process): takes POST
multipart/form-data and PUT, records what arrived, and answers as the test configures it.
`make_certificate` gives the HTTPS variant a throw-away CA and server certificate."""
from __future__ import annotations

import base64
import email.parser
import email.policy
import http.server
import importlib.util
import shutil
import ssl
import subprocess
import threading
from dataclasses import dataclass, field
from pathlib import Path


@dataclass(frozen=True)
class Received:
    method: str
    path: str
    filename: str | None  # from Content-Disposition (POST) or None (PUT)
    field_name: str | None
    data: bytes
    headers: dict[str, str]


@dataclass
class HttpUploadPeer:
    """`answer` is the status for every upload; `refuse_post` answers POST with 405 (a PUT-only
    server); `credentials` ("user", "password") demands Basic authentication (401 otherwise);
    `redirect_to` answers 307 with that Location; `hold`, while clear, keeps every answer waiting
    (an upload in progress, for as long as the test wants)."""

    answer: int = 201
    refuse_post: bool = False
    credentials: tuple[str, str] | None = None
    redirect_to: str | None = None
    tls: ssl.SSLContext | None = None
    hold: threading.Event | None = None
    received: list[Received] = field(default_factory=list)
    requests: list[tuple[str, str]] = field(default_factory=list)
    _server: http.server.ThreadingHTTPServer | None = None
    _thread: threading.Thread | None = None
    _port: int | None = None

    def start(self) -> HttpUploadPeer:
        peer = self

        class Handler(http.server.BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                peer._handle(self, "POST")

            def do_PUT(self) -> None:
                peer._handle(self, "PUT")

            def log_message(self, format: str, *args: object) -> None:
                return

        server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        if self.tls is not None:
            server.socket = self.tls.wrap_socket(server.socket, server_side=True)
        self._server = server
        self._port = int(server.server_address[1])
        self._thread = threading.Thread(target=server.serve_forever, args=(0.02,), name="http-upload-peer",
                                        daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
            self._server = None
        if self._thread is not None:
            self._thread.join(5)

    def __enter__(self) -> HttpUploadPeer:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    @property
    def port(self) -> int:
        assert self._port is not None, "never started"
        return self._port

    def url(self, path: str = "/upload/", userinfo: str = "") -> str:
        scheme = "https" if self.tls is not None else "http"
        host = "localhost" if self.tls is not None else "127.0.0.1"
        return f"{scheme}://{userinfo + '@' if userinfo else ''}{host}:{self.port}{path}"

    # ---- one request, in the server's thread ----------------------------------------------------

    def _handle(self, request: http.server.BaseHTTPRequestHandler, method: str) -> None:
        length = int(request.headers.get("Content-Length", "0"))
        body = request.rfile.read(length)  # read before answering, as servers do
        if self.hold is not None:
            self.hold.wait(30)
        self.requests.append((method, request.path))
        headers = {k: v for k, v in request.headers.items()}
        status = self._status(method, headers)
        if status < 300:
            if method == "POST":
                filename, name, data = _first_file(headers.get("Content-Type", ""), body)
            else:
                filename, name, data = None, None, body
            self.received.append(Received(method, request.path, filename, name, data, headers))
        request.send_response(status)
        if status in (301, 302, 307, 308) and self.redirect_to:
            request.send_header("Location", self.redirect_to)
        if status == 401:
            request.send_header("WWW-Authenticate", 'Basic realm="uploads"')
        request.send_header("Content-Length", "0")
        request.end_headers()

    def _status(self, method: str, headers: dict[str, str]) -> int:
        if self.credentials is not None:
            expected = "Basic " + base64.b64encode(":".join(self.credentials).encode()).decode()
            if headers.get("Authorization") != expected:
                return 401
        if self.redirect_to is not None:
            return 307
        if method == "POST" and self.refuse_post:
            return 405
        return self.answer


def _first_file(content_type: str, body: bytes) -> tuple[str | None, str | None, bytes]:
    """The first file part of a multipart/form-data body: (filename, field name, content)."""
    message = email.parser.BytesParser(policy=email.policy.HTTP).parsebytes(
        f"Content-Type: {content_type}\r\n\r\n".encode() + body)
    for part in message.iter_parts():  # type: ignore[attr-defined]
        if part.get_filename() is not None:
            return part.get_filename(), part.get_param("name", header="content-disposition"), \
                part.get_payload(decode=True)
    raise AssertionError(f"no file part in the multipart body ({content_type})")


# ---- a throw-away CA and a certificate for "localhost" ----------------------------------------------


def make_certificate(directory: Path) -> tuple[Path, Path, Path]:
    """(ca.pem, server.pem, server.key) for localhost/127.0.0.1, made with `cryptography` when it
    is installed, else with the `openssl` command; fails the test when neither is available."""
    if importlib.util.find_spec("cryptography") is not None:
        return _with_cryptography(directory)
    if shutil.which("openssl") is None:
        raise AssertionError("an HTTPS test peer needs a certificate: install the `cryptography` "
                             "package or the `openssl` command")
    return _with_openssl(directory)


def _with_cryptography(directory: Path) -> tuple[Path, Path, Path]:
    import datetime
    import ipaddress

    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID

    now = datetime.datetime.now(datetime.timezone.utc)
    ca_key = ec.generate_private_key(ec.SECP256R1())
    ca_name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "Borne test CA")])
    ca = (x509.CertificateBuilder().subject_name(ca_name).issuer_name(ca_name).public_key(ca_key.public_key())
          .serial_number(x509.random_serial_number()).not_valid_before(now - datetime.timedelta(hours=1))
          .not_valid_after(now + datetime.timedelta(days=1))
          .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
          .sign(ca_key, hashes.SHA256()))
    key = ec.generate_private_key(ec.SECP256R1())
    cert = (x509.CertificateBuilder()
            .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "localhost")]))
            .issuer_name(ca_name).public_key(key.public_key()).serial_number(x509.random_serial_number())
            .not_valid_before(now - datetime.timedelta(hours=1)).not_valid_after(now + datetime.timedelta(days=1))
            .add_extension(x509.SubjectAlternativeName([x509.DNSName("localhost"),
                                                        x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]),
                           critical=False)
            .sign(ca_key, hashes.SHA256()))
    paths = directory / "ca.pem", directory / "server.pem", directory / "server.key"
    paths[0].write_bytes(ca.public_bytes(serialization.Encoding.PEM))
    paths[1].write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    paths[2].write_bytes(key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                           serialization.NoEncryption()))
    return paths


def _with_openssl(directory: Path) -> tuple[Path, Path, Path]:
    ca_key, ca, key, csr, cert = (directory / n for n in ("ca.key", "ca.pem", "server.key", "server.csr",
                                                           "server.pem"))
    ext = directory / "server.ext"
    ext.write_text("subjectAltName=DNS:localhost,IP:127.0.0.1\nbasicConstraints=CA:FALSE\n")

    def run(*args: str) -> None:
        done = subprocess.run(["openssl", *args], capture_output=True, text=True)
        assert done.returncode == 0, f"openssl {' '.join(args)} failed: {done.stderr}"

    run("req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes", "-days", "1",
        "-subj", "/CN=Borne test CA", "-keyout", str(ca_key), "-out", str(ca))
    run("req", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes", "-subj", "/CN=localhost",
        "-keyout", str(key), "-out", str(csr))
    run("x509", "-req", "-in", str(csr), "-CA", str(ca), "-CAkey", str(ca_key), "-CAcreateserial", "-days", "1",
        "-extfile", str(ext), "-out", str(cert))
    return ca, cert, key


def server_context(cert: Path, key: Path) -> ssl.SSLContext:
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(cert, key)
    return context
