"""The filter language of `recordFilter` (list, export, bulk edit) and `where` (preview filter).

Pure Python, no web framework: parse once (every mistake becomes an `InvalidRequest` whose
details name the offending part by path, like `where.conditions[2].op`), compile the parsed tree
into closures, then call `Filter.matches(record, now_ms)` per record.

Shapes
    group      {"op": "and" | "or", "conditions": [condition or group, ...]}
    condition  {"field": str, "op": str, "value": ...}

Fields
    `id`, `name`, `type`, `ownerId`, `createdAt`, `updatedAt` are the record's own columns and win
    over metadata keys of the same name. Any other field is a metadata key; `a.b` walks into
    nested metadata objects (a key literally named `a.b` is tried first, at every level);
    `metadata.x` names the metadata key `x` explicitly (so `metadata.name` is the metadata key
    `name`, not the record's name).

How values compare (the mock's reading of a Postgres JSONB-backed service; see docs/filters.md)
    * Missing: a field that is absent or JSON null is missing. Every test on a missing field is
      false, except the negations `neq`, `notIn` and `isNotSet` (and bulk edit's `not_equals`,
      `not_contains`), which are exactly `not eq`, `not in`, `not isSet`.
    * Kinds: each side is read as a number (a JSON number, or a string that reads as a decimal
      number such as "42" or " 4.5 "), a boolean (true/false, or the strings "true"/"false" in any
      case), a date-time (an ISO 8601 string; without a zone it is UTC), or text. Values of
      different kinds are never equal and never ordered (`"abc" gt 5` is false).
    * `eq`/`neq`/`in`/`notIn` compare within a kind: numbers numerically ("42" eq 42, "1.0" eq 1),
      date-times as instants, text exactly (case-sensitive). `gt`/`gte`/`lt`/`lte`/`between`
      order numbers numerically, date-times in time, text by code point; booleans are not ordered.
      `between` is inclusive at both ends (SQL BETWEEN); with low > high, or bounds of two kinds,
      it matches nothing.
    * `contains`/`startsWith`/`endsWith` are case-insensitive on text (ILIKE); a number or
      boolean is matched through its JSON text. `contains` on a list is membership (by the `eq`
      rule); `in`/`notIn` on a list field test whether any element is in the value list.
      Objects match no comparison (only `isSet`).
    * `isTrue`/`isFalse`: the booleans, and the strings "true"/"false" in any case. Nothing else.
    * `createdAt`/`updatedAt` are instants: compare them with an ISO 8601 date-time or with
      milliseconds since the epoch; `eq` is to the millisecond.
    * `withinLastDays N`: the instant is at or after now - N days (future instants included);
      `olderThanDays N`: strictly before now - N days. On a date-time field exactly one of the two
      holds. N may be fractional. A metadata value that is not a date-time string matches neither.
    * An empty group (`{"op": "and", "conditions": []}`, or "or") sets no condition: it matches
      every record, as a SQL builder that drops empty groups does.

Limits that protect the host: groups nest at most MAX_DEPTH deep, a filter holds at most
MAX_NODES groups and conditions together, an `in`/`notIn` list holds at most MAX_LIST_VALUES.
Parsing is iterative, so a hostile 10,000-deep nesting is a clean InvalidRequest.
"""

from __future__ import annotations

import json
import math
import re
from dataclasses import dataclass
from datetime import datetime, timezone
from functools import lru_cache
import operator
from operator import attrgetter
from typing import Any, Callable

import ahocorasick

from mock_runtype.model.clock import format_timestamp, parse_timestamp
from mock_runtype.model.errors import InvalidRequest
from mock_runtype.model.json_text import JSONTextError, json_type, loads_strict
from mock_runtype.model.records import Record
from mock_runtype.model.validation import unstorable_text_path

__all__ = [
    "Filter",
    "parse_filter",
    "parse_record_filter",
    "parse_record_filter_param",
    "conditions_to_filter",
    "field_getter",
    "metadata_getter",
    "filter_weight",
    "MAX_DEPTH",
    "MAX_NODES",
    "MAX_LIST_VALUES",
]

MAX_DEPTH = 20
MAX_NODES = 500
MAX_LIST_VALUES = 1000
MAX_FIELD_LENGTH = 500
MAX_TYPE_LENGTH = 255
DAY_MS = 86_400_000
MAX_CACHED_TEXT = 64  # strings up to this long have their classification cached
MAX_TIME_TEXT = 64  # longer than any date-time `_parse_time` reads

GROUP_OPS = ("and", "or")
SCALAR_OPS = ("eq", "neq")
ORDER_OPS = ("gt", "gte", "lt", "lte")
TEXT_OPS = ("contains", "startsWith", "endsWith")
LIST_OPS = ("in", "notIn")
NO_VALUE_OPS = ("isSet", "isNotSet", "isTrue", "isFalse")
DAYS_OPS = ("withinLastDays", "olderThanDays")
CONDITION_OPS = SCALAR_OPS + ORDER_OPS + ("between",) + TEXT_OPS + LIST_OPS + NO_VALUE_OPS + DAYS_OPS

