"""Fixture documents: reading YAML or JSON, checking it against `schemas/fixture.json` and the
rules the API enforces, and reporting every problem with its file, line and path.

`read_fixture(path)` / `parse_fixture(text, source)` give a checked `Fixture` or raise
FixtureError listing every problem; nothing is applied here. The Sandbox applies a Fixture (all of
it or, for a reset, one tenant's part) after pinning the ids and times it leaves open, so that a
reset rebuilds exactly the same state. Pure Python, no web framework.
"""

from __future__ import annotations

import datetime
import hashlib
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, Callable, Collection, Mapping

import orjson

from mock_runtype.model.clock import check_writable, parse_timestamp
from mock_runtype.model.errors import InvalidRequest
from mock_runtype.model.executions import TIMESTAMP_FIELDS
from mock_runtype.model.json_text import JSONTextError, loads_strict
from mock_runtype.model.records import MAX_METADATA_BYTES, measure_metadata, nesting_problem
from mock_runtype.model.tenancy import ALL_PERMISSIONS, Tenant, open_tenant
from mock_runtype.model.validation import format_path, schema_problems, unstorable_text_paths

if TYPE_CHECKING:
    import yaml

SERVER_WIDE_SETTINGS = ("strictAuth", "strictContract", "seed", "journalLimit")

# Nodes a document may hold once its aliases are expanded (each alias counts as every node of what
# it names, nested aliases too): as many as its characters (a document without aliases has fewer),
# and at least this many for a short one. Every later check walks the expanded document, so a
# "billion laughs" of a few hundred bytes is refused before anything expands it, and the work of a
# load stays in proportion to its size, which is what its cost is estimated from.
MIN_EXPANDED_NODES = 10_000
# Nesting beyond what any fixture needs (records' metadata has a limit of its own) is refused
# before anything walks it recursively.
MAX_DOCUMENT_DEPTH = 128


@dataclass(frozen=True)
class Problem:
    """One thing wrong with a fixture document."""

    source: str
    line: int | None
    path: str
    message: str

    def __str__(self) -> str:
        where = f"{self.source}:{self.line}" if self.line else self.source
        return f"{where}: {self.path + ': ' if self.path else ''}{self.message}"

    def to_json(self) -> dict[str, Any]:
        return {"path": self.path, "line": self.line, "message": self.message}


class FixtureError(InvalidRequest):
    """A fixture document that cannot be loaded; `problems` says every reason. 400, or 409 when
    it clashes with what the running server holds."""

    def __init__(self, problems: list[Problem], status: int = 400) -> None:
        order = {source: index for index, source in enumerate(dict.fromkeys(p.source for p in problems))}
        self.problems = sorted(problems, key=lambda p: (order[p.source], p.line or 0))  # each file's in line order
        self.status = status
        super().__init__(
            f"Invalid fixture document ({len(problems)} problem{'s' if len(problems) != 1 else ''})",
            details=[p.to_json() for p in problems],
        )

    def __str__(self) -> str:
        return "\n".join(str(p) for p in self.problems)


NO_RUNS: list[dict[str, Any]] = []  # shared by the records seeded without runs (never changed: only read)


@dataclass(slots=True)
class SeedRecord:
    """A record a fixture seeds, with the fields the store's `create` takes. `tenant_key` is the
    API key the document names: the Sandbox seeds the partition that key reaches."""

    tenant_key: str
    fields: dict[str, Any]
    id: str | None
    created_at: int | None
    updated_at: int | None
    product_surface_id: str | None
    results: list[dict[str, Any]] = field(default_factory=list)
    step_results: list[dict[str, Any]] = field(default_factory=list)
    size: int | None = None  # of its metadata (`metadata_size`), reckoned by the check


