"""The conformance run: each case's steps sent to the target and to a fresh in-process sandbox,
one step at a time, their answers compared, and everything the run made on the target deleted.

The cleanup runs at the end of each case and once more at the end of the run, in `finally`, so a
failed case, an exception or Ctrl-C (SIGINT) and SIGTERM (both raise KeyboardInterrupt here) still
leave the target as it was; signals that come during the cleanup are ignored until it is done.
"""

from __future__ import annotations

import signal
import threading
import uuid
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any, Callable, Iterator
from urllib.parse import quote, urlencode

from mock_runtype.conformance import guard
from mock_runtype.conformance.cases import Case, Unresolved, pick
from mock_runtype.conformance.compare import Difference, Ids, differences, schema_problems
from mock_runtype.model.params import TYPE_MAX_LENGTH
from mock_runtype.conformance.transport import HttpSide, Request, SandboxSide, TransportError, build_request

CLEANUP_PAGE = 100


@dataclass
class StepResult:
    name: str
    request: str  # the step's method and path as written (variables unfilled: no ids, no key)
    target_status: int | None = None
    sandbox_status: int | None = None
    differences: list[Difference] = field(default_factory=list)
    schema: list[dict[str, str]] = field(default_factory=list)  # what the target's answer breaks
    error: str | None = None

    @property
    def same(self) -> bool:
        return not self.differences and not self.schema and self.error is None

    def to_json(self) -> dict[str, Any]:
        return {"name": self.name, "request": self.request, "targetStatus": self.target_status,
                "sandboxStatus": self.sandbox_status, "same": self.same,
                "differences": [d.to_json() for d in self.differences], "schemaProblems": self.schema,
                "error": self.error}


@dataclass
class CaseResult:
    name: str
    source: str
    description: str
    steps: list[StepResult] = field(default_factory=list)
    error: str | None = None  # why the case stopped before its last step

    @property
    def status(self) -> str:
        if self.error is not None:
            return "error"
        return "same" if all(step.same for step in self.steps) else "different"

    def to_json(self) -> dict[str, Any]:
        return {"name": self.name, "source": self.source, "description": self.description, "status": self.status,
                "error": self.error, "steps": [step.to_json() for step in self.steps]}


@dataclass
class RunResult:
    target: str
    prefix: str
    cases: list[CaseResult] = field(default_factory=list)
    not_run: list[str] = field(default_factory=list)
    interrupted: bool = False
    deleted: int = 0
    left_behind: list[str] = field(default_factory=list)  # ids the cleanup could not delete
    cleanup_errors: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return (not self.interrupted and not self.left_behind and not self.cleanup_errors
                and all(case.status == "same" for case in self.cases))

    def counts(self) -> dict[str, int]:
        statuses = [case.status for case in self.cases]
        return {"cases": len(self.cases), "same": statuses.count("same"), "different": statuses.count("different"),
                "errors": statuses.count("error"), "notRun": len(self.not_run)}

    def to_json(self) -> dict[str, Any]:
        return {"target": self.target, "prefix": self.prefix, "ok": self.ok, "interrupted": self.interrupted,
                "summary": self.counts(), "cases": [case.to_json() for case in self.cases], "notRun": self.not_run,
                "cleanup": {"deleted": self.deleted, "leftBehind": self.left_behind, "errors": self.cleanup_errors}}


def new_prefix() -> str:
    """A type prefix no other run uses (`mrc-` and 8 hex digits, then a dash)."""
    return f"mrc-{uuid.uuid4().hex[:8]}-"