# Bulk edit's legacy `conditions`: operator -> the op it compiles to ("eqCi"/"notContains" are
# internal, not part of the where language).
LEGACY_OPERATORS = {
    "equals": "eq",
    "equals_ci": "eqCi",
    "not_equals": "neq",
    "contains": "contains",
    "not_contains": "notContains",
}

# The record's own columns, by wire name -> Record attribute.
OWN_FIELDS = {
    "id": "id",
    "name": "name",
    "type": "type",
    "ownerId": "owner_id",
    "createdAt": "created_at",
    "updatedAt": "updated_at",
}
DATE_FIELDS = frozenset({"createdAt", "updatedAt"})
EQUALITY_OPS = ("eq", "neq", "eqCi")  # on createdAt/updatedAt these take a date-time or ms

Predicate = Callable[[Record, int], bool]


class Filter:
    """A parsed, compiled filter. `source` is the validated input it was built from."""

    __slots__ = ("_predicate", "_evaluation", "_record", "source")

    def __init__(self, predicate: Predicate, evaluation: _Evaluation, source: Any) -> None:
        self._predicate = predicate
        self._evaluation = evaluation
        self._record: Record | None = None
        self.source = source

    def matches(self, record: Record, now_ms: int) -> bool:
        """Whether `record` passes; `now_ms` anchors withinLastDays/olderThanDays."""
        if record is not self._record:  # what was worked out for the last record is of no more use
            self._evaluation.forget()
            self._record = record
        return self._predicate(record, now_ms)

    def __repr__(self) -> str:
        return f"Filter({json.dumps(self.source, default=str)[:200]})"


# ---------------------------------------------------------------------------------------------
# Reading values: kinds and keys
# ---------------------------------------------------------------------------------------------

NUM, BOOL, TIME, TEXT = "number", "boolean", "date-time", "text"

# Each digit can be matched one way only: "[0-9]+\.?[0-9]*" split a run of digits in every possible
# way before failing, quadratic time on a long digit run followed by a letter (minutes for 100 kB).
_NUMBER_TEXT = re.compile(r"[+-]?(?:[0-9]+(?:\.[0-9]*)?|\.[0-9]+)(?:[eE][+-]?[0-9]+)?")


def _parse_time(text: str) -> int | float | None:
    """An ISO 8601 date-time or date -> ms; a date-time without a zone is UTC; else None."""
    if len(text) < 10 or text[4] != "-" or not text[:4].isdigit():
        return None  # cheap refusal for the common case of ordinary text
    try:
        return parse_timestamp(text)
    except (ValueError, OverflowError):
        pass
    try:
        moment = datetime.fromisoformat(text.strip())
    except ValueError:
        return None
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=timezone.utc)
    try:
        return round(moment.timestamp() * 1000)
    except (OverflowError, ValueError):
        return None


def _classify_text(text: str) -> tuple[str, Any]:
    """The comparison key of a string: (kind, comparable value)."""
    stripped = text.strip()
    if _NUMBER_TEXT.fullmatch(stripped):
        try:
            number: int | float = int(stripped)
        except ValueError:
            number = float(stripped)
        if _is_finite(number):
            return (NUM, number)
    if len(stripped) <= 5:
        lowered = stripped.lower()
        if lowered == "true":
            return (BOOL, True)
        if lowered == "false":
            return (BOOL, False)
    if len(stripped) <= MAX_TIME_TEXT:
        moment = _parse_time(stripped)
        if moment is not None:
            return (TIME, moment)
    return (TEXT, text)


_classify_short_text = lru_cache(maxsize=1 << 16)(_classify_text)


def _text_key(text: str) -> tuple[str, Any]:
    """The comparison key of a string. Short ones, which repeat a lot, are cached; long ones are
    not, so that the cache does not keep the long texts of deleted records alive."""
    return _classify_short_text(text) if len(text) <= MAX_CACHED_TEXT else _classify_text(text)


def _key(value: Any) -> tuple[str, Any] | None:
    """The comparison key of a JSON value, or None when it is missing or not comparable."""
    kind = type(value)
    if kind is str:  # _text_key, inlined: this is the hot path of most comparisons
        return _classify_short_text(value) if len(value) <= MAX_CACHED_TEXT else _classify_text(value)
    if kind is bool:
        return (BOOL, value)
    if kind is int or kind is float:
        return (NUM, value)
    return None  # None, lists, objects


def _json_text(value: Any) -> str | None:
    """The text a number or boolean shows in JSON (what `->>` yields), lower-cased for matching."""
    if type(value) is bool:
        return "true" if value else "false"
    if type(value) is int or type(value) is float:
        return json.dumps(value).casefold()
    return None


def _is_finite(number: int | float) -> bool:
    """Whether a number is finite; an int always is (math.isfinite overflows on huge ones)."""
    return isinstance(number, int) or math.isfinite(number)


def _is_number(value: Any) -> bool:
    return type(value) is int or (type(value) is float and math.isfinite(value))


_TYPE_IN_WORDS = {"null": "null", "boolean": "a boolean", "number": "a number", "string": "a string",
                  "array": "a list", "object": "an object"}


def _type_in_words(value: Any) -> str:
    """A value's JSON type as problems word it ("a list", "an object"), from `json_type`."""
    return _TYPE_IN_WORDS[json_type(value)]


