"""firmware.toml loading: every problem reported at once, each with its file, line, key and fix."""
from __future__ import annotations

import os
import tomllib
from pathlib import Path

import pytest

from chargepoint.config import ConfigError, ConfigIssue, check_config, load_config
from chargepoint.config.lines import format_key, locate_lines, parse_key

ROOT = Path(__file__).resolve().parent.parent

# Line numbers below are asserted exactly; keep BASE's layout in sync with this map.
BASE_LINES = [
    "[chargepoint]",  # 1
    'id = "BORNE-SIM-001"',  # 2
    'vendor = "Borne"',  # 3
    'model = "Borne Sim"',  # 4
    "",  # 5
    "[ocpp]",  # 6
    'version = "1.6"',  # 7
    'csms_url = "ws://127.0.0.1:9000/ocpp"',  # 8
    "heartbeat_interval_s = 300",  # 9
    "security_profile = 0",  # 10
    "",  # 11
    "[board]",  # 12
    'kind = "sim"',  # 13
    "",  # 14
    "[storage]",  # 15
    'path = "run/borne.db"',  # 16
    "",  # 17
    "[[evse]]",  # 18
    "id = 1",  # 19
    "max_current_a = 32",  # 20
    "phases = 3",  # 21
    "",  # 22
    "[[evse.connector]]",  # 23
    "id = 1",  # 24
    'type = "Type2Socket"',  # 25
    "",  # 26
    "[auth]",  # 27
    'whitelist = ["TECH-0001"]',  # 28
    "",  # 29
    "[sim]",  # 30
    'control_socket = "run/sim.sock"',  # 31
]


def config_text(replace: dict[int, str] | None = None, append: list[str] | None = None) -> str:
    """BASE with some lines replaced (by 1-based number) and lines appended after line 31."""
    lines = list(BASE_LINES)
    for number, text in (replace or {}).items():
        lines[number - 1] = text
    return "\n".join(lines + (append or [])) + "\n"


def write(tmp_path: Path, text: str, name: str = "firmware.toml") -> Path:
    path = tmp_path / name
    path.write_text(text, encoding="utf-8")
    return path


def issues_for(tmp_path: Path, replace: dict[int, str] | None = None, append: list[str] | None = None) -> list[ConfigIssue]:
    return check_config(write(tmp_path, config_text(replace, append)))


def only(issues: list[ConfigIssue], key: str) -> ConfigIssue:
    """The single issue naming `key`; fails with the whole list when there is not exactly one."""
    matching = [issue for issue in issues if issue.key == key]
    assert len(matching) == 1, "\n".join(str(issue) for issue in issues)
    return matching[0]


# -- valid files --------------------------------------------------------------------------------


def test_shipped_firmware_toml_loads() -> None:
    config = load_config(ROOT / "firmware.toml")
    assert config.source == (ROOT / "firmware.toml").resolve()
    assert config.chargepoint.id == "BORNE-SIM-001"
    assert config.chargepoint.vendor == "Borne"
    assert config.chargepoint.model == "Borne Sim"
    assert config.ocpp.version == "1.6"
    assert config.ocpp.csms_url == "ws://127.0.0.1:9000/ocpp"
    assert config.board.kind == "sim"
    assert len(config.evses) == 1
    evse = config.evses[0]
    assert (evse.id, evse.max_current_a, evse.phases) == (1, 32.0, 3)
    assert [(c.id, c.type) for c in evse.connectors] == [(1, "Type2Socket")]
    assert config.auth.whitelist == ("TECH-0001",)
    assert config.storage.path == ROOT / "run" / "borne.db"
    assert config.sim is not None and config.sim.control_socket == ROOT / "run" / "sim.sock"
    assert check_config(ROOT / "firmware.toml") == []