@dataclass
class Fixture:
    """A checked fixture document. `scope` is the API key of the tenant it was loaded for (None:
    server-wide); it stands for that key's user, whichever of its keys the document names."""

    source: str
    scope: str | None
    digest: str
    settings: dict[str, Any]
    tenants: list[Tenant]
    records: list[SeedRecord]
    scenarios: list[dict[str, Any]]
    lines: LineIndex | None = field(default=None, repr=False)

    def tenant_keys(self) -> set[str]:
        """The API keys the document declares, seeds or was loaded for."""
        keys = {t.api_key for t in self.tenants} | {r.tenant_key for r in self.records}
        return keys | ({self.scope} if self.scope else set())

    def problem(self, path: list[Any], message: str) -> Problem:
        """A problem found later (against the server's state), placed at its line."""
        return Problem(self.source, self.lines.line(path) if self.lines else None, format_path(path), message)


# -- reading ------------------------------------------------------------------------------


KnownTenants = Mapping[str, str] | Collection[str]


def read_fixture(path: str | Path, *, scope: str | None = None, known_tenants: KnownTenants = frozenset()) -> Fixture:
    """Read and check the fixture file at `path` (YAML or JSON)."""
    source = str(path)
    try:
        text = Path(path).read_bytes().decode("utf-8")
    except OSError as error:
        raise FixtureError([Problem(source, None, "", f"cannot read the file: {error.strerror or error}")]) from None
    except UnicodeDecodeError as error:
        raise FixtureError([Problem(source, None, "", f"not UTF-8 text (byte {error.start})")]) from None
    return parse_fixture(text, source, scope=scope, known_tenants=known_tenants)


def parse_fixture(
    text: str,
    source: str = "<fixture>",
    *,
    scope: str | None = None,
    known_tenants: KnownTenants = frozenset(),
) -> Fixture:
    """Check a fixture document given as YAML or JSON text.

    `scope` is the API key of the tenant a document is loaded for (`?tenant=`); `known_tenants`
    are the API keys that earlier documents declared, which records may name too (a mapping gives
    each key's `tenant_key`, so that a scoped document may name any key of the scope's user).
    """
    data, strict_json = _read_document(text, source)
    lines = LineIndex(text, source)
    problems = [Problem(source, lines.line(path), format_path(path), message)
                for path, message in schema_problems("fixture", data)]
    if not problems and _may_hold_unstorable_text(text, data, strict_json):
        problems = [Problem(source, lines.line(path), format_path(path), UNSTORABLE_WORDS)
                    for path in unstorable_text_paths(data)]
    if problems:
        raise FixtureError(problems)
    checker = _Checker(source, lines, scope, known_tenants, finite_numbers=strict_json)
    fixture = checker.check(data)
    fixture.lines = lines
    if checker.problems:
        raise FixtureError(checker.problems)
    fixture.digest = hashlib.sha256(f"{scope}\n{text}".encode()).hexdigest()
    return fixture


class LineIndex:
    """The line of each path of a document, found when a problem first asks for one: a second
    reading (YAML's nodes, which know their lines) that a valid document never pays for, nor
    keeps (a 100k-record document has some 800k paths)."""

    def __init__(self, text: str, source: str) -> None:
        self.text = text
        self.source = source
        self._lines: dict[tuple, int] | None = None

    def line(self, path: list[Any] | tuple) -> int | None:
        """The line of `path`, or of its nearest ancestor that the document has. JSON's escapes
        of surrogates (which libyaml refuses, pairs too) are read as U+FFFD's, as long: the lines
        stay, and only a key holding one is placed at its object's line."""
        if self._lines is None:
            self._lines = _yaml_lines(_SURROGATE_ESCAPE.sub(r"\\ufffd", self.text), self.source)
        return _line(self._lines, path)


_SURROGATE_ESCAPE = re.compile(r"\\u[dD][89a-fA-F][0-9a-fA-F]{2}")


def _read_document(text: str, source: str) -> tuple[Any, bool]:
    """The document's data, and whether the strict JSON reader read it (its numbers are finite).
    A JSON text is read by that reader (`model/json_text.py`, about 30 times faster than libyaml's
    nodes; its numbers as JSON reads them); anything else, or JSON that reader refuses or that
    nests past MAX_DOCUMENT_DEPTH, as YAML, which words the problems."""
    if text.lstrip()[:1] in ("{", "["):
        try:
            data = loads_strict(text)
        except (JSONTextError, RecursionError):
            pass
        else:
            if not _nests_deeper(data, MAX_DOCUMENT_DEPTH):
                return data, True
    return _parse_yaml(text, source), False