# ---------------------------------------------------------------------------------------------
# Per-value work, done once per record for the whole filter
# ---------------------------------------------------------------------------------------------

LONG_TEXT = 256  # texts (and lists) at least this long are worked on once per record, not per condition
SHORT_LIST = 16


class _NeedleScan:
    """The `contains` needles of one field, looked for in a text in one pass (an Aho-Corasick
    automaton) instead of one scan each: 499 conditions on a 450k-character value cost one pass.

    A text where the needles match nearly everywhere (`a` in `aaaa…`) would make the pass yield
    a match per position and needle; past a budget of matches the needles not yet found are looked
    for one by one, so a pass never costs more than the scans it replaces."""

    def __init__(self, needles: list[str]) -> None:
        self.needles = tuple(dict.fromkeys(needle for needle in needles if needle))
        self.automaton: Any = None
        if len(self.needles) > 1:
            self.automaton = ahocorasick.Automaton()
            for needle in self.needles:
                self.automaton.add_word(needle, needle)
            self.automaton.make_automaton()

    def found_in(self, folded: str) -> frozenset[str]:
        """The needles `folded` (a case-folded text) holds."""
        if self.automaton is None:
            return frozenset(needle for needle in self.needles if needle in folded)
        found: set[str] = set()
        budget = len(folded) // 16 + 4 * len(self.needles)
        for _, needle in self.automaton.iter(folded):
            found.add(needle)
            budget -= 1
            if len(found) == len(self.needles):
                return frozenset(found)
            if budget <= 0:
                found.update(needle for needle in self.needles if needle not in found and needle in folded)
                break
        return frozenset(found)


class _Evaluation:
    """What a filter works out from a record's values once for all its conditions: long texts
    case-folded, long texts classified (`_key`), each field's `contains` needles found in one pass,
    long lists turned into sets of keys. Entries are kept by the value's identity and checked
    against it, so a filter used by two threads at once is still right (it only works more); they
    are forgotten when the next record comes (`Filter.matches`)."""

    __slots__ = ("scans", "folds", "keys", "found", "lists")

    def __init__(self, needles: dict[str, list[str]]) -> None:
        self.scans = {field: _NeedleScan(found) for field, found in needles.items()}
        self.folds: dict[int, tuple[str, str]] = {}
        self.keys: dict[int, tuple[str, Any]] = {}
        self.found: dict[tuple[str, int], tuple[str, frozenset[str]]] = {}
        self.lists: dict[int, tuple[list, _ListKeys]] = {}

    def forget(self) -> None:
        if self.folds or self.keys or self.found or self.lists:
            self.folds.clear()
            self.keys.clear()
            self.found.clear()
            self.lists.clear()

    def fold(self, text: str) -> str:
        if len(text) < LONG_TEXT:
            return text.casefold()
        entry = self.folds.get(id(text))
        if entry is None or entry[0] is not text:
            entry = self.folds[id(text)] = (text, text.casefold())
        return entry[1]

    def key(self, value: Any) -> tuple[str, Any] | None:
        if type(value) is not str or len(value) < LONG_TEXT:
            return _key(value)
        entry = self.keys.get(id(value))
        if entry is None or entry[0] is not value:
            entry = self.keys[id(value)] = (value, _classify_text(value))
        return entry[1]

    def holds(self, field: str, text: str, needle: str) -> bool:
        """Whether `text` holds `needle` (case-folded, one of `field`'s contains needles), ignoring case."""
        if not needle:
            return True
        if len(text) < LONG_TEXT:
            return needle in text.casefold()
        entry = self.found.get((field, id(text)))
        if entry is None or entry[0] is not text:
            entry = self.found[(field, id(text))] = (text, self.scans[field].found_in(self.fold(text)))
        return needle in entry[1]

    def list_keys(self, items: list) -> _ListKeys | frozenset:
        """The keys (`_key`) of a list's comparable items, to test with `in` and `isdisjoint`."""
        if len(items) < SHORT_LIST:
            return frozenset(key for key in map(_key, items) if key is not None)
        entry = self.lists.get(id(items))
        if entry is None or entry[0] is not items:
            entry = self.lists[id(items)] = (items, _ListKeys(items, self.key))
        return entry[1]


class _ListKeys:
    """The keys of a long list's items, without a tuple per item: numbers apart (a list may hold a
    quarter of a million of them), booleans apart (True == 1 in a set), the other keys as they are."""

    __slots__ = ("numbers", "booleans", "others")

    def __init__(self, items: list, key: Callable[[Any], tuple[str, Any] | None]) -> None:
        self.numbers = {item for item in items if type(item) is int or type(item) is float}
        self.booleans = {item for item in items if type(item) is bool}
        self.others = {key(item) for item in items if type(item) is str}

    def __contains__(self, wanted: tuple[str, Any]) -> bool:
        kind, value = wanted
        if kind == NUM:
            return value in self.numbers or wanted in self.others
        if kind == BOOL:
            return value in self.booleans or wanted in self.others
        return wanted in self.others

    def isdisjoint(self, keys: frozenset) -> bool:
        return not any(wanted in self for wanted in keys)


