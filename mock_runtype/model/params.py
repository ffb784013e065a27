"""Query-string parameters checked one by one, every problem collected and reported at once.

Pure rules, no web framework: a `QueryParams` takes the query string as a mapping of
name -> list of values (what `request.args.to_dict(flat=False)` gives) and the names it knows.
"""

from __future__ import annotations

import re
from typing import Iterable, Mapping

from mock_runtype.model.clock import parse_timestamp
from mock_runtype.model.errors import InvalidRequest

_INTEGER = re.compile(r"-?[0-9]{1,11}")  # one optional minus, ASCII digits: "--5" once reached int()
# The limits shared by several endpoints' parameters (the OpenAPI document reads them too).
UNKNOWN_IGNORED = "unknown query parameter, ignored (the others refuse the request)"
TYPE_MAX_LENGTH = 255  # a record type
TEXT_MAX_LENGTH = 500  # a name, an id, a field, a search
LIST_MAX_LENGTH = 10_000  # a comma-separated list, whole
SORT_ORDERS = ("asc", "desc")
DEFAULT_SORT_ORDER = "desc"


class QueryParams:
    """Typed access to single-valued parameters; `finish()` raises one 400 naming each problem."""

    def __init__(self, params: Mapping[str, list[str]], known: Iterable[str], *, refused: Mapping[str, str] | None = None,
                 ignored: list[str] | None = None) -> None:
        """`refused` maps names this endpoint does not take (though others do) to the reason.
        With an `ignored` list, an unknown name is added to it and ignored instead of refused."""
        self.problems: list[dict[str, str]] = []
        self.values: dict[str, str] = {}
        self.ignored: list[str] = []
        known = frozenset(known)
        for key, values in params.items():
            if refused and key in refused:
                self.problem(key, refused[key])
            elif key not in known:
                if ignored is None:
                    self.problem(key, "unknown query parameter")
                else:
                    ignored.append(key)
                    self.ignored.append(key)
            elif len(values) > 1:
                self.problem(key, "given more than once")
            else:
                self.values[key] = values[0]

    def problem(self, key: str, message: str) -> None:
        self.problems.append({"path": key, "message": message})

    def __contains__(self, key: str) -> bool:
        return key in self.values

    def raw(self, key: str) -> str | None:
        return self.values.get(key)

    def text(self, key: str, max_length: int = TEXT_MAX_LENGTH, *, required: bool = False) -> str | None:
        value = self.values.get(key)
        if value is None:
            if required:
                self.problem(key, "is required")
            return None
        if value == "" or len(value) > max_length:
            self.problem(key, f"must be 1-{max_length} characters")
            return None
        return value

    def integer(self, key: str, low: int, high: int) -> int | None:
        value = self.values.get(key)
        if value is None:
            return None
        if not _INTEGER.fullmatch(value):
            self.problem(key, "must be an integer")
            return None
        number = int(value)
        if not low <= number <= high:
            self.problem(key, f"must be between {low} and {high}")
            return None
        return number

    def boolean(self, key: str) -> bool:
        value = self.values.get(key)
        if value is None:
            return False
        if value.lower() in ("true", "1"):
            return True
        if value.lower() in ("false", "0"):
            return False
        self.problem(key, "must be true or false")
        return False

    def choice(self, key: str, options: Iterable[str], default: str) -> str:
        value = self.values.get(key)
        options = tuple(options)
        if value is None:
            return default
        if value not in options:
            self.problem(key, "must be one of " + ", ".join(options))
            return default
        return value

    def timestamp(self, key: str) -> int | None:
        """An ISO 8601 date-time (with a zone) or date, as milliseconds."""
        value = self.values.get(key)
        if value is None:
            return None
        try:
            return parse_timestamp(value)
        except (ValueError, OverflowError):
            self.problem(key, "must be an ISO 8601 date-time with a zone, such as 2024-06-10T09:15:30Z")
            return None

    def text_list(self, key: str) -> list[str] | None:
        """A comma-separated list of non-empty names."""
        value = self.text(key, LIST_MAX_LENGTH)
        if value is None:
            return None
        items = [item.strip() for item in value.split(",") if item.strip()]
        if not items:
            self.problem(key, "must name at least one value")
            return None
        return items

    def finish(self) -> None:
        """Raise the 400 naming every problem; the ignored names too, when there is one."""
        if self.problems:
            raise InvalidRequest(
                "Invalid query parameters: " + ", ".join(dict.fromkeys(p["path"] for p in self.problems)),
                details=self.problems + [{"path": key, "message": UNKNOWN_IGNORED} for key in self.ignored],
            )
