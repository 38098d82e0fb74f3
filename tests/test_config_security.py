"""`[ocpp]` security keys in firmware.toml: what each profile needs, and certificate or key files
that cannot be used, each reported as FILE:LINE: KEY with a fix."""
from __future__ import annotations

from pathlib import Path

from chargepoint.config import ConfigIssue, check_config, load_config
from security_pki import TestCa

HEAD = """[chargepoint]
id = "CP-1"
vendor = "Borne"
model = "Test"

[ocpp]
version = "1.6"
"""  # [ocpp] is line 6; the keys a test adds start on line 8
TAIL = """
[board]
kind = "sim"

[storage]
path = "run/borne.db"

[[evse]]
id = 1
max_current_a = 32
phases = 3

[[evse.connector]]
id = 1

[sim]
control_socket = "run/sim.sock"
"""


def check(tmp_path: Path, *ocpp_lines: str) -> list[ConfigIssue]:
    path = tmp_path / "firmware.toml"
    path.write_text(HEAD + "\n".join(ocpp_lines) + "\n" + TAIL)
    return check_config(path)


def issue(issues: list[ConfigIssue], key: str) -> ConfigIssue:
    matching = [i for i in issues if i.key == key]
    assert len(matching) == 1, "\n".join(map(str, issues))
    return matching[0]


def test_profile_3_with_everything_it_needs(tmp_path: Path) -> None:
    ca = TestCa()
    ca.write(tmp_path / "ca.pem")
    ca.client("SN-1").write(tmp_path, "cp")
    path = tmp_path / "firmware.toml"
    path.write_text(HEAD + "\n".join([
        'csms_url = "ws://csms.example.com:8080/ocpp"', 'csms_url_tls = "wss://csms.example.com:8443/ocpp"',
        "security_profile = 3", 'ca_file = "ca.pem"', 'client_certificate_file = "cp.pem"',
        'client_key_file = "cp.key"']) + "\n" + TAIL)
    config = load_config(path)
    assert config.ocpp.security_profile == 3
    assert config.ocpp.csms_url_tls == "wss://csms.example.com:8443/ocpp"
    assert config.ocpp.client_key_file == tmp_path.resolve() / "cp.key"
    assert config.ocpp.security_dir == tmp_path.resolve() / "run" / "security"


def test_profile_3_over_ws_without_a_tls_url(tmp_path: Path) -> None:
    ca = TestCa()
    ca.write(tmp_path / "ca.pem")
    ca.client("SN-1").write(tmp_path, "cp")
    issues = check(tmp_path, 'csms_url = "ws://csms.example.com/ocpp"', "security_profile = 3", 'ca_file = "ca.pem"',
                   'client_certificate_file = "cp.pem"', 'client_key_file = "cp.key"')
    found = issue(issues, "ocpp.csms_url")
    assert found.line == 8 and "csms_url_tls" in found.fix


def test_unreadable_and_wrong_certificate_files(tmp_path: Path) -> None:
    ca = TestCa()
    (tmp_path / "garbage.pem").write_text("not a certificate\n")
    ca.server("csms.example.com").write(tmp_path, "leaf")
    issues = check(tmp_path, 'csms_url = "wss://csms.example.com/ocpp"', "security_profile = 2",
                   'password_file = "pw"', 'ca_file = "missing.pem"')
    found = issue(issues, "ocpp.ca_file")
    assert found.line == 11 and "cannot be read" in found.message
    assert str(found).startswith(f"{tmp_path / 'firmware.toml'}:11: ocpp.ca_file: ")
    issues = check(tmp_path, 'csms_url = "wss://csms.example.com/ocpp"', 'ca_file = "garbage.pem"')
    assert "holds no PEM certificate" in issue(issues, "ocpp.ca_file").message
    issues = check(tmp_path, 'csms_url = "wss://csms.example.com/ocpp"', 'ca_file = "leaf.pem"')
    assert "not a CA certificate" in issue(issues, "ocpp.ca_file").message


def test_client_key_problems(tmp_path: Path) -> None:
    ca = TestCa()
    ca.write(tmp_path / "ca.pem")
    ca.client("SN-1").write(tmp_path, "cp")
    ca.client("SN-2").write(tmp_path, "other")
    base = ['csms_url = "wss://csms.example.com/ocpp"', "security_profile = 3", 'ca_file = "ca.pem"',
            'client_certificate_file = "cp.pem"']
    assert "go together" in issue(check(tmp_path, *base), "ocpp.client_key_file").message
    found = issue(check(tmp_path, *base, 'client_key_file = "other.key"'), "ocpp.client_key_file")
    assert found.line == 12 and "is not the key of the certificate" in found.message
    (tmp_path / "cp.key").chmod(0o644)
    found = issue(check(tmp_path, *base, 'client_key_file = "cp.key"'), "ocpp.client_key_file")
    assert "readable by every user" in found.message and "0600" in found.fix


def test_a_certificate_already_installed_satisfies_the_profile(tmp_path: Path) -> None:
    """After a SignCertificate or an InstallCertificate, the files need not stay in the configuration."""
    ca = TestCa()
    certs = tmp_path / "run" / "security" / "certs"
    (certs / "central-system-root").mkdir(parents=True)
    ca.write(certs / "central-system-root" / "root.pem")
    (certs / "charge-point").mkdir()
    ca.client("SN-1").write(certs / "charge-point", "20260101T000000Z-1")
    assert check(tmp_path, 'csms_url = "wss://csms.example.com/ocpp"', "security_profile = 3") == []


def test_tls_url_must_be_wss(tmp_path: Path) -> None:
    found = issue(check(tmp_path, 'csms_url = "ws://csms.example.com/ocpp"',
                        'csms_url_tls = "ws://csms.example.com:8443/ocpp"'), "ocpp.csms_url_tls")
    assert found.line == 9 and "wss://" in found.fix
