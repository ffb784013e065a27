"""Conformance cases: YAML files of steps, read and checked before anything is sent.

A case is `{name, description, steps: [...]}`; a step is one request (`method`, `path`, `query`,
`body` JSON or `raw` text with `contentType`, `form` fields with `files` for multipart, `headers`,
`auth: key | none`) and what to keep from its answer (`capture: {variable: path.in.body}`) or to
leave out of the comparison (`ignore: [path globs]`). Strings may name variables as `${name}`:
`prefix` and `type` (the run's unique prefix, and the case's own type under it), `unknown_id` (an
id no record has), whatever earlier steps captured (each side keeps its own values: the target's
ids on the target, the sandbox's on the sandbox), and `${repeat:N:TEXT}` (TEXT N times).
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path
from typing import Any

import yaml

METHODS = ("GET", "POST", "PUT", "PATCH", "DELETE")
STEP_KEYS = {"name", "method", "path", "query", "body", "raw", "contentType", "form", "files", "headers", "auth",
             "capture", "ignore"}
VARIABLE = re.compile(r"\$\{([^{}]+)\}")
MAX_REPEAT = 100_000


class CaseError(Exception):
    """A case file that cannot be run: its path and what is wrong."""


@dataclass(frozen=True)
class Step:
    name: str
    method: str
    path: str
    query: dict[str, Any] = field(default_factory=dict)
    body: Any = None
    raw: str | None = None
    content_type: str | None = None
    form: dict[str, Any] | None = None
    files: dict[str, dict[str, str]] | None = None
    headers: dict[str, str] = field(default_factory=dict)
    auth: str = "key"
    capture: dict[str, str] = field(default_factory=dict)
    ignore: tuple[str, ...] = ()

    @property
    def title(self) -> str:
        return f"{self.method} {self.path}"


@dataclass(frozen=True)
class Case:
    name: str
    description: str
    source: str
    steps: tuple[Step, ...]


def shipped_cases() -> list[Case]:
    """The cases shipped in the package (`mock_runtype/conformance/cases/*.yaml`)."""
    folder = resources.files("mock_runtype.conformance") / "cases"
    entries = sorted((entry for entry in folder.iterdir() if entry.name.endswith((".yaml", ".yml"))),
                     key=lambda entry: entry.name)
    return [parse_case(entry.read_text(encoding="utf-8"), f"cases/{entry.name}") for entry in entries]


def read_cases(folder: str | Path) -> list[Case]:
    """Every `*.yaml`/`*.yml` case in `folder`, by file name; CaseError if it holds none or one is bad."""
    path = Path(folder)
    if not path.is_dir():
        raise CaseError(f"{path}: not a folder")
    files = sorted(p for p in path.iterdir() if p.suffix in (".yaml", ".yml"))
    if not files:
        raise CaseError(f"{path}: holds no .yaml case file")
    return [parse_case(p.read_text(encoding="utf-8"), str(p)) for p in files]


def parse_case(text: str, source: str) -> Case:
    try:
        document = yaml.safe_load(text)
    except yaml.YAMLError as error:
        raise CaseError(f"{source}: not YAML: {error}") from None
    if not isinstance(document, dict):
        raise CaseError(f"{source}: a case is a mapping with name and steps")
    name = document.get("name")
    if not isinstance(name, str) or not re.fullmatch(r"[a-z0-9][a-z0-9-]{0,62}", name):
        raise CaseError(f"{source}: name must be lowercase letters, digits and dashes (at most 63)")
    steps = document.get("steps")
    if not isinstance(steps, list) or not steps:
        raise CaseError(f"{source}: steps must be a non-empty list")
    return Case(name, str(document.get("description") or ""), source,
                tuple(_step(raw, f"{source}: step {n}") for n, raw in enumerate(steps, 1)))


def _step(raw: Any, where: str) -> Step:
    if not isinstance(raw, dict):
        raise CaseError(f"{where}: a step is a mapping")
    unknown = set(raw) - STEP_KEYS
    if unknown:
        raise CaseError(f"{where}: unknown keys {', '.join(sorted(unknown))}")
    method = str(raw.get("method", "")).upper()
    if method not in METHODS:
        raise CaseError(f"{where}: method must be one of {', '.join(METHODS)}")
    path = raw.get("path")
    if not isinstance(path, str) or not path.startswith("/"):
        raise CaseError(f"{where}: path must start with /")
    if sum(key in raw for key in ("body", "raw", "form")) > 1:
        raise CaseError(f"{where}: give one of body, raw and form")
    for key in ("query", "form", "files", "headers", "capture"):
        if key in raw and not isinstance(raw[key], dict):
            raise CaseError(f"{where}: {key} must be a mapping")
    auth = raw.get("auth", "key")
    if auth not in ("key", "none"):
        raise CaseError(f"{where}: auth must be key or none")
    ignore = raw.get("ignore", [])
    if not isinstance(ignore, list) or not all(isinstance(item, str) for item in ignore):
        raise CaseError(f"{where}: ignore must be a list of field paths")
    return Step(str(raw.get("name") or f"{method} {path}"), method, path, dict(raw.get("query") or {}),
                raw.get("body"), raw.get("raw"), raw.get("contentType"), raw.get("form"), raw.get("files"),
                {str(k): str(v) for k, v in (raw.get("headers") or {}).items()}, auth,
                {str(k): str(v) for k, v in (raw.get("capture") or {}).items()}, tuple(ignore))


class Unresolved(Exception):
    """A step names a variable no earlier step captured (on this side)."""


def substitute(value: Any, variables: dict[str, Any]) -> Any:
    """`value` with every `${name}` replaced; a string that is only `${name}` takes the value itself."""
    if isinstance(value, str):
        whole = VARIABLE.fullmatch(value)
        if whole:
            return _lookup(whole.group(1), variables)
        return VARIABLE.sub(lambda match: str(_lookup(match.group(1), variables)), value)
    if isinstance(value, list):
        return [substitute(item, variables) for item in value]
    if isinstance(value, dict):
        return {substitute(key, variables): substitute(item, variables) for key, item in value.items()}
    return value


def _lookup(name: str, variables: dict[str, Any]) -> Any:
    if name.startswith("repeat:"):
        _, count, text = name.split(":", 2)
        if not count.isdigit() or int(count) * max(1, len(text)) > MAX_REPEAT:
            raise Unresolved(f"${{{name}}}: repeat takes a count (at most {MAX_REPEAT} characters in all)")
        return text * int(count)
    if name not in variables or variables[name] is None:
        raise Unresolved(f"${{{name}}} was not captured")
    return variables[name]


def pick(document: Any, path: str) -> Any:
    """The value at a dotted path (`data.0.id`; `data.*.id` collects from every item), None if absent."""
    current = [document]
    spread = False
    for part in path.split(".") if path else []:
        following = []
        for item in current:
            if part == "*" and isinstance(item, list):
                following.extend(item)
            elif isinstance(item, list) and part.isdigit() and int(part) < len(item):
                following.append(item[int(part)])
            elif isinstance(item, dict) and part in item:
                following.append(item[part])
        spread = spread or part == "*"
        current = following
    if spread:
        return current
    return current[0] if current else None