def test_defaults_apply_and_types_are_normalised(tmp_path: Path) -> None:
    config = load_config(write(tmp_path, config_text(replace={25: ""})))
    assert config.ocpp.heartbeat_interval_s == 300
    assert config.ocpp.security_profile == 0
    assert config.ocpp.password_file is None
    assert (config.ocpp.response_timeout_s, config.ocpp.ping_interval_s, config.ocpp.ping_timeout_s) == (30, 30, 20)
    assert (config.ocpp.reconnect_min_s, config.ocpp.reconnect_max_s) == (1, 60)
    assert config.board.control_period_ms == 5
    assert config.evses[0].nominal_voltage_v == 230
    assert config.evses[0].connectors[0].type == "Type2Socket"
    assert config.logging.level == "INFO"
    assert isinstance(config.evses[0].max_current_a, float)
    assert isinstance(config.evses, tuple) and isinstance(config.evses[0].connectors, tuple)
    assert isinstance(config.auth.whitelist, tuple)


def test_optional_tables_may_be_left_out(tmp_path: Path) -> None:
    config = load_config(write(tmp_path, config_text(replace={27: "", 28: ""})))
    assert config.auth.whitelist == ()
    assert config.logging.level == "INFO"


def test_logging_level_is_case_insensitive_and_stored_upper_case(tmp_path: Path) -> None:
    config = load_config(write(tmp_path, config_text(append=["[logging]", 'level = "debug"'])))
    assert config.logging.level == "DEBUG"


def test_two_evses_with_consecutive_ids(tmp_path: Path) -> None:
    second = ["[[evse]]", "id = 2", "max_current_a = 16.5", "phases = 1", "[[evse.connector]]", "id = 1", 'type = "Type2Cable"']
    config = load_config(write(tmp_path, config_text(append=second)))
    assert [e.id for e in config.evses] == [1, 2]
    assert config.evses[1].max_current_a == 16.5
    assert config.evses[1].connectors[0].type == "Type2Cable"


def test_inline_array_of_tables_is_accepted(tmp_path: Path) -> None:
    inline = "evse = [{ id = 1, max_current_a = 10, phases = 1, connector = [{ id = 1 }] }]\n"
    config = load_config(write(tmp_path, inline + config_text(replace={n: "" for n in range(18, 26)})))
    assert config.evses[0].max_current_a == 10.0
    assert config.evses[0].connectors[0].id == 1


# -- one kind of error at a time ---------------------------------------------------------------


def test_missing_required_key_points_at_its_table_header(tmp_path: Path) -> None:
    issue = only(issues_for(tmp_path, replace={8: ""}), "ocpp.csms_url")
    assert issue.line == 6
    assert "missing" in issue.message
    assert "ws://" in issue.fix


def test_missing_required_key_in_array_of_tables(tmp_path: Path) -> None:
    issue = only(issues_for(tmp_path, replace={20: ""}), "evse[0].max_current_a")
    assert issue.line == 18
    assert "6 to 80" in issue.fix


def test_missing_required_table(tmp_path: Path) -> None:
    issues = issues_for(tmp_path, replace={15: "", 16: ""})
    issue = only(issues, "storage")
    assert issue.line is None
    assert "missing" in issue.message
    assert len(issues) == 1, "a missing table is one issue, not one per key"


def test_sim_table_required_for_the_sim_board(tmp_path: Path) -> None:
    issue = only(issues_for(tmp_path, replace={30: "", 31: ""}), "sim")
    assert "missing" in issue.message
    assert "board.kind" in issue.fix


@pytest.mark.parametrize(
    ("line", "text", "key", "expected"),
    [
        (9, 'heartbeat_interval_s = "300"', "ocpp.heartbeat_interval_s", "expected an integer"),
        (9, "heartbeat_interval_s = 300.0", "ocpp.heartbeat_interval_s", "expected an integer"),
        (20, "max_current_a = true", "evse[0].max_current_a", "expected a number"),
        (20, 'max_current_a = "32"', "evse[0].max_current_a", "expected a number"),
        (7, "version = 1.6", "ocpp.version", "expected a string"),
        (16, "path = 5", "storage.path", "expected a string"),
        (28, 'whitelist = "TECH-0001"', "auth.whitelist", "expected an array"),
    ],
)
def test_wrong_type(tmp_path: Path, line: int, text: str, key: str, expected: str) -> None:
    issue = only(issues_for(tmp_path, replace={line: text}), key)
    assert issue.line == line
    assert expected in issue.message