UNSTORABLE_WORDS = "contains \\u0000 or an unpaired surrogate"  # as the API says of a body's
# Where strict JSON can write NUL or a lone surrogate (its reader refuses them raw): an escape.
_JSON_UNSTORABLE_ESCAPE = re.compile(r"\\u(?:0000|[dD][89a-fA-F])")


def _may_hold_unstorable_text(text: str, data: Any, strict_json: bool) -> bool:
    """Whether a string of the document may hold NUL or a lone surrogate, which a record or an
    answer cannot (the API refuses them in a body), told without walking every string: only an
    escape writes one (the JSON and YAML readers refuse them raw), and orjson refuses a lone
    surrogate and writes NUL as `\\u0000`."""
    if not (_JSON_UNSTORABLE_ESCAPE.search(text) if strict_json else "\\" in text):
        return False
    try:
        written = orjson.dumps(data)
    except TypeError:  # a lone surrogate, or what orjson does not write (YAML's bytes, a key that is no string)
        return True
    return b"\\u0000" in written


def _nests_deeper(document: Any, most: int) -> bool:
    """Whether `document` nests objects and arrays past `most` (at least 3) levels, without
    recursion. Each record's metadata and messages are left to the records' own nesting rule
    (MAX_NESTING, far below `most`, checked without recursion before anything else walks them)."""
    stack = [(document, 1)]
    records = document.get("records") if type(document) is dict else None
    if type(records) is list:
        stack[0] = ({key: value for key, value in document.items() if key != "records"}, 1)
        for entry in records:  # each at level 3: its other values that are objects or arrays at 4
            if type(entry) is dict:
                for key, value in entry.items():
                    if (type(value) is dict or type(value) is list) and key != "metadata" and key != "messages":
                        stack.append((value, 4))
            elif type(entry) is list:
                stack.append((entry, 3))
    while stack:
        item, level = stack.pop()
        if level > most:
            return True
        for child in (item.values() if type(item) is dict else item if type(item) is list else ()):
            if type(child) is dict or type(child) is list:
                stack.append((child, level + 1))
    return False


_STR_TAG = "tag:yaml.org,2002:str"
_MAP_TAG = "tag:yaml.org,2002:map"
_SEQ_TAG = "tag:yaml.org,2002:seq"
_MERGE_TAG = "tag:yaml.org,2002:merge"


class _NotPlain(Exception):
    """The document has what only PyYAML's constructor reads right: an anchor used twice, a merge
    key, a tag on a mapping or sequence, a key that is not a string, a duplicate key, a scalar
    its constructor refuses."""


def _parse_yaml(text: str, source: str) -> Any:
    """The document read as YAML; YAML problems become FixtureError.

    A plain document (JSON, or YAML without the features `_NotPlain` lists) is built straight from
    libyaml's events, never holding the document's nodes (a 100k-record document's nodes took over
    a gigabyte), to the values PyYAML's constructor makes; any other is composed and goes through
    the constructor, which also words its problems. PyYAML is imported on the first document, not
    when the server starts.
    """
    import yaml

    try:
        loader = getattr(yaml, "CSafeLoader", yaml.SafeLoader)(text)
        try:
            return _plain_document(loader)
        except _NotPlain:
            pass
        finally:
            loader.dispose()
        return _read_nodes(text, lambda loader, node: _constructed_document(loader, node, source, len(text)))
    except Exception as error:
        raise _yaml_problem(error, source, text) from None


def _yaml_lines(text: str, source: str) -> dict[tuple, int]:
    """The line (1-based) of every path of the document ({} for one YAML cannot read)."""
    def index(loader: Any, node: yaml.Node) -> dict[tuple, int]:
        lines: dict[tuple, int] = {}
        _index_lines(loader, node, (), lines, [], source, set())
        return lines

    try:
        return _read_nodes(text, index, empty={})
    except Exception:  # noqa: BLE001 (the problems were found by the first reading: no line, then)
        return {}


