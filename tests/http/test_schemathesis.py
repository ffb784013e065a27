"""Schemathesis against /openapi.json on a real server: generated requests for every operation.

Fixed seed (derandomized), a bounded number of examples per operation. Every answer must be
documented: no 5xx, the status, media type, headers and body as the document says, within a few
seconds (RESPONSE_TIME_LIMIT_S). The server itself also checks each response (`check_responses`),
so a mismatch shows twice.
"""

from __future__ import annotations

import uuid

import pytest
import schemathesis
from hypothesis import HealthCheck, given, settings
from schemathesis import GenerationMode
from schemathesis.checks import not_a_server_error
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    response_headers_conformance,
    response_schema_conformance,
    status_code_conformance,
)

from mock_runtype.contract.operations import PUBLISHED

EXAMPLES_PER_OPERATION = 30
STATEFUL_SCENARIOS = 25
# Answers take milliseconds; the limit is there to catch a hang or a pathological path (such as
# the backtracking filter pattern that once took minutes), not the machine's load. Generous,
# since on a busy machine (xdist workers and other jobs sharing the cores) one answer can be late
# by a second or more without anything being wrong.
RESPONSE_TIME_LIMIT_S = 5.0
CHECKS = [not_a_server_error, status_code_conformance, content_type_conformance, response_headers_conformance,
          response_schema_conformance]


@pytest.fixture(scope="module")
def published_document(server):
    return schemathesis.openapi.from_url(f"{server.url}/openapi.json")


CASES = [
    (op.method.upper(), op.path, mode)
    for op in PUBLISHED
    # an operation that takes no input has no invalid request to make
    for mode in ([GenerationMode.POSITIVE, GenerationMode.NEGATIVE] if op.secured else [GenerationMode.POSITIVE])
]


@pytest.mark.parametrize("method, path, mode", CASES)
def test_every_answer_is_documented(published_document, api_key, method, path, mode):
    """Valid requests (by the document) and invalid ones alike get documented answers."""
    operation = published_document[path][method]

    @given(case=operation.as_strategy(generation_mode=mode))
    @settings(max_examples=EXAMPLES_PER_OPERATION, derandomize=True, deadline=None, database=None,
              suppress_health_check=list(HealthCheck))
    def answers_as_documented(case):
        response = case.call(headers={"Authorization": f"Bearer {api_key}"})
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

        def validate_response(self, response, case, additional_checks=None, **kwargs):
            case.validate_response(response, checks=CHECKS)
            assert response.elapsed < RESPONSE_TIME_LIMIT_S

    AsOneTenant.run(settings=settings(max_examples=STATEFUL_SCENARIOS, stateful_step_count=6, derandomize=True,
                                      deadline=None, database=None, suppress_health_check=list(HealthCheck)))
