"""Schemathesis against /openapi.json on a real server: generated requests for every operation.

Fixed seed (derandomized), a bounded number of examples per operation. Every answer must be
documented: no 5xx, the status, media type, headers and body as the document says, within a few
seconds (RESPONSE_TIME_LIMIT_S). The server itself also checks each response (`check_responses`),
so a mismatch shows twice. And the document must say what the server enforces: a request valid
by it is accepted (positive_data_acceptance), an invalid one refused (negative_data_rejection).

What a valid request holds that the document cannot make, positive cases get from
`consistent()`: a list `cursor` (opaque, minted by the server for one query: any other string is
a 400, as the parameter's description says) is left out; a CSV upload's `file` is a file whose
header names the columns the case's own `nameColumn`/`typeColumn` ask for (JSON Schema cannot tie
the text of one field to the value of another); and NUL leaves the strings of free-form JSON
(metadata, ignored fields), which the document forbids in prose only (said by schema, it would be
a recursive one, which Schemathesis' negative mode fails to mutate). Negative cases keep what
they got.
"""

from __future__ import annotations

import csv
import io
import uuid

import pytest
import schemathesis
from hypothesis import HealthCheck, given, settings
from schemathesis import GenerationMode
from schemathesis.checks import not_a_server_error
from schemathesis.specs.openapi.checks import (
    negative_data_rejection,
    positive_data_acceptance,
    content_type_conformance,
    response_headers_conformance,
    response_schema_conformance,
    status_code_conformance,
)

from mock_runtype.contract.operations import PUBLISHED

# Examples per operation and mode: about 35 s for the whole file on one core (CI's budget is a
# minute); invalid requests cost more to make (mutations of the filter language's schemas).
EXAMPLES = {GenerationMode.POSITIVE: 30, GenerationMode.NEGATIVE: 15}
STATEFUL_SCENARIOS = 25
# Answers take milliseconds; the limit is there to catch a hang or a pathological path (such as
# the backtracking filter pattern that once took minutes), not the machine's load. Generous,
# since on a busy machine (xdist workers and other jobs sharing the cores) one answer can be late
# by a second or more without anything being wrong.
RESPONSE_TIME_LIMIT_S = 5.0
CHECKS = [not_a_server_error, status_code_conformance, content_type_conformance, response_headers_conformance,
          response_schema_conformance, positive_data_acceptance, negative_data_rejection]


@pytest.fixture(scope="module")
def published_document(server):
    return schemathesis.openapi.from_url(f"{server.url}/openapi.json")


CASES = [
    (op.method.upper(), op.path, mode)
    for op in PUBLISHED
    # an operation that takes no input has no invalid request to make
    for mode in ([GenerationMode.POSITIVE, GenerationMode.NEGATIVE] if op.secured else [GenerationMode.POSITIVE])
]


def without_nul(value):
    """`value` with NUL taken out of every string and key of it."""
    if isinstance(value, str):
        return value.replace("\x00", "")
    if isinstance(value, list):
        return [without_nul(item) for item in value]
    if isinstance(value, dict):
        return {without_nul(key): without_nul(item) for key, item in value.items()}
    return value


def consistent(case):
    """A positive case with the values only the server or another field can make (see above)."""
    if isinstance(case.query, dict):
        case.query.pop("cursor", None)
        if isinstance(case.query.get("recordFilter"), (dict, list)):
            case.query["recordFilter"] = without_nul(case.query["recordFilter"])
    if isinstance(case.body, (dict, list)):
        case.body = without_nul(case.body)
    if case.operation.path == "/v1/records/upload-csv" and isinstance(case.body, dict):
        columns = [case.body.get("nameColumn") or "name"]
        if not case.body.get("typeValue"):
            columns.append(case.body.get("typeColumn") or "type")
        columns = list(dict.fromkeys(columns))
        text = io.StringIO()
        csv.writer(text).writerows([columns, [f"value {i}" for i in range(len(columns))]])
        case.body["file"] = text.getvalue()
    return case


@pytest.mark.parametrize("method, path, mode", CASES)
def test_every_answer_is_documented(published_document, api_key, method, path, mode):
    """Valid requests (by the document) and invalid ones alike get documented answers."""
    operation = published_document[path][method]
    cases = operation.as_strategy(generation_mode=mode)
    if mode == GenerationMode.POSITIVE:
        cases = cases.map(consistent)

    @given(case=cases)
    # derandomize: the same examples on every run; health checks off: the filter language's schemas are
    # slow to draw from and large (too_slow, data_too_large), which is not a fault of the server
    @settings(max_examples=EXAMPLES[mode], derandomize=True, deadline=None, database=None,
              suppress_health_check=list(HealthCheck))
    def answers_as_documented(case):
        # Positive cases act as the test's tenant; negative ones keep the Authorization they were
        # made with (a mutation may leave it out: that must be a 401).
        response = case.call(headers={"Authorization": f"Bearer {api_key}"} if mode == GenerationMode.POSITIVE else None)
        case.validate_response(response, checks=CHECKS)
        assert response.elapsed < RESPONSE_TIME_LIMIT_S, f"{method} {path} took {response.elapsed:.3f} s"

    answers_as_documented()


def test_sequences_of_calls_follow_the_links(published_document, api_key):
    """Stateful: a created record's id flows (by the document's links) into get, update, delete, results."""
    machine = published_document.as_state_machine()

    class AsOneTenant(machine):
        """Each scenario is a tenant of its own, so a replayed scenario meets the same (empty) state."""

        def __init__(self):
            super().__init__()
            self.api_key = f"{api_key}_{uuid.uuid4().hex[:8]}"

        def get_call_kwargs(self, case):
            return {"headers": {"Authorization": f"Bearer {self.api_key}"}}

        def before_call(self, case):
            consistent(case)

        def validate_response(self, response, case, additional_checks=None, **kwargs):
            case.validate_response(response, checks=CHECKS)
            assert response.elapsed < RESPONSE_TIME_LIMIT_S

    AsOneTenant.run(settings=settings(max_examples=STATEFUL_SCENARIOS, stateful_step_count=6, derandomize=True,
                                      deadline=None, database=None, suppress_health_check=list(HealthCheck)))