def _yaml_problem(error: Exception, source: str, text: str) -> Exception:
    """A YAML reader's error as the FixtureError that words it (any other error as it was)."""
    import yaml

    if isinstance(error, yaml.MarkedYAMLError):
        mark = error.problem_mark or error.context_mark
        message = _tab_hint(text, mark) or " ".join(part for part in (error.context, error.problem) if part)
        return FixtureError([Problem(source, mark.line + 1 if mark else None, "", f"YAML syntax error: {message}")])
    if isinstance(error, yaml.YAMLError):
        return FixtureError([Problem(source, None, "", f"YAML error: {error}")])
    if isinstance(error, ValueError):  # the constructor's int() of a number of too many digits
        reason = str(error).split(";")[0]  # without its advice to the Python programmer
        return FixtureError([Problem(source, None, "", f"YAML error: {reason}")])
    return error


def _tab_hint(text: str, mark: Any) -> str | None:
    """What to say when the line YAML stopped at is indented with a tab: the parser's own words
    (`found character that cannot start any token`) do not say that YAML indents with spaces."""
    if mark is None:
        return None
    lines = text.splitlines()
    line = lines[mark.line] if mark.line < len(lines) else ""
    indent = line[:len(line) - len(line.lstrip(" \t"))]
    if "\t" not in indent:
        return None
    return (f"a tab in the indentation (column {indent.index(chr(9)) + 1}): YAML indents with spaces only;"
            " replace the tab with spaces")


def _read_nodes(text: str, read: Callable[[Any, yaml.Node], Any], empty: Any = None) -> Any:
    """`read(loader, root node)` of the document (an empty document is `empty`, else `{}`)."""
    import yaml

    # libyaml's parser (when PyYAML was built with it) reads a 10k-record document about ten times faster.
    loader = getattr(yaml, "CSafeLoader", yaml.SafeLoader)(text)
    try:
        node = loader.get_single_node()
        if node is None:
            return {} if empty is None else empty
        return read(loader, node)
    finally:
        loader.dispose()


def _constructed_document(loader: Any, node: yaml.Node, source: str, chars: int) -> Any:
    _check_shape(node, source, max(chars, MIN_EXPANDED_NODES))
    duplicates: list[Problem] = []
    _index_lines(loader, node, (), {}, duplicates, source, set())
    if duplicates:
        raise FixtureError(duplicates)
    return loader.construct_document(node)


