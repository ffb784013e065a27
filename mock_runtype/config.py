"""How `mock-runtype serve` is configured: every option as a flag and an environment variable.

`resolve(flags, environ)` turns the flags given and the environment into a `Config`: what the
sandbox is set up with (`SandboxSettings`) and how the server runs it (`ServerSettings`). A flag wins
over its variable, a variable over the default. An empty variable counts as unset. A bad value
raises `ConfigError` with one line naming the flag or variable it came from. No server, no Flask.
"""

from __future__ import annotations

import difflib
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable, Mapping

from mock_runtype.sandbox.core import SandboxSettings
from mock_runtype.serving.adapter import ServerSettings

MAX_THREADS = 256
MAX_BODY_LIMIT = 1024 * 1024 * 1024  # the engine buffers a whole body: no limit may ask it to hold more than this
_ORIGIN = re.compile(r"^https?://[^/\s,*]+$")
_HOST_NAME = re.compile(r"^[a-z0-9]([a-z0-9-]*[a-z0-9])?(\.[a-z0-9]([a-z0-9-]*[a-z0-9])?)*$")


class ConfigError(ValueError):
    """A configuration value that cannot be used; the message is one line for the user."""


@dataclass(frozen=True)
class Config:
    """Everything `mock-runtype serve` was told."""

    sandbox: SandboxSettings
    server: ServerSettings


def _settings_class(field: str) -> type:
    return ServerSettings if field in ServerSettings.__dataclass_fields__ else SandboxSettings


@dataclass(frozen=True)
class Option:
    """One setting: its field (of `SandboxSettings` or `ServerSettings`), flag, environment variable,
    parser and help line."""

    field: str
    flag: str
    env: str
    parse: Callable[[str], Any]
    help: str
    metavar: str = ""
    switch: bool = False  # a flag without a value (`--quiet`); its variable takes 1/0, true/false
    repeatable: bool = False  # a flag given any number of times; its variable takes a comma-separated list

    @property
    def default(self) -> Any:
        return _settings_class(self.field).__dataclass_fields__[self.field].default

    @property
    def default_text(self) -> str:
        """The default as help and docs/configuration.md show it: `off`, `none`, `*`, `8080`..."""
        if self.switch:
            return "off"
        default = ",".join(self.default) if isinstance(self.default, tuple) else self.default
        return "none" if default in (None, "") else str(default)


def _integer(low: int, high: int) -> Callable[[str], int]:
    def parse(text: str) -> int:
        try:
            value = int(text.strip())
        except ValueError:
            raise ValueError(f"must be a whole number from {low} to {high}") from None
        if not low <= value <= high:
            raise ValueError(f"must be from {low} to {high}")
        return value

    return parse


def _host(text: str) -> str:
    host = text.strip()
    if not host or any(c.isspace() for c in host):
        raise ValueError("must be an address or host name, such as 127.0.0.1 or 0.0.0.0")
    return host


def _choice(*choices: str) -> Callable[[str], str]:
    def parse(text: str) -> str:
        value = text.strip().lower()
        if value not in choices:
            raise ValueError(f"must be one of {', '.join(choices)}")
        return value

    return parse


def _boolean(text: str) -> bool:
    value = text.strip().lower()
    if value in ("1", "true", "yes", "on"):
        return True
    if value in ("0", "false", "no", "off"):
        return False
    raise ValueError("must be 1, true, yes, on or 0, false, no, off")


def _token(text: str) -> str:
    token = text.strip()
    if not token or any(c.isspace() for c in token):
        raise ValueError("must be a non-empty token without spaces")
    return token


def _token_file(text: str) -> str:
    path = Path(text)
    try:
        content = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as error:
        reason = getattr(error, "strerror", None) or "not UTF-8 text"
        raise ValueError(f"cannot read {text}: {reason}") from None
    try:
        return _token(content)
    except ValueError:
        raise ValueError(f"{text} must hold one token without spaces") from None


def _host_names(text: str) -> tuple[str, ...]:
    names = tuple(part.strip().lower().rstrip(".") for part in text.split(",") if part.strip())
    if names == ("*",):
        return names
    if not names or any(not _HOST_NAME.match(name) for name in names):
        raise ValueError("must be * or a comma-separated list of host names such as sandbox.internal")
    return names


def _path(text: str) -> str:
    path = text.strip()
    if not path:
        raise ValueError("must name a file")
    return path