def _contains_needles(tree: _Group | _Condition) -> dict[str, list[str]]:
    """Each field's `contains` needles (case-folded), from every condition of the tree."""
    needles: dict[str, list[str]] = {}
    stack = [tree]
    while stack:
        node = stack.pop()
        if isinstance(node, _Group):
            stack.extend(node.children)
        elif node.op in ("contains", "notContains") and node.field not in DATE_FIELDS:
            needles.setdefault(node.field, []).append(_needle(node.value))
    return needles


def _needle(value: Any) -> str:
    return _json_text(value) or value.casefold()


def _compiled(tree: _Group | _Condition, source: Any) -> Filter:
    evaluation = _Evaluation(_contains_needles(tree))
    return Filter(_compile(tree, evaluation), evaluation, source)


# What two filters that cannot both hold make (a recordFilter whose type differs from `type`).
MATCHES_NOTHING = Filter(lambda record, now_ms: False, _Evaluation({}), None)


# ---------------------------------------------------------------------------------------------
# Parsing (iterative, collects every problem)
# ---------------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class _Condition:
    field: str
    op: str
    value: Any


@dataclass(frozen=True, slots=True)
class _Group:
    op: str
    children: list


def _fail(problems: list[dict[str, str]], what: str = "filter") -> None:
    first = problems[0]
    more = f" (and {len(problems) - 1} more problem{'s' if len(problems) > 2 else ''})" if len(problems) > 1 else ""
    raise InvalidRequest(f"Invalid {what}: {first['path']}: {first['message']}{more}", details=problems)


def _problem(problems: list[dict[str, str]], path: str, message: str) -> None:
    problems.append({"path": path, "message": message})


def _check_field(node: dict, path: str, problems: list) -> str | None:
    if "field" not in node:
        _problem(problems, f"{path}.field", "is required")
        return None
    field = node["field"]
    if not isinstance(field, str):
        _problem(problems, f"{path}.field", f"must be a string, not {_type_in_words(field)}")
        return None
    if not field.strip():
        _problem(problems, f"{path}.field", "must not be empty")
        return None
    if len(field) > MAX_FIELD_LENGTH:
        _problem(problems, f"{path}.field", f"must be at most {MAX_FIELD_LENGTH} characters")
        return None
    if field == "metadata." or (field.startswith("metadata.") and not field[9:].strip()):
        _problem(problems, f"{path}.field", "'metadata.' must be followed by a metadata key")
        return None
    return field


def _op_hint(op: str, known: tuple[str, ...]) -> str:
    for candidate in known:
        if candidate.lower() == op.lower():
            return f"; did you mean '{candidate}'?"
    return f"; expected one of {', '.join(known)}"


def _check_scalar(value: Any, path: str, problems: list, *, allow_bool: bool = True) -> bool:
    if value is None:
        _problem(problems, path, "must not be null; use isSet or isNotSet to test for a missing value")
        return False
    if isinstance(value, bool):
        if allow_bool:
            return True
        _problem(problems, path, "must be a string or a number; booleans are not ordered")
        return False
    if isinstance(value, (int, float)):
        if _is_finite(value):
            return True
        _problem(problems, path, "must be a finite number")
        return False
    if isinstance(value, str):
        return True
    expected = "a string, number or boolean" if allow_bool else "a string or a number"
    _problem(problems, path, f"must be {expected}, not {_type_in_words(value)}")
    return False


def _check_orderable(value: Any, path: str, problems: list) -> bool:
    """Ordering ops take numbers, date-times or text; the strings "true"/"false" read as booleans."""
    if _key(value)[0] == BOOL:
        _problem(problems, path, "must be a string or a number; booleans are not ordered")
        return False
    return True


def _check_date_value(field: str, value: Any, path: str, problems: list) -> bool:
    """Values compared with createdAt/updatedAt: an ISO 8601 date-time, or ms since the epoch."""
    if _is_number(value) and not isinstance(value, bool):
        return True
    if isinstance(value, str) and _parse_time(value.strip()) is not None:
        return True
    _problem(
        problems,
        path,
        f"must be an ISO 8601 date-time or milliseconds since the epoch, since {field} is a date-time",
    )
    return False