def _plain_document(loader: Any) -> Any:
    """What PyYAML's safe constructor makes of the loader's one document, built from its events
    without recursion; _NotPlain where it might differ (an alias, a tag, a key that is not a
    string or is repeated, a scalar the constructor refuses, nesting past MAX_DOCUMENT_DEPTH, a
    second document)."""
    import yaml

    scalar_event, mapping_start, sequence_start = yaml.ScalarEvent, yaml.MappingStartEvent, yaml.SequenceStartEvent
    collection_end = (yaml.MappingEndEvent, yaml.SequenceEndEvent)
    resolve, constructors, get_event = loader.resolve, loader.yaml_constructors, loader.get_event
    # A plain scalar whose first character starts no implicit type, or a quoted one, is a string:
    # what `resolve` finds after its table look-up, here without the call (a third of a load).
    # Other plain scalars repeat (keys, enumerations): their tags are remembered, up to a bound.
    starts = set(loader.yaml_implicit_resolvers)
    always_resolve = bool(loader.yaml_path_resolvers) or None in starts
    tags: dict[str, str] = {}
    get_event()  # the stream's start
    if isinstance(get_event(), yaml.StreamEndEvent):
        return {}
    stack: list[list[Any]] = []  # [the collection being built, the key whose value comes next (mappings)]
    root: Any = None
    while True:
        event = get_event()
        kind = type(event)
        is_key = False
        if kind is scalar_event:
            tag = event.tag
            if tag is not None and tag != "!":
                raise _NotPlain
            if tag is not None:
                tag = _STR_TAG
            elif always_resolve:
                tag = resolve(yaml.ScalarNode, event.value, event.implicit)
            elif not event.implicit[0] or event.value[:1] not in starts:
                tag = _STR_TAG
            else:
                tag = tags.get(event.value)
                if tag is None:
                    tag = resolve(yaml.ScalarNode, event.value, event.implicit)
                    if len(tags) < 4096:
                        tags[event.value] = tag
            if tag == _STR_TAG:
                value = event.value
                is_key = True
            else:
                try:
                    value = constructors[tag](loader, yaml.ScalarNode(tag, event.value, event.start_mark,
                                                                      event.end_mark, event.style))
                except Exception:  # the constructor redoes it, and raises, in its own order
                    raise _NotPlain from None
        elif kind is mapping_start or kind is sequence_start:
            if event.tag not in (None, "!") or len(stack) >= MAX_DOCUMENT_DEPTH:
                raise _NotPlain
            stack.append([{} if kind is mapping_start else [], None])
            continue
        elif kind in collection_end:
            value = stack.pop()[0]
        elif kind is yaml.DocumentEndEvent:
            if not isinstance(get_event(), yaml.StreamEndEvent):
                raise _NotPlain  # a second document: the composer words it
            return root
        else:  # an alias
            raise _NotPlain
        if not stack:
            root = value
            continue
        parent = stack[-1]
        collection = parent[0]
        if type(collection) is list:
            collection.append(value)
        elif parent[1] is None:  # a key
            if not is_key or value in collection:
                raise _NotPlain
            parent[1] = value
        else:
            collection[parent[1]] = value
            parent[1] = None


def _children(node: yaml.Node) -> list[tuple[yaml.Node, int]]:
    """A collection node's children, each with the line that names it (a value's key's line)."""
    if node.id == "mapping":
        return [child for key_node, value_node in node.value
                for child in ((key_node, key_node.start_mark.line + 1), (value_node, key_node.start_mark.line + 1))]
    if node.id == "sequence":
        return [(item, item.start_mark.line + 1) for item in node.value]
    return []


def _check_shape(root: yaml.Node, source: str, most_nodes: int) -> None:
    """FixtureError for a recursive alias, for aliases that expand it past `most_nodes`, or for
    collections nested past MAX_DOCUMENT_DEPTH. One walk without recursion, each node once (by identity)."""
    sizes: dict[int, int] = {}  # a node's nodes once its aliases are expanded
    depths: dict[int, int] = {}
    open_nodes: set[int] = set()  # the nodes on the path being walked
    stack: list[tuple[yaml.Node, int, bool]] = [(root, root.start_mark.line + 1, False)]
    while stack:
        node, line, finished = stack.pop()
        key = id(node)
        if finished:
            children = [id(child) for child, _ in _children(node)]
            sizes[key] = 1 + sum(sizes[child] for child in children)
            depths[key] = (node.id != "scalar") + max((depths[child] for child in children), default=0)
            open_nodes.discard(key)
        elif key in open_nodes:
            raise FixtureError([Problem(source, line, "", f"a recursive alias at line {line}: "
                                        "what an anchor names cannot hold an alias of itself")])
        elif key not in sizes:
            open_nodes.add(key)
            stack.append((node, line, True))
            stack.extend((child, child_line, False) for child, child_line in reversed(_children(node)))
    expanded, written = sizes[id(root)], len(sizes)
    if expanded > max(written, most_nodes):
        raise FixtureError([Problem(source, None, "", f"aliases expand the document to {expanded} nodes from {written}: "
                                    f"it may expand to at most {most_nodes} nodes (as many as its characters, "
                                    f"at least {MIN_EXPANDED_NODES})")])
    if depths[id(root)] > MAX_DOCUMENT_DEPTH:
        raise FixtureError([Problem(source, None, "", f"the document nests {depths[id(root)]} levels deep, "
                                    f"past the limit of {MAX_DOCUMENT_DEPTH}")])