def test_table_where_array_of_tables_is_expected(tmp_path: Path) -> None:
    issue = only(issues_for(tmp_path, replace={18: "[evse]", 23: "", 24: "", 25: ""}), "evse")
    assert issue.line == 18
    assert "[[evse]]" in issue.message


@pytest.mark.parametrize(
    ("line", "text", "key", "fix"),
    [
        (20, "max_current_a = 5.9", "evse[0].max_current_a", "a number from 6 to 80 (amperes)"),
        (20, "max_current_a = 81", "evse[0].max_current_a", "a number from 6 to 80 (amperes)"),
        (20, "max_current_a = nan", "evse[0].max_current_a", "a number from 6 to 80 (amperes)"),
        (20, "max_current_a = 1" + "0" * 400, "evse[0].max_current_a", "a number from 6 to 80 (amperes)"),
        (21, "phases = 2", "evse[0].phases", "1 or 3"),
        (9, "heartbeat_interval_s = 0", "ocpp.heartbeat_interval_s", "at least 1"),
        (10, "security_profile = 4", "ocpp.security_profile", "0 (no authentication)"),
        (3, 'vendor = "A vendor name over twenty"', "chargepoint.vendor", "CiString20"),
        (2, 'id = "BORNE/001"', "chargepoint.id", "letters, digits"),
        (2, 'id = ""', "chargepoint.id", "letters, digits"),
        (2, 'id = ".."', "chargepoint.id", "letters, digits"),
        (13, 'kind = "gpio"', "board.kind", '"sim"'),
        (25, 'type = "CCS2"', "evse[0].connector[0].type", "Type2Cable"),
        (24, "id = 2", "evse[0].connector[0].id", "1"),
        (7, 'version = "2.0.1"', "ocpp.version", '"1.6"'),
    ],
)
def test_value_not_accepted(tmp_path: Path, line: int, text: str, key: str, fix: str) -> None:
    issue = only(issues_for(tmp_path, replace={line: text}), key)
    assert issue.line == line
    assert fix in issue.fix


@pytest.mark.parametrize("current", ["6", "80", "6.0", "79.5"])
def test_current_limits_are_inclusive(tmp_path: Path, current: str) -> None:
    assert issues_for(tmp_path, replace={20: f"max_current_a = {current}"}) == []


def test_ocpp_2_is_reported_as_not_supported_yet(tmp_path: Path) -> None:
    issue = only(issues_for(tmp_path, replace={7: 'version = "2.0.1"'}), "ocpp.version")
    assert "not supported yet" in issue.message


def test_unknown_key_suggests_the_close_one(tmp_path: Path) -> None:
    issue = only(issues_for(tmp_path, replace={9: "hearbeat_interval_s = 300"}), "ocpp.hearbeat_interval_s")
    assert issue.line == 9
    assert "did you mean heartbeat_interval_s?" in issue.message
    assert "heartbeat_interval_s" in issue.fix


def test_unknown_table_suggests_the_close_one(tmp_path: Path) -> None:
    issue = only(issues_for(tmp_path, append=["", "[loging]", 'level = "INFO"']), "loging")
    assert issue.line == 33
    assert issue.message == "unknown table; did you mean logging?"


def test_unknown_key_in_connector_and_without_close_match(tmp_path: Path) -> None:
    issues = issues_for(tmp_path, replace={26: "colour = 'blue'"})
    issue = only(issues, "evse[0].connector[0].colour")
    assert issue.line == 26
    assert issue.message == "unknown key"