def _check_value(field: str, op: str, node: dict, path: str, problems: list) -> bool:
    """Checks the value's shape for `op`; True when it is fine."""
    if op in NO_VALUE_OPS:
        return True  # a value, if given, is ignored
    vpath = f"{path}.value"
    if "value" not in node:
        _problem(problems, vpath, f"is required for '{op}'")
        return False
    value = node["value"]
    is_date = field in DATE_FIELDS
    if op in SCALAR_OPS or op in ("eqCi", "notContains"):
        if not _check_scalar(value, vpath, problems):
            return False
        return _check_date_value(field, value, vpath, problems) if is_date and op in EQUALITY_OPS else True
    if op in ORDER_OPS:
        if not _check_scalar(value, vpath, problems, allow_bool=False):
            return False
        return _check_date_value(field, value, vpath, problems) if is_date else _check_orderable(value, vpath, problems)
    if op == "between":
        if not isinstance(value, list) or len(value) != 2:
            _problem(problems, vpath, "must be a list of two bounds, [low, high]")
            return False
        ok = True
        for i, bound in enumerate(value):
            bpath = f"{vpath}[{i}]"
            if not _check_scalar(bound, bpath, problems, allow_bool=False):
                ok = False
            elif is_date and not _check_date_value(field, bound, bpath, problems):
                ok = False
            elif not is_date and not _check_orderable(bound, bpath, problems):
                ok = False
        return ok
    if op in TEXT_OPS:
        allow_bool = op == "contains"
        if not _check_scalar(value, vpath, problems, allow_bool=allow_bool):
            return False
        return True
    if op in LIST_OPS:
        if not isinstance(value, list):
            _problem(problems, vpath, f"must be a list, not {_type_in_words(value)}")
            return False
        if len(value) > MAX_LIST_VALUES:
            _problem(problems, vpath, f"must hold at most {MAX_LIST_VALUES} values")
            return False
        ok = True
        for i, item in enumerate(value):
            ipath = f"{vpath}[{i}]"
            if not _check_scalar(item, ipath, problems):
                ok = False
            elif is_date and not _check_date_value(field, item, ipath, problems):
                ok = False
        return ok
    if op in DAYS_OPS:
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            _problem(problems, vpath, f"must be a number of days, not {_type_in_words(value)}")
            return False
        if not _is_finite(value) or value < 0:
            _problem(problems, vpath, "must be a finite, non-negative number of days")
            return False
        return True
    raise AssertionError(op)  # pragma: no cover


def _check_condition(node: dict, path: str, problems: list) -> _Condition | None:
    before = len(problems)
    for key in node:
        if key not in ("field", "op", "value"):
            _problem(problems, f"{path}.{key}", "is not allowed in a condition (a condition has field, op and value)")
    field = _check_field(node, path, problems)
    op = node.get("op")
    if "op" not in node:
        _problem(problems, f"{path}.op", "is required")
        op = None
    elif not isinstance(op, str):
        _problem(problems, f"{path}.op", f"must be a string, not {_type_in_words(op)}")
        op = None
    elif op in GROUP_OPS:
        _problem(problems, f"{path}.op", f"'{op}' is a group op: a group has 'conditions', not 'field'")
        op = None
    elif op not in CONDITION_OPS:
        _problem(problems, f"{path}.op", f"unknown op '{op}'{_op_hint(op, CONDITION_OPS)}")
        op = None
    if field is None or op is None:
        return None
    if field in OWN_FIELDS and field not in DATE_FIELDS and op in DAYS_OPS:
        _problem(problems, f"{path}.op", f"'{op}' needs a date-time field; '{field}' is not one")
        return None
    if not _check_value(field, op, node, path, problems):
        return None
    if len(problems) > before:
        return None
    return _Condition(field, op, None if op in NO_VALUE_OPS else node["value"])


def _is_group(node: dict) -> bool:
    return "conditions" in node or ("field" not in node and node.get("op") in GROUP_OPS)


def _parse_tree(obj: Any, path: str) -> _Group | _Condition:
    """Validates a group-or-condition without recursion; raises InvalidRequest listing problems."""
    problems: list[dict[str, str]] = []
    root: list = []
    stack: list[tuple[Any, str, int, list]] = [(obj, path, 1, root)]
    nodes = 1
    while stack:
        node, here, depth, siblings = stack.pop()
        if not isinstance(node, dict):
            _problem(problems, here, f"must be an object (a condition or a group), not {_type_in_words(node)}")
            continue
        if not _is_group(node):
            condition = _check_condition(node, here, problems)
            if condition is not None:
                siblings.append(condition)
            continue
        if depth > MAX_DEPTH:
            raise InvalidRequest(
                f"Invalid filter: {here}: groups nest more than {MAX_DEPTH} deep",
                details=[{"path": here, "message": f"groups may nest at most {MAX_DEPTH} deep"}],
            )
        usable = True
        for key in node:
            if key not in ("op", "conditions"):
                _problem(problems, f"{here}.{key}", "is not allowed in a group (a group has op and conditions)")
        op = node.get("op")
        if "op" not in node:
            _problem(problems, f"{here}.op", "is required ('and' or 'or')")
            usable = False
        elif not isinstance(op, str) or op not in GROUP_OPS:
            hint = _op_hint(op, GROUP_OPS) if isinstance(op, str) else ""
            _problem(problems, f"{here}.op", f"a group's op must be 'and' or 'or', not {json.dumps(op)}{hint}")
            usable = False
        items = node.get("conditions")
        if "conditions" not in node:
            _problem(problems, f"{here}.conditions", "is required (a list of conditions or groups)")
            continue
        if not isinstance(items, list):
            _problem(problems, f"{here}.conditions", f"must be a list, not {_type_in_words(items)}")
            continue
        nodes += len(items)
        if nodes > MAX_NODES:
            raise InvalidRequest(
                f"Invalid filter: {here}.conditions: more than {MAX_NODES} conditions and groups",
                details=[
                    {"path": f"{here}.conditions", "message": f"a filter may hold at most {MAX_NODES} conditions and groups"}
                ],
            )
        children: list = []
        if usable:
            siblings.append(_Group(op, children))
        for i in range(len(items) - 1, -1, -1):
            stack.append((items[i], f"{here}.conditions[{i}]", depth + 1, children))
    if problems:
        _fail(problems)
    return root[0]