class Run:
    """One conformance run of `cases` against `target`; `say` gets the progress lines."""

    def __init__(self, target: HttpSide, cases: list[Case], *, prefix: str | None = None,
                 say: Callable[[str], None] = lambda line: None) -> None:
        self.target = target
        self.cases = cases
        self.prefix = prefix or new_prefix()
        self.say = say
        self.unknown_id = str(uuid.uuid4())
        self.created: list[str] = []  # ids the target's answers made, in order
        self.types: set[str] = set()  # the run's types the target was asked about
        self.result = RunResult(target.url, self.prefix)

    def execute(self) -> RunResult:
        self.say(f"conformance: {len(self.cases)} cases against {self.target.url}; every record made has a type"
                 f" starting with {self.prefix} and is deleted at the end")
        with _stop_signals_raise():
            try:
                for case in self.cases:
                    result = CaseResult(case.name, case.source, case.description)
                    self.result.cases.append(result)
                    try:
                        self._case(case, result)
                    except KeyboardInterrupt:
                        result.error = "interrupted"
                        raise
                    finally:
                        with _signals_held():
                            self._cleanup()
                    self.say(f"  {case.name}: {self.result.cases[-1].status}")
            except KeyboardInterrupt:
                self.result.interrupted = True
                done = {result.name for result in self.result.cases}
                self.result.not_run = [case.name for case in self.cases if case.name not in done]
                self.say("conformance: interrupted; cleaning up")
            finally:
                with _signals_held():
                    self._cleanup(final=True)
        return self.result

    def _case(self, case: Case, result: CaseResult) -> None:
        """Fill `result` step by step; the first step that cannot be sent or answered ends the case."""
        sandbox = SandboxSide()
        shared = {"prefix": self.prefix, "type": self.prefix + case.name, "unknown_id": self.unknown_id}
        sides = {"target": (dict(shared), Ids()), "sandbox": (dict(shared), Ids())}
        for step in case.steps:
            outcome = StepResult(step.name, step.title)
            result.steps.append(outcome)
            try:
                theirs = build_request(step, sides["target"][0], self.target.api_key)
                ours = build_request(step, sides["sandbox"][0], sandbox.api_key)
            except Unresolved as error:
                outcome.error = f"cannot build the request: {error}"
                result.error = f"step {step.name!r}: {outcome.error}"
                return
            try:
                guard.check(theirs, self.prefix, set(self.created) | {self.unknown_id})
            except guard.Unsafe as error:
                outcome.error = f"not sent (it could touch what this run did not make): {error}"
                result.error = f"step {step.name!r}: {outcome.error}"
                return
            self.types.update(t for t in guard.types_named(theirs)
                              if t.startswith(self.prefix) and len(t) <= TYPE_MAX_LENGTH)  # a longer one holds nothing
            try:
                target_answer = self.target.send(theirs)
            except TransportError as error:
                outcome.error = f"the target did not answer: {error}"
                result.error = f"step {step.name!r}: {outcome.error}"
                return
            self.created.extend(sides["target"][1].created_by(theirs, target_answer))
            sandbox_answer = sandbox.send(ours)
            sides["sandbox"][1].created_by(ours, sandbox_answer)
            outcome.target_status, outcome.sandbox_status = target_answer.status, sandbox_answer.status
            outcome.differences = differences(target_answer, sides["target"][1], sandbox_answer,
                                              sides["sandbox"][1], step.ignore)
            outcome.schema = schema_problems(theirs, target_answer)
            for name, (variables, _) in sides.items():
                answer = target_answer if name == "target" else sandbox_answer
                for variable, path in step.capture.items():
                    variables[variable] = pick(answer.json(), path)

    # -- cleanup ----------------------------------------------------------------------------

    def _cleanup(self, final: bool = False) -> None:
        """Delete every record the run made: the ids its creates answered, and every record listed
        under one of its types (a create whose answer was lost still shows there). A listed record
        is deleted only when its own type is under the prefix, whatever the listing was asked."""
        doomed = list(dict.fromkeys(self.created))
        for record_type in sorted(self.types):
            doomed.extend(i for i in self._listed(record_type) if i not in doomed)
        for record_id in doomed:
            try:
                answer = self.target.send(self._request("DELETE", f"/v1/records/{quote(record_id, safe='')}"))
            except TransportError as error:
                self.result.cleanup_errors.append(str(error))
                continue
            if answer.status < 300:
                self.result.deleted += 1
            elif answer.status != 404:
                self.result.cleanup_errors.append(f"DELETE /v1/records/{record_id} answered {answer.status}")
        self.created = []
        if final:
            for record_type in sorted(self.types):
                self.result.left_behind.extend(self._listed(record_type))

    def _listed(self, record_type: str) -> list[str]:
        found: list[str] = []
        cursor = None
        for _ in range(1000):  # bounded: a target that pages forever cannot hold the cleanup
            query = {"type": record_type, "limit": CLEANUP_PAGE, **({"cursor": cursor} if cursor else {})}
            try:
                answer = self.target.send(self._request("GET", "/v1/records?" + urlencode(query)))
            except TransportError as error:
                self.result.cleanup_errors.append(str(error))
                return found
            body = answer.json()
            if answer.status != 200 or not isinstance(body, dict) or not isinstance(body.get("data"), list):
                self.result.cleanup_errors.append(f"listing {record_type} answered {answer.status}")
                return found
            found.extend(r["id"] for r in body["data"] if isinstance(r, dict) and isinstance(r.get("id"), str)
                         and isinstance(r.get("type"), str) and r["type"].startswith(self.prefix))
            pagination = body.get("pagination") if isinstance(body.get("pagination"), dict) else {}
            cursor = pagination.get("nextCursor")
            if not pagination.get("hasMore") or not cursor:
                break
        return found

    def _request(self, method: str, path: str) -> Request:
        return Request(method, path, {"Authorization": f"Bearer {self.target.api_key}", "Accept": "*/*"})


def _raise_interrupt(signum: int, frame: Any) -> None:
    raise KeyboardInterrupt


@contextmanager
def _stop_signals_raise() -> Iterator[None]:
    """SIGINT and SIGTERM raise KeyboardInterrupt (so `finally` runs), in the main thread only."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    previous = {sig: signal.signal(sig, _raise_interrupt) for sig in (signal.SIGINT, signal.SIGTERM)}
    try:
        yield
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)


@contextmanager
def _signals_held() -> Iterator[None]:
    """The cleanup is not cut short: SIGINT and SIGTERM are ignored while it runs."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    previous = {sig: signal.signal(sig, signal.SIG_IGN) for sig in (signal.SIGINT, signal.SIGTERM)}
    try:
        yield
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)