def _index_lines(loader: Any, node: yaml.Node, path: tuple, lines: dict[tuple, int],
                 duplicates: list[Problem], source: str, visited: set[int]) -> None:
    """Note the line of each path, each node once: a path through a second alias of a node has
    the line of its nearest noted ancestor."""
    lines[path] = node.start_mark.line + 1
    if id(node) in visited:
        return
    visited.add(id(node))
    if node.id == "mapping":
        seen: set[Any] = set()
        for key_node, value_node in node.value:
            if key_node.tag == _MERGE_TAG:  # `<<: *base`: the merged keys' paths take this mapping's line
                continue
            if key_node.tag == _STR_TAG:
                key = key_node.value  # the common case, without the constructor's cost
            else:
                key = loader.construct_object(key_node, deep=True) if key_node.id == "scalar" else None
            if key in seen:
                duplicates.append(Problem(source, key_node.start_mark.line + 1, format_path([*path, key]),
                                          f"duplicate key '{key}'"))
            seen.add(key)
            _index_lines(loader, value_node, (*path, key), lines, duplicates, source, visited)
            lines[(*path, key)] = key_node.start_mark.line + 1
    elif node.id == "sequence":
        for index, item in enumerate(node.value):
            _index_lines(loader, item, (*path, index), lines, duplicates, source, visited)


def _line(lines: dict[tuple, int], path: list[Any] | tuple) -> int | None:
    """The line of `path`, or of its nearest ancestor that the document has."""
    parts = tuple(path)
    while parts not in lines and parts:
        parts = parts[:-1]
    return lines.get(parts)


# -- checking the rules the schema cannot say --------------------------------------------