@pytest.mark.parametrize(
    "url",
    ["http://127.0.0.1:9000/ocpp", "ws://", "ws:///ocpp", "ws://host:99999/ocpp", "wss://host/ocpp?x=1", "ws://a b/"],
)
def test_bad_csms_url(tmp_path: Path, url: str) -> None:
    issue = only(issues_for(tmp_path, replace={8: f'csms_url = "{url}"'}), "ocpp.csms_url")
    assert issue.line == 8
    assert "ws:// or wss://" in issue.fix


def test_evse_ids_must_be_consecutive(tmp_path: Path) -> None:
    second = ["", "[[evse]]", "id = 3", "max_current_a = 16", "phases = 1", "[[evse.connector]]", "id = 1"]
    issue = only(issues_for(tmp_path, append=second), "evse[1].id")
    assert issue.line == 34
    assert "3 where 2 was expected" in issue.message


def test_two_connectors_on_one_evse(tmp_path: Path) -> None:
    issues = issues_for(tmp_path, replace={26: "[[evse.connector]]"})
    issue = only(issues, "evse[0].connector[1]")
    assert issue.line == 26
    assert "another [[evse]]" in issue.fix
    assert "control pilot" in issue.fix


def test_evse_without_connector(tmp_path: Path) -> None:
    issue = only(issues_for(tmp_path, replace={23: "", 24: "", 25: ""}), "evse[0].connector")
    assert issue.line == 18


def test_duplicate_whitelist_entry_in_multiline_array(tmp_path: Path) -> None:
    whitelist = ["whitelist = [", '  "TECH-0001",', '  "CARD-42",  # a comment with = and [', '  "tech-0001",', "]"]
    text = config_text(replace={28: ""}).replace("[auth]\n\n", "[auth]\n" + "\n".join(whitelist) + "\n")
    issue = only(check_config(write(tmp_path, text)), "auth.whitelist[2]")
    assert issue.line == 31
    assert "whitelist[0]" in issue.message


def test_whitelist_entry_too_long(tmp_path: Path) -> None:
    issue = only(issues_for(tmp_path, replace={28: 'whitelist = ["TECH-0001", "123456789012345678901"]'}), "auth.whitelist[1]")
    assert issue.line == 28
    assert "CiString20" in issue.fix


def test_profile_2_needs_wss(tmp_path: Path) -> None:
    issues = issues_for(tmp_path, replace={10: "security_profile = 2"})
    issue = only(issues, "ocpp.csms_url")
    assert issue.line == 8
    assert "wss://" in issue.fix
    assert only(issues, "ocpp.password_file").line == 6


def test_profile_2_with_wss_password_file_and_ca_file(tmp_path: Path) -> None:
    from security_pki import TestCa

    TestCa().write(tmp_path / "ca.pem")
    replace = {8: 'csms_url = "wss://csms.example.com/ocpp"', 10: "security_profile = 2",
               11: 'password_file = "secret"\nca_file = "ca.pem"'}
    config = load_config(write(tmp_path, config_text(replace)))
    assert config.ocpp.security_profile == 2
    assert config.ocpp.password_file == tmp_path.resolve() / "secret"
    assert config.ocpp.ca_file == tmp_path.resolve() / "ca.pem"


def test_profile_1_needs_a_password_file(tmp_path: Path) -> None:
    issue = only(issues_for(tmp_path, replace={10: "security_profile = 1"}), "ocpp.password_file")
    assert issue.line == 6
    assert "profile 1" in issue.message


def test_profile_3_needs_a_csms_root_and_a_client_certificate(tmp_path: Path) -> None:
    replace = {8: 'csms_url = "wss://csms.example.com/ocpp"', 10: "security_profile = 3"}
    issues = issues_for(tmp_path, replace=replace)
    assert only(issues, "ocpp.ca_file").line == 6
    assert "profile 3 needs a charge point certificate" in only(issues, "ocpp.client_certificate_file").message
    assert not [issue for issue in issues if issue.key == "ocpp.security_profile"]