# ---------------------------------------------------------------------------------------------
# Compiling to closures
# ---------------------------------------------------------------------------------------------


def _always(record: Record, now_ms: int) -> bool:
    return True


def _metadata_path_getter(path: str) -> Callable[[dict], Any]:
    """A getter into a metadata dict: the literal key first, then a walk through nested objects."""
    if "." not in path:
        return lambda metadata: metadata.get(path)
    parts = path.split(".")
    rests = [".".join(parts[i:]) for i in range(len(parts))]
    steps = list(zip(parts, rests))

    def get(metadata: dict) -> Any:
        here: Any = metadata
        for part, rest in steps:
            if rest in here:
                return here[rest]
            here = here.get(part)
            if type(here) is not dict:
                return None
        return None

    return get


def _getter(field: str) -> Callable[[Record], Any]:
    if field in OWN_FIELDS:
        return attrgetter(OWN_FIELDS[field])
    if field.startswith("metadata."):
        inner = _metadata_path_getter(field[len("metadata."):])

        def get_explicit(record: Record) -> Any:
            metadata = record.metadata
            if field in metadata:  # a metadata key literally named "metadata.x"
                return metadata[field]
            return inner(metadata)

        return get_explicit
    get_path = _metadata_path_getter(field)
    if "." not in field:
        return lambda record: record.metadata.get(field)
    return lambda record: get_path(record.metadata)


def _negate(predicate: Predicate) -> Predicate:
    return lambda record, now_ms: not predicate(record, now_ms)


def _compile(node: _Group | _Condition, evaluation: _Evaluation) -> Predicate:
    if isinstance(node, _Condition):
        if node.field in DATE_FIELDS:
            return _compile_date_condition(node)
        return _compile_condition(node, evaluation)
    predicates = [_compile(child, evaluation) for child in node.children]  # depth is bounded by MAX_DEPTH
    if not predicates:
        return _always
    if len(predicates) == 1:
        return predicates[0]
    if node.op == "and":
        if len(predicates) == 2:
            first, second = predicates
            return lambda record, now_ms: first(record, now_ms) and second(record, now_ms)

        def all_of(record: Record, now_ms: int) -> bool:
            for predicate in predicates:
                if not predicate(record, now_ms):
                    return False
            return True

        return all_of
    if len(predicates) == 2:
        first, second = predicates
        return lambda record, now_ms: first(record, now_ms) or second(record, now_ms)

    def any_of(record: Record, now_ms: int) -> bool:
        for predicate in predicates:
            if predicate(record, now_ms):
                return True
        return False

    return any_of


_ORDER = {"gt": operator.gt, "gte": operator.ge, "lt": operator.lt, "lte": operator.le}


def _compile_condition(c: _Condition, evaluation: _Evaluation) -> Predicate:
    """A condition on a metadata value or on one of the record's text columns. Whatever costs as
    much as the value is long goes through `evaluation`, so it is done once per record."""
    get = _getter(c.field)
    op, value = c.op, c.value
    key = evaluation.key

    if op in ("eq", "neq", "eqCi"):
        wanted = _key(value)
        if wanted[0] == TEXT:
            # Only a string with exactly this text has this key: plain == is the whole test.
            def eq(record: Record, now_ms: int) -> bool:
                return get(record) == value
        else:
            def eq(record: Record, now_ms: int) -> bool:
                return key(get(record)) == wanted
        if op == "eq":
            return eq
        if op == "neq":
            return _negate(eq)
        if not isinstance(value, str):
            return eq
        folded = value.casefold()

        def eq_ci(record: Record, now_ms: int) -> bool:
            got = get(record)
            return (type(got) is str and evaluation.fold(got) == folded) or eq(record, now_ms)

        return eq_ci

    if op in ORDER_OPS:
        kind, bound = _key(value)
        compare = _ORDER[op]

        def ordered(record: Record, now_ms: int) -> bool:
            got = get(record)
            if kind is NUM and (type(got) is int or type(got) is float):
                return compare(got, bound)  # the common case, without building a key
            got = key(got)
            return got is not None and got[0] == kind and compare(got[1], bound)

        return ordered

    if op == "between":
        kind, low = _key(value[0])
        high_kind, high = _key(value[1])
        if high_kind != kind:  # values of different kinds are never ordered: nothing lies between
            return lambda record, now_ms: False

        def between(record: Record, now_ms: int) -> bool:
            got = key(get(record))
            return got is not None and got[0] == kind and low <= got[1] <= high

        return between

    if op in ("contains", "notContains"):
        needle = _needle(value)
        wanted = _key(value)
        field = c.field

        def contains(record: Record, now_ms: int) -> bool:
            got = get(record)
            kind = type(got)
            if kind is str:
                if len(got) < LONG_TEXT:  # the common case, without the memo
                    return needle in got.casefold()
                return evaluation.holds(field, got, needle)
            if kind is list:  # membership by the eq rule: a text value equals only that very string
                return wanted in evaluation.list_keys(got)
            text = _json_text(got)
            return text is not None and needle in text

        return contains if op == "contains" else _negate(contains)

    if op in ("startsWith", "endsWith"):
        needle = _needle(value)
        at_start = op == "startsWith"

        def affix(record: Record, now_ms: int) -> bool:
            got = get(record)
            text = evaluation.fold(got) if type(got) is str else _json_text(got)
            if text is None:
                return False
            return text.startswith(needle) if at_start else text.endswith(needle)

        return affix

    if op in LIST_OPS:
        keys = frozenset(_key(item) for item in value)
        if all(key[0] == TEXT for key in keys):
            texts = frozenset(key[1] for key in keys)

            def one_of(record: Record, now_ms: int) -> bool:
                got = get(record)
                if type(got) is str:
                    return got in texts
                if type(got) is list:
                    return not evaluation.list_keys(got).isdisjoint(keys)
                return False
        else:
            def one_of(record: Record, now_ms: int) -> bool:
                got = get(record)
                if type(got) is list:
                    return not evaluation.list_keys(got).isdisjoint(keys)
                return key(got) in keys

        return one_of if op == "in" else _negate(one_of)

    if op == "isSet":
        return lambda record, now_ms: get(record) is not None
    if op == "isNotSet":
        return lambda record, now_ms: get(record) is None
    if op in ("isTrue", "isFalse"):
        truth = op == "isTrue"
        word = "true" if truth else "false"

        def is_bool(record: Record, now_ms: int) -> bool:
            got = get(record)
            if type(got) is bool:
                return got is truth
            if type(got) is not str:
                return False
            stripped = got.strip()
            return len(stripped) == len(word) and stripped.lower() == word

        return is_bool

    if op in DAYS_OPS:
        span = value * DAY_MS
        within = op == "withinLastDays"

        def days(record: Record, now_ms: int) -> bool:
            got = get(record)
            if type(got) is not str:
                return False
            moment = key(got)
            if moment[0] != TIME:
                return False
            return moment[1] >= now_ms - span if within else moment[1] < now_ms - span

        return days

    raise AssertionError(op)  # pragma: no cover