def _paths(text: str) -> tuple[str, ...]:
    paths = tuple(part.strip() for part in text.split(",") if part.strip())
    if not paths:
        raise ValueError("must name at least one file")
    return paths


def _origins(text: str) -> tuple[str, ...]:
    origins = tuple(part.strip().rstrip("/") for part in text.split(",") if part.strip())
    if origins == ("*",):
        return origins
    bad = [o for o in origins if not _ORIGIN.match(o)]
    if not origins or bad:
        raise ValueError("must be * or a comma-separated list of origins such as https://app.example.com")
    return origins


OPTIONS: tuple[Option, ...] = (
    Option("host", "--host", "MOCK_RUNTYPE_HOST", _host, "address to listen on", "ADDRESS"),
    Option("port", "--port", "MOCK_RUNTYPE_PORT", _integer(0, 65535), "port to listen on (0: any free port)", "PORT"),
    Option("threads", "--threads", "MOCK_RUNTYPE_THREADS", _integer(1, MAX_THREADS),
           "worker threads for heavy requests (filters, exports, bulk changes over many records, large bodies)", "N"),
    Option("fixtures", "--fixtures", "MOCK_RUNTYPE_FIXTURES", _paths,
           "fixture file to load at start (repeatable; the variable takes a comma-separated list)", "FILE",
           repeatable=True),
    Option("state_file", "--state-file", "MOCK_RUNTYPE_STATE_FILE", _path,
           "keep the state in this file: loaded at start, written on stop and every --state-interval "
           "seconds when it changed", "PATH"),
    Option("state_interval_s", "--state-interval", "MOCK_RUNTYPE_STATE_INTERVAL", _integer(1, 3600),
           "seconds between writes of a changed state to --state-file (what a crash can lose)", "SECONDS"),
    Option("admin_token", "--admin-token", "MOCK_RUNTYPE_ADMIN_TOKEN", _token,
           "Bearer token the control API (/__admin) requires", "TOKEN"),
    Option("admin_token", "--admin-token-file", "MOCK_RUNTYPE_ADMIN_TOKEN_FILE", _token_file,
           "read the admin token from this file (a Docker or CI secret)", "PATH"),
    Option("admin_hosts", "--admin-host", "MOCK_RUNTYPE_ADMIN_HOST", _host_names,
           "a host name the control API answers to without the admin token, beside localhost and IP addresses "
           "(repeatable; * is any: no defence against DNS rebinding)", "NAME", repeatable=True),
    Option("log_format", "--log-format", "MOCK_RUNTYPE_LOG_FORMAT", _choice("text", "json"),
           "access and server log lines as text or as one JSON object each", "text|json"),
    Option("quiet", "--quiet", "MOCK_RUNTYPE_QUIET", _boolean,
           "log only warnings and errors: no access log, no start-up line", switch=True),
    Option("log_health", "--log-health", "MOCK_RUNTYPE_LOG_HEALTH", _boolean,
           "log health probes (a 2xx GET /health) in the access log too", switch=True),
    Option("max_body_bytes", "--max-body-bytes", "MOCK_RUNTYPE_MAX_BODY_BYTES", _integer(1, MAX_BODY_LIMIT),
           "largest JSON request body accepted (413 above it)", "BYTES"),
    Option("max_upload_bytes", "--max-upload-bytes", "MOCK_RUNTYPE_MAX_UPLOAD_BYTES", _integer(1, MAX_BODY_LIMIT),
           "largest CSV upload accepted (413 above it)", "BYTES"),
    Option("max_records_per_tenant", "--max-records-per-tenant", "MOCK_RUNTYPE_MAX_RECORDS_PER_TENANT",
           _integer(1, 100_000_000), "records one tenant may hold (403 on a create beyond it)", "N"),
    Option("max_tenants", "--max-tenants", "MOCK_RUNTYPE_MAX_TENANTS", _integer(1, 10_000_000),
           "tenants holding records at once (403 on a new tenant's first create beyond it)", "N"),
    Option("max_request_work", "--max-request-work", "MOCK_RUNTYPE_MAX_REQUEST_WORK", _integer(1_000, 10_000_000_000),
           "estimated work (record visits) past which a filter, export or field-values request is refused (400)", "N"),
    Option("journal_limit", "--journal-limit", "MOCK_RUNTYPE_JOURNAL_LIMIT", _integer(1, 1_000_000),
           "journal entries kept per tenant in use (the oldest go first)", "N"),
    Option("idle_timeout_s", "--idle-timeout", "MOCK_RUNTYPE_IDLE_TIMEOUT", _integer(1, 86_400),
           "seconds before an idle keep-alive connection is closed", "SECONDS"),
    Option("request_timeout_s", "--request-timeout", "MOCK_RUNTYPE_REQUEST_TIMEOUT", _integer(1, 86_400),
           "seconds a request may take to arrive before its connection is dropped (slow clients)", "SECONDS"),
    Option("max_connections", "--max-connections", "MOCK_RUNTYPE_MAX_CONNECTIONS", _integer(1, 100_000),
           "connections open at once (a newcomer beyond it takes the place of one yet to complete a request, "
           "else of the longest idle, else waits in the listen backlog)", "N"),
    Option("cors_origins", "--cors-origin", "MOCK_RUNTYPE_CORS_ORIGIN", _origins,
           "origins browsers may call from: * or a comma-separated list", "ORIGINS"),
    Option("strict_contract", "--strict-contract", "MOCK_RUNTYPE_STRICT_CONTRACT", _boolean,
           "refuse unknown body fields and query parameters with 400 instead of ignoring them", switch=True),
    Option("check_responses", "--check-responses", "MOCK_RUNTYPE_CHECK_RESPONSES", _boolean,
           "check every response against the OpenAPI document; a mismatch is logged and answered 500",
           switch=True),
)