def test_reconnect_max_below_min(tmp_path: Path) -> None:
    issue = only(issues_for(tmp_path, replace={11: "reconnect_min_s = 120"}), "ocpp.reconnect_max_s")
    assert issue.line == 6
    assert "below reconnect_min_s" in issue.message


def test_toml_syntax_error(tmp_path: Path) -> None:
    issues = issues_for(tmp_path, replace={9: "heartbeat_interval_s = "})
    assert len(issues) == 1
    assert issues[0].line == 9
    assert issues[0].key == "(syntax)"
    assert "(at line" not in issues[0].message


def test_duplicate_key_is_a_syntax_error(tmp_path: Path) -> None:
    issues = issues_for(tmp_path, replace={11: "heartbeat_interval_s = 60"})
    assert [(issue.key, issue.line) for issue in issues] == [("(syntax)", 11)]


def test_missing_file(tmp_path: Path) -> None:
    path = tmp_path / "absent.toml"
    with pytest.raises(ConfigError) as raised:
        load_config(path)
    assert len(raised.value.issues) == 1
    issue = raised.value.issues[0]
    assert issue.file == path
    assert issue.line is None
    assert "not found" in issue.message


def test_directory_instead_of_file(tmp_path: Path) -> None:
    issues = check_config(tmp_path)
    assert len(issues) == 1 and issues[0].line is None


def test_not_utf8(tmp_path: Path) -> None:
    path = tmp_path / "firmware.toml"
    path.write_bytes(config_text().encode() + b'# caf\xe9\n')
    issues = check_config(path)
    assert [(issue.line, issue.message) for issue in issues] == [(32, "not valid UTF-8")]


# -- several errors, and how they are reported ------------------------------------------------


def test_every_error_is_reported_in_line_order(tmp_path: Path) -> None:
    replace = {
        3: 'vendor = ""',
        8: 'csms_url = "http://x"',
        9: "hearbeat_interval_s = 300",
        20: "max_current_a = 100",
        26: "[[evse.connector]]",
        28: 'whitelist = ["A", "a"]',
    }
    issues = issues_for(tmp_path, replace=replace, append=["[logging]", 'level = "loud"'])
    assert [(issue.line, issue.key) for issue in issues] == [
        (3, "chargepoint.vendor"),
        (8, "ocpp.csms_url"),
        (9, "ocpp.hearbeat_interval_s"),
        (20, "evse[0].max_current_a"),
        (26, "evse[0].connector[1]"),
        (26, "evse[0].connector[1].id"),
        (28, "auth.whitelist[1]"),
        (33, "logging.level"),
    ]
    with pytest.raises(ConfigError) as raised:
        load_config(tmp_path / "firmware.toml")
    assert raised.value.issues == issues


def test_issue_text_format(tmp_path: Path) -> None:
    path = write(tmp_path, config_text(replace={9: "heartbeat_interval_s = 0"}))
    [issue] = check_config(path)
    assert str(issue) == (
        f"{path}:9: ocpp.heartbeat_interval_s: 0 is out of range (fix: an integer of at least 1 (seconds))"
    )