def _as_ms(value: Any) -> int | float:
    return value if _is_number(value) else _parse_time(value.strip())


def _compile_date_condition(c: _Condition) -> Predicate:
    """A condition on createdAt/updatedAt: integer milliseconds, always present."""
    get = attrgetter(OWN_FIELDS[c.field])
    op, value = c.op, c.value
    if op in EQUALITY_OPS:  # an instant has no case: equals_ci is equals
        moment = _as_ms(value)
        if op != "neq":
            return lambda record, now_ms: get(record) == moment
        return lambda record, now_ms: get(record) != moment
    if op in ORDER_OPS:
        moment = _as_ms(value)
        compare = _ORDER[op]
        return lambda record, now_ms: compare(get(record), moment)
    if op == "between":
        low, high = _as_ms(value[0]), _as_ms(value[1])
        return lambda record, now_ms: low <= get(record) <= high
    if op in LIST_OPS:
        moments = frozenset(_as_ms(item) for item in value)
        if op == "in":
            return lambda record, now_ms: get(record) in moments
        return lambda record, now_ms: get(record) not in moments
    if op in TEXT_OPS or op == "notContains":
        # Matched against the wire form, e.g. "2024-06-10T09:15:30.000Z", case-insensitively.
        needle = (_json_text(value) or value).casefold()
        test = {
            "contains": lambda text: needle in text,
            "notContains": lambda text: needle not in text,
            "startsWith": lambda text: text.startswith(needle),
            "endsWith": lambda text: text.endswith(needle),
        }[op]
        return lambda record, now_ms: test(format_timestamp(get(record)).casefold())
    if op == "isSet":
        return _always
    if op in ("isNotSet", "isTrue", "isFalse"):
        return lambda record, now_ms: False
    if op == "withinLastDays":
        span = value * DAY_MS
        return lambda record, now_ms: get(record) >= now_ms - span
    if op == "olderThanDays":
        span = value * DAY_MS
        return lambda record, now_ms: get(record) < now_ms - span
    raise AssertionError(op)  # pragma: no cover


# ---------------------------------------------------------------------------------------------
# Entry points
# ---------------------------------------------------------------------------------------------


def field_getter(field: str) -> Callable[[Record], Any]:
    """What `field` reads from a record under the rules above (own columns, then metadata paths)."""
    return _getter(field)


def metadata_getter(path: str) -> Callable[[dict], Any]:
    """What `path` reads from a metadata object: a literal key first, then dotted steps."""
    return _metadata_path_getter(path)



def filter_weight(obj: Any) -> tuple[int, int]:
    """(conditions and groups, `contains` conditions) in a decoded filter of any form (a
    recordFilter, a where, bulk edit's conditions, or a body holding one), to estimate its work
    before it is parsed: everything is counted, nothing checked (a bad filter is a 400 later)."""
    nodes = contains = 0
    stack = [obj]
    while stack:
        node = stack.pop()
        if isinstance(node, list):
            stack.extend(node)
            continue
        if not isinstance(node, dict):
            continue
        nodes += 1
        if node.get("op", node.get("operator")) in ("contains", "not_contains"):
            contains += 1
        stack.extend(node[key] for key in ("where", "conditions", "recordFilter") if isinstance(node.get(key), (dict, list)))
    return nodes, contains