ENV_PREFIX = "MOCK_RUNTYPE_"
# Read by other parts than `serve` (the pytest plugin, conformance), so not unknown to it.
OTHER_VARIABLES = frozenset({"MOCK_RUNTYPE_URL", "MOCK_RUNTYPE_CONFORMANCE_KEY"})


def unknown_variables(environ: Mapping[str, str]) -> list[str]:
    """One line for each `MOCK_RUNTYPE_*` variable that no option reads, naming the closest one
    that does (`MOCK_RUNTYPE_PROT`: did you mean MOCK_RUNTYPE_PORT?): set, it would be ignored."""
    known = sorted({option.env for option in OPTIONS} | OTHER_VARIABLES)
    lines = []
    for name in sorted(environ):
        if name.startswith(ENV_PREFIX) and name not in known:
            close = difflib.get_close_matches(name, known, n=1)
            hint = f"did you mean {close[0]}?" if close else "mock-runtype serve --help lists the variables"
            lines.append(f"{name} is not a mock-runtype setting and is ignored: {hint}")
    return lines


def _parsed(option: Option, source: str, text: str) -> Any:
    try:
        return option.parse(text)
    except ValueError as error:
        raise ConfigError(f"{source}: {error} (got {text.strip()[:80]!r})") from None


def resolve(flags: Mapping[str, Any], environ: Mapping[str, str]) -> Config:
    """The configuration from the flags given (keyed by flag, values as typed, a list for a repeatable flag;
    None or absent: not given)
    and the environment. Raises ConfigError on the first bad value, or on two options at the same
    level setting one field (`--admin-token` and `--admin-token-file`)."""
    chosen: dict[str, tuple[int, str, Any]] = {}  # field -> (level, source, value); flags are level 2
    for option in OPTIONS:
        given = flags.get(option.flag)
        if option.switch and given is True:
            found = (2, option.flag, True)
        elif option.repeatable and given:
            found = (2, option.flag, tuple(p for text in given for p in _parsed(option, option.flag, text)))
        elif not option.switch and not option.repeatable and given is not None:
            found = (2, option.flag, _parsed(option, option.flag, given))
        elif environ.get(option.env, "").strip():
            found = (1, option.env, _parsed(option, option.env, environ[option.env]))
        else:
            continue
        previous = chosen.get(option.field)
        if previous is not None and previous[0] == found[0]:
            raise ConfigError(f"{previous[1]} and {found[1]} both set {option.field}: give one of them")
        if previous is None or found[0] > previous[0]:
            chosen[option.field] = found
    values = {name: value for name, (_, _, value) in chosen.items()}
    return Config(**{part: cls(**{name: value for name, value in values.items() if _settings_class(name) is cls})
                     for part, cls in (("sandbox", SandboxSettings), ("server", ServerSettings))})