class _Checker:
    def __init__(self, source: str, lines: LineIndex, scope: str | None, known: KnownTenants, *,
                 finite_numbers: bool = False) -> None:
        self.source = source
        self.lines = lines
        self.scope = scope
        self.finite_numbers = finite_numbers  # no NaN or Infinity in the document (`metadata_size(finite=)`)
        self.known = set(known) | ({scope} if scope else set())
        self.partitions = dict(known) if isinstance(known, Mapping) else {}  # API key -> tenant_key
        self.problems: list[Problem] = []

    def _in_scope(self, api_key: str) -> bool:
        """Whether a key reaches the partition of the scope key (any key of the same user)."""
        assert self.scope is not None
        return self.partitions.get(api_key, api_key) == self.partitions.get(self.scope, self.scope)

    def problem(self, path: list[Any], message: str) -> None:
        self.problems.append(Problem(self.source, self.lines.line(path), format_path(path), message))

    def check(self, data: dict[str, Any]) -> Fixture:
        settings = self._settings(data.get("settings") or {})
        tenants = self._tenants(data.get("tenants") or [])
        records = self._records(data.get("records") or [])
        scenarios = self._scenarios(data.get("scenarios") or [])
        return Fixture(self.source, self.scope, "", settings, tenants, records, scenarios)

    def _settings(self, settings: dict[str, Any]) -> dict[str, Any]:
        out = dict(settings)
        if self.scope is not None:
            for name in SERVER_WIDE_SETTINGS:
                if name in settings:
                    self.problem(["settings", name], "is server-wide: load it without ?tenant=")
        if settings.get("clock") is not None:
            out["clock"] = self._timestamp(["settings", "clock"], settings["clock"])
        return out

    def _tenants(self, entries: list[dict[str, Any]]) -> list[Tenant]:
        tenants = []
        seen: set[str] = set()
        for index, entry in enumerate(entries):
            key = entry["apiKey"]
            if key in seen:
                self.problem(["tenants", index, "apiKey"], f"tenant '{key}' is listed twice")
            seen.add(key)
            derived = open_tenant(key)
            tenants.append(Tenant(
                api_key=key,
                organization_id=entry.get("organizationId", derived.organization_id),
                user_id=entry.get("userId", derived.user_id),
                permissions=frozenset(entry.get("permissions", ALL_PERMISSIONS)),
            ))
        self.known |= seen
        self.partitions.update((t.api_key, t.tenant_key) for t in tenants)
        if self.scope is not None:
            for index, tenant in enumerate(tenants):
                if not self._in_scope(tenant.api_key):
                    self.problem(["tenants", index, "apiKey"],
                                 "a document loaded for one tenant may declare only keys of that tenant's user")
        return tenants

    def _records(self, entries: list[dict[str, Any]]) -> list[SeedRecord]:
        """The seeds, each checked as the API checks a record, and against the others. The schema
        has checked each entry's shape (so `id`, if given, is a string, and `metadata` an object);
        what is common to every entry is bound once, and what an entry does not have is skipped."""
        records: list[SeedRecord] = []
        add = records.append
        names: dict[tuple[str, str, str], int] = {}
        ids: dict[tuple[str, str], int] = {}
        scope, known, partitions, problem = self.scope, self.known, self.partitions, self.problem
        finite = self.finite_numbers
        for index, entry in enumerate(entries):
            tenant_key = entry.get("tenant", scope)
            if tenant_key is None:
                problem(["records", index, "tenant"], "'tenant' is required (an apiKey listed under tenants)")
                continue
            if scope is not None and not self._in_scope(tenant_key):
                problem(["records", index, "tenant"], "a document loaded for one tenant may seed only that tenant's records")
            elif tenant_key not in known:
                problem(["records", index, "tenant"], f"unknown tenant '{tenant_key}': list it under tenants first")
            record_type, name = entry["type"], entry["name"]
            key = (partitions.get(tenant_key, tenant_key), record_type, name)
            first = names.setdefault(key, index)
            if first != index:
                problem(["records", index, "name"], f"duplicate record: type '{record_type}' and name '{name}'"
                                                    f" are already used by records[{first}]")
            record_id = entry.get("id")
            if record_id is not None:
                first = ids.setdefault((key[0], record_id), index)
                if first != index:
                    problem(["records", index, "id"], f"duplicate id: already used by records[{first}]")
            fields = {"type": record_type, "name": name}
            metadata = entry.get("metadata")
            if metadata is not None:
                fields["metadata"] = metadata
            try:
                size, nesting = measure_metadata(metadata, finite=finite) if metadata else (2, None)  # `{}`
            except TypeError:  # a value JSON cannot write: YAML's dates, binary, sets
                size, nesting = 0, nesting_problem(metadata)
                where, what = _not_json(metadata)
                problem(["records", index, "metadata", *where], f"is {what}, which JSON has no value for: quote it")
            if nesting is not None:
                problem(["records", index, "metadata"], nesting)
            if "messages" in entry:
                fields["messages"] = entry["messages"]
                if (nesting := nesting_problem(entry["messages"])) is not None:
                    problem(["records", index, "messages"], nesting)
            if size > MAX_METADATA_BYTES:
                problem(["records", index, "metadata"], f"is {size} bytes, over the {MAX_METADATA_BYTES}-byte limit of a record")
            if "ownerId" in entry:
                fields["ownerId"] = entry["ownerId"]
            created = updated = None
            if "createdAt" in entry:
                created = self._timestamp(["records", index, "createdAt"], entry["createdAt"])
            if "updatedAt" in entry:
                updated = self._timestamp(["records", index, "updatedAt"], entry["updatedAt"])
                if created is not None and updated is not None and updated < created:
                    problem(["records", index, "updatedAt"], "must not be before createdAt")
            results, step_results = entry.get("results"), entry.get("stepResults")
            if results or step_results:
                self._runs(["records", index], entry, record_id)
            add(SeedRecord(
                tenant_key=tenant_key,
                fields=fields,
                id=record_id,
                created_at=created,
                updated_at=updated,
                product_surface_id=entry.get("productSurfaceId"),
                results=[dict(r) for r in results] if results else NO_RUNS,
                step_results=[dict(s) for s in step_results] if step_results else NO_RUNS,
                size=size,
            ))
        return records

    def _runs(self, path: list[Any], entry: dict[str, Any], record_id: str | None) -> None:
        """The checks of a record's results and step results: their times, and their ids."""
        for kind in ("results", "stepResults"):
            item_ids: set[str] = set()
            for item_index, item in enumerate(entry.get(kind) or []):
                for moment in TIMESTAMP_FIELDS:
                    if item.get(moment) is not None:
                        self._timestamp([*path, kind, item_index, moment], item[moment])
                if "id" in item and item["id"] in item_ids:
                    self.problem([*path, kind, item_index, "id"], "duplicate id within this record")
                item_ids.add(item.get("id", ""))
                if "recordId" in item and item["recordId"] != record_id:
                    self.problem([*path, kind, item_index, "recordId"], "must be the record's id (or left out)")

    def _scenarios(self, entries: list[dict[str, Any]]) -> list[dict[str, Any]]:
        names: dict[str, int] = {}
        for index, entry in enumerate(entries):
            name = entry.get("name")
            if name is not None:
                if name in names:
                    self.problem(["scenarios", index, "name"], f"duplicate scenario name: already used by scenarios[{names[name]}]")
                names.setdefault(name, index)
            tenant_key = (entry.get("when") or {}).get("tenant")
            if self.scope is not None and tenant_key is not None and not self._in_scope(tenant_key):
                self.problem(["scenarios", index, "when", "tenant"], "a document loaded for one tenant may match only that tenant")
        return [dict(entry) for entry in entries]

    def _timestamp(self, path: list[Any], value: str) -> int | None:
        try:
            return check_writable(parse_timestamp(value))
        except ValueError as error:
            self.problem(path, f"not a valid date-time: {error}")
            return None