def test_relative_paths_resolve_against_the_config_directory(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    config_dir = tmp_path / "etc" / "borne"
    config_dir.mkdir(parents=True)
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    monkeypatch.chdir(elsewhere)
    absolute = tmp_path / "var" / "sim.sock"
    path = write(config_dir, config_text(replace={31: f'control_socket = "{absolute}"'}))
    config = load_config(os.path.relpath(path, elsewhere))
    assert config.source == path.resolve()
    assert config.storage.path == config_dir.resolve() / "run" / "borne.db"
    assert config.sim is not None and config.sim.control_socket == absolute


# -- the line locator on its own ---------------------------------------------------------------

TRICKY = '''\
# header comment with = and [brackets] and [[double]]
title = "a # not a comment" # trailing = comment [x]
"quoted.key" = 1
'literal key' = 2
"esc\\"aped" = 3
site.owner.name = "dotted"   # 6

[server]  # comment [not.a.table]
ports = [
  8000,   # = [
  8001,
]
after_ports = true  # 13
notes = """
[not_a_table]
fake = 1
"""
literal = \'\'\'
[also_not]
\'\'\'
after_strings = 1  # 21
inline = { a = 1, b = { c = 2 } }
nested = [[1, 2], [
  3,
]]
# a comment line: [[not.fruit]] = 0

[[fruit]]  # 28
name = "apple"
[fruit.physical]  # 30
color = "red"
[[fruit.variety]]  # 32
name = "red delicious"
[[fruit.variety]]  # 34
name = "granny smith"

[[fruit]]  # 37
name = "banana"
[[fruit.variety]]  # 39
name = "plantain"
when = 1979-05-27 07:32:00Z  # 41
'''


def test_locator_matches_tomllib_on_tricky_toml() -> None:
    document = tomllib.loads(TRICKY)
    lines = locate_lines(TRICKY)

    def walk(value: object, path: tuple[str | int, ...]) -> None:
        assert lines.exact(path) is not None, format_key(path)
        if isinstance(value, dict):
            for key, item in value.items():
                walk(item, path + (key,))
        elif isinstance(value, list):
            for index, item in enumerate(value):
                walk(item, path + (index,))

    for key, value in document.items():
        walk(value, (key,))
    assert set(document["server"]) == {"ports", "after_ports", "notes", "literal", "after_strings", "inline", "nested"}


@pytest.mark.parametrize(
    ("key", "line"),
    [
        ("title", 2),
        ('"quoted.key"', 3),
        ('"literal key"', 4),
        ('"esc\\"aped"', 5),
        ("site", 6),
        ("site.owner.name", 6),
        ("server", 8),
        ("server.ports", 9),
        ("server.ports[0]", 10),
        ("server.ports[1]", 11),
        ("server.after_ports", 13),
        ("server.notes", 14),
        ("server.literal", 18),
        ("server.after_strings", 21),
        ("server.inline.b.c", 22),
        ("server.nested[1][0]", 24),
        ("fruit[0]", 28),
        ("fruit[0].physical", 30),
        ("fruit[0].physical.color", 31),
        ("fruit[0].variety[0]", 32),
        ("fruit[0].variety[1].name", 35),
        ("fruit[1]", 37),
        ("fruit[1].variety[0]", 39),
        ("fruit[1].variety[0].when", 41),
    ],
)
def test_locator_lines(key: str, line: int) -> None:
    assert locate_lines(TRICKY).exact(key) == line


def test_locator_ignores_comments_and_strings() -> None:
    lines = locate_lines(TRICKY)
    for phantom in ("not_a_table", "also_not", "server.fake", "brackets", "double", "x", "not"):
        assert lines.exact(phantom) is None


def test_locator_falls_back_to_the_table_header() -> None:
    lines = locate_lines(TRICKY)
    assert lines.find("fruit[1].variety[0].missing") == 39
    assert lines.find("server.absent") == 8
    assert lines.find("nowhere.at.all") is None


def test_locator_handles_crlf_and_tolerates_broken_text() -> None:
    assert locate_lines("a = 1\r\n[t]\r\nb = [\r\n 1,\r\n]\r\nc = 2\r\n").exact("t.c") == 6
    broken = locate_lines('a = "unterminated\n[t]\nb = = 2\nc = 3\n')
    assert broken.exact("t") == 2
    assert broken.exact("t.c") == 4


def test_key_formatting_round_trips() -> None:
    path = ("evse", 0, "connector", 1, "type")
    assert format_key(path) == "evse[0].connector[1].type"
    assert parse_key("evse[0].connector[1].type") == path
    assert format_key(("a", "b.c", 2)) == 'a."b.c"[2]'
    assert parse_key('a."b.c"[2]') == ("a", "b.c", 2)
    with pytest.raises(ValueError):
        parse_key("a b")