def parse_filter(obj: Any, path: str = "where") -> Filter:
    """A group or a single condition -> Filter. Raises InvalidRequest naming each problem's path."""
    return _compiled(_parse_tree(obj, path), obj)


def parse_record_filter(obj: Any, path: str = "recordFilter") -> tuple[str | None, Filter | None]:
    """An already-decoded `{"type"?, "where"?}` (or a bare group/condition) -> (type, filter).

    Bulk edit's body `recordFilter` and the decoded `recordFilter` query parameter both land here.
    A null `type` or `where` counts as absent.
    """
    if not isinstance(obj, dict):
        _fail([{"path": path, "message": f"must be an object, not {_type_in_words(obj)}"}], "recordFilter")
    if "op" in obj or "conditions" in obj or "field" in obj:
        return None, parse_filter(obj, path)
    problems: list[dict[str, str]] = []
    for key in obj:
        if key not in ("type", "where"):
            _problem(problems, f"{path}.{key}", "is not allowed (a recordFilter has type and where)")
    record_type = obj.get("type")
    if record_type is not None:
        if not isinstance(record_type, str):
            _problem(problems, f"{path}.type", f"must be a string, not {_type_in_words(record_type)}")
        elif not record_type or len(record_type) > MAX_TYPE_LENGTH:
            _problem(problems, f"{path}.type", f"must be 1 to {MAX_TYPE_LENGTH} characters")
    where = obj.get("where")
    record_filter = None
    if where is not None:
        try:
            record_filter = parse_filter(where, f"{path}.where")
        except InvalidRequest as error:
            problems.extend(error.details or [])
    if problems:
        _fail(problems, "recordFilter")
    return record_type, record_filter


def parse_record_filter_param(text: str) -> tuple[str | None, Filter | None]:
    """The `recordFilter` query parameter (JSON text) -> (type, filter); empty text -> (None, None)."""
    if not isinstance(text, str):
        _fail([{"path": "recordFilter", "message": "must be JSON text"}], "recordFilter")
    if not text.strip():
        return None, None
    try:
        obj = loads_strict(text)
    except RecursionError:
        _fail([{"path": "recordFilter", "message": "is nested too deeply"}], "recordFilter")
    except JSONTextError as error:
        _fail([{"path": "recordFilter", "message": f"is not valid JSON: {error}"}], "recordFilter")
    if "\\u" in text:  # as a body's JSON: no answer (an error naming it, say) can carry these
        path = unstorable_text_path(obj)
        if path is not None:
            _fail([{"path": "recordFilter" + ("." + path if path else ""),
                    "message": "contains \\u0000 or an unpaired surrogate"}], "recordFilter")
    return parse_record_filter(obj, "recordFilter")


def conditions_to_filter(conditions: Any, path: str = "conditions") -> Filter:
    """Bulk edit's legacy `conditions`: a list of {field, operator, value}, all of which must hold.

    Operators: equals (the `eq` rule), equals_ci (text equal ignoring case, else `eq`),
    not_equals (`neq`), contains (`contains`), not_contains (`not contains`; true when missing).
    An empty list sets no condition.
    """
    if not isinstance(conditions, list):
        _fail([{"path": path, "message": f"must be a list, not {_type_in_words(conditions)}"}], "conditions")
    if len(conditions) > MAX_NODES:
        _fail([{"path": path, "message": f"may hold at most {MAX_NODES} conditions"}], "conditions")
    problems: list[dict[str, str]] = []
    parsed: list[_Condition] = []
    for i, node in enumerate(conditions):
        here = f"{path}[{i}]"
        if not isinstance(node, dict):
            _problem(problems, here, f"must be an object with field, operator and value, not {_type_in_words(node)}")
            continue
        before = len(problems)
        for key in node:
            if key not in ("field", "operator", "value"):
                _problem(problems, f"{here}.{key}", "is not allowed (a condition has field, operator and value)")
        field = _check_field(node, here, problems)
        operator = node.get("operator")
        op = None
        if "operator" not in node:
            _problem(problems, f"{here}.operator", "is required")
        elif not isinstance(operator, str) or operator not in LEGACY_OPERATORS:
            known = tuple(LEGACY_OPERATORS)
            hint = _op_hint(operator, known) if isinstance(operator, str) else f"; expected one of {', '.join(known)}"
            _problem(problems, f"{here}.operator", f"unknown operator {json.dumps(operator)}{hint}")
        else:
            op = LEGACY_OPERATORS[operator]
        if field is None or op is None:
            continue
        if "value" not in node:
            _problem(problems, f"{here}.value", "is required")
            continue
        if not _check_scalar(node["value"], f"{here}.value", problems):
            continue
        if field in DATE_FIELDS and op in EQUALITY_OPS:
            if not _check_date_value(field, node["value"], f"{here}.value", problems):
                continue
        if len(problems) == before:
            parsed.append(_Condition(field, op, node["value"]))
    if problems:
        _fail(problems, "conditions")
    return _compiled(_Group("and", parsed), conditions)