_JSON_SCALARS = (str, int, float, bool, type(None))
_YAML_VALUES = {datetime.date: "a date", datetime.datetime: "a date-time", bytes: "binary data", set: "a set"}


def _not_json(value: Any) -> tuple[tuple[Any, ...], str]:
    """The path of the first value (or key) within `value` that JSON cannot write, and what it is."""
    stack: list[tuple[Any, tuple[Any, ...]]] = [(value, ())]
    while stack:
        item, path = stack.pop()
        if isinstance(item, dict):
            for key, child in item.items():
                if not isinstance(key, _JSON_SCALARS):
                    return path, f"a key that is {_YAML_VALUES.get(type(key), type(key).__name__)}"
                stack.append((child, (*path, key)))
        elif isinstance(item, (list, tuple)):
            stack.extend((child, (*path, index)) for index, child in enumerate(item))
        elif not isinstance(item, _JSON_SCALARS):
            return path, _YAML_VALUES.get(type(item), f"a {type(item).__name__}")
    return (), "a value of a type JSON has not"


def parse_scenario(text: str, source: str = "<scenario>", *, scope: str | None = None,
                   partition_of: Callable[[str], str] = lambda api_key: api_key) -> dict[str, Any]:
    """Check one scenario given as YAML or JSON text (POST /__admin/scenarios); added for the
    tenant of the key `scope`, it may name in `when.tenant` any key reaching the same partition."""
    data, _ = _read_document(text, source)
    lines = LineIndex(text, source)
    problems = [Problem(source, lines.line(path), format_path(path), message)
                for path, message in schema_problems("scenario", data)]
    tenant_key = (data.get("when") or {}).get("tenant") if isinstance(data, dict) else None
    if not problems and scope is not None and tenant_key is not None and partition_of(tenant_key) != partition_of(scope):
        problems.append(Problem(source, lines.line(["when", "tenant"]), "when.tenant",
                                "a scenario added for one tenant may match only that tenant"))
    if problems:
        raise FixtureError(problems)
    return data


def read_fixtures(paths: list[str]) -> list[Fixture]:
    """Read and check several files in order (a later one may name tenants an earlier one declares);
    FixtureError lists the problems of every file."""
    fixtures: list[Fixture] = []
    problems: list[Problem] = []
    known: dict[str, str] = {}
    for path in paths:
        try:
            fixture = read_fixture(path, known_tenants=known)
        except FixtureError as error:
            problems += error.problems
            continue
        known |= {t.api_key: t.tenant_key for t in fixture.tenants}
        fixtures.append(fixture)
    if problems:
        raise FixtureError(problems)
    return fixtures
