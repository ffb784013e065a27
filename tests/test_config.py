"""Configuration: flags win over environment variables, which win over the defaults."""

from __future__ import annotations

from pathlib import Path

import pytest

from mock_runtype.config import OPTIONS, Config, ConfigError, resolve
from mock_runtype.sandbox.core import SandboxSettings
from mock_runtype.serving.adapter import ServerSettings


def test_defaults_bind_loopback_only():
    config = resolve({}, {})
    assert config == Config(SandboxSettings(), ServerSettings())
    server = config.server
    assert (server.host, server.port, server.log_format, server.quiet) == ("127.0.0.1", 8080, "text", False)
    assert config.sandbox.cors_origins == ("*",)
    assert config.sandbox.admin_token is None


def test_environment_sets_every_option():
    settings = resolve({}, {
        "MOCK_RUNTYPE_HOST": "0.0.0.0", "MOCK_RUNTYPE_PORT": "9000", "MOCK_RUNTYPE_THREADS": "2",
        "MOCK_RUNTYPE_ADMIN_TOKEN": "s3cret", "MOCK_RUNTYPE_LOG_FORMAT": "JSON", "MOCK_RUNTYPE_QUIET": "true",
        "MOCK_RUNTYPE_MAX_BODY_BYTES": "2048", "MOCK_RUNTYPE_MAX_UPLOAD_BYTES": "4096",
        "MOCK_RUNTYPE_CORS_ORIGIN": "https://app.example.com, http://localhost:3000/",
    })
    assert settings == Config(
        SandboxSettings(admin_token="s3cret", max_body_bytes=2048, max_upload_bytes=4096,
                        cors_origins=("https://app.example.com", "http://localhost:3000")),
        ServerSettings(host="0.0.0.0", port=9000, threads=2, log_format="json", quiet=True),
    )


def test_a_flag_wins_over_its_variable():
    server = resolve({"--port": "9001", "--quiet": True}, {"MOCK_RUNTYPE_PORT": "9000", "MOCK_RUNTYPE_QUIET": "0"}).server
    assert (server.port, server.quiet) == (9001, True)


def test_an_empty_variable_counts_as_unset():
    assert resolve({}, {"MOCK_RUNTYPE_PORT": "", "MOCK_RUNTYPE_HOST": "  "}).server.port == 8080


@pytest.mark.parametrize(("flags", "environ", "message"), [
    ({"--port": "http"}, {}, "--port: must be a whole number from 0 to 65535 (got 'http')"),
    ({"--port": "70000"}, {}, "--port: must be from 0 to 65535 (got '70000')"),
    ({}, {"MOCK_RUNTYPE_THREADS": "0"}, "MOCK_RUNTYPE_THREADS: must be from 1 to 256 (got '0')"),
    ({"--log-format": "xml"}, {}, "--log-format: must be one of text, json (got 'xml')"),
    ({}, {"MOCK_RUNTYPE_QUIET": "maybe"}, "MOCK_RUNTYPE_QUIET: must be 1, true, yes, on or 0, false, no, off"),
    ({"--host": ""}, {}, "--host: must be an address or host name"),
    ({"--admin-token": "two words"}, {}, "--admin-token: must be a non-empty token without spaces"),
    ({"--max-body-bytes": "0"}, {}, "--max-body-bytes: must be from 1 to 1073741824"),
    ({"--cors-origin": "app.example.com"}, {}, "--cors-origin: must be * or a comma-separated list of origins"),
    ({"--cors-origin": "https://a.example/path"}, {}, "--cors-origin: must be * or"),
])
def test_a_bad_value_names_where_it_came_from(flags, environ, message):
    with pytest.raises(ConfigError) as raised:
        resolve(flags, environ)
    assert str(raised.value).startswith(message)
    assert "\n" not in str(raised.value)


def test_the_admin_token_can_come_from_a_file(tmp_path):
    secret = tmp_path / "token"
    secret.write_text("from-a-secret\n")
    assert resolve({"--admin-token-file": str(secret)}, {}).sandbox.admin_token == "from-a-secret"
    assert resolve({}, {"MOCK_RUNTYPE_ADMIN_TOKEN_FILE": str(secret)}).sandbox.admin_token == "from-a-secret"
    assert resolve({"--admin-token": "flag"}, {"MOCK_RUNTYPE_ADMIN_TOKEN_FILE": str(secret)}).sandbox.admin_token == "flag"


def test_an_unreadable_or_empty_token_file_is_an_error(tmp_path):
    missing = tmp_path / "missing"
    with pytest.raises(ConfigError, match=f"--admin-token-file: cannot read {missing}: No such file or directory"):
        resolve({"--admin-token-file": str(missing)}, {})
    empty = tmp_path / "empty"
    empty.write_text("\n")
    with pytest.raises(ConfigError, match="must hold one token without spaces"):
        resolve({"--admin-token-file": str(empty)}, {})


def test_two_sources_of_the_admin_token_at_one_level_are_refused(tmp_path):
    secret = tmp_path / "token"
    secret.write_text("abc")
    with pytest.raises(ConfigError, match="--admin-token and --admin-token-file both set admin_token"):
        resolve({"--admin-token": "x", "--admin-token-file": str(secret)}, {})


def test_every_option_has_a_flag_and_a_variable_named_alike():
    for option in OPTIONS:
        assert option.env == "MOCK_RUNTYPE_" + option.flag[2:].replace("-", "_").upper()
        in_sandbox = option.field in SandboxSettings.__dataclass_fields__
        assert in_sandbox != (option.field in ServerSettings.__dataclass_fields__), "a field of exactly one"


def test_the_configuration_page_lists_every_option_with_its_default():
    page = (Path(__file__).resolve().parents[1] / "docs" / "configuration.md").read_text()
    section = page.split("# Configuration: running the server\n", 1)[1].split("\n## ", 1)[0]
    rows = {line.split("|")[1].strip(): line for line in section.splitlines() if line.startswith("| `--")}
    for option in OPTIONS:
        row = next(line for flag, line in rows.items() if flag.split(" ")[0].strip("`") == option.flag)
        shown = option.default_text
        assert f"`{option.env}`" in row
        assert f"| {shown} |" in row or f"| `{shown}` |" in row
    assert len(rows) == len(OPTIONS)
