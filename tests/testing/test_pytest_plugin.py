"""The pytest plugin, as a user's test suite meets it (run by pytester, in-process or with xdist)."""

from __future__ import annotations

import re
import textwrap
from pathlib import Path

import pytest

from mock_runtype.sandbox.core import SandboxSettings
from mock_runtype.testing import LocalServer

pytest_plugins = ["pytester"]

ACME_FIXTURE = """\
tenants:
  - apiKey: sk_test_acme
    organizationId: org_acme
records:
  - tenant: sk_test_acme
    type: customer
    name: Acme Corp
    metadata: {industry: tech}
"""


def write_tests(pytester: pytest.Pytester, source: str, **files: str) -> None:
    pytester.makepyfile(test_user=textwrap.dedent(source))
    for name, text in files.items():
        pytester.path.joinpath(name).write_text(text)


def run(pytester: pytest.Pytester, *args: str, **outcomes: int) -> pytest.RunResult:
    """Run the user's suite in this process and check how many tests passed, failed, ..."""
    result = pytester.runpytest("-p", "no:cacheprovider", *args)
    result.assert_outcomes(**outcomes)
    return result


def run_with_xdist(pytester: pytest.Pytester, monkeypatch: pytest.MonkeyPatch, workers: int, *args: str,
                   **outcomes: int) -> pytest.RunResult:
    """Run the user's suite in a new process with xdist workers. Only this plugin and xdist are
    loaded: the other installed plugins (hypothesis, schemathesis) would cost seconds per worker."""
    monkeypatch.setenv("PYTEST_DISABLE_PLUGIN_AUTOLOAD", "1")
    result = pytester.runpytest_subprocess(
        "-p", "mock_runtype.testing.pytest_plugin", "-p", "xdist.plugin", "-p", "no:cacheprovider", "-n", str(workers), *args
    )
    result.assert_outcomes(**outcomes)
    return result


def test_each_test_gets_its_own_tenant_and_a_ready_sdk_client(pytester):
    write_tests(pytester, """
        import requests

        KEYS = []

        def test_create_through_the_sdk(runtype_client, runtype_mock):
            KEYS.append(runtype_mock.api_key)
            record = runtype_client.records.create(type="customer", name="Acme Corp")
            listed = requests.get(runtype_mock.url + "/v1/records", headers=runtype_mock.headers).json()
            assert [r["id"] for r in listed["data"]] == [record.id]

        def test_a_second_test_starts_empty(runtype_mock):
            KEYS.append(runtype_mock.api_key)
            listed = requests.get(runtype_mock.url + "/v1/records", headers=runtype_mock.headers).json()
            assert listed["data"] == []
            assert KEYS[0] != KEYS[1] and all(k.startswith("rt_test_") for k in KEYS)

        def test_the_journal_shows_what_the_test_sent(runtype_mock):
            requests.post(runtype_mock.url + "/v1/records", headers=runtype_mock.headers,
                          json={"type": "note", "name": "n1"})
            [entry] = runtype_mock.requests()
            assert (entry["method"], entry["path"], entry["status"]) == ("POST", "/v1/records", 201)
            assert runtype_mock.state()["records"][0]["name"] == "n1"
    """)
    run(pytester, passed=3)


def test_the_marker_loads_fixtures_and_each_test_starts_from_them(pytester):
    write_tests(pytester, """
        import pytest, requests

        def acme(runtype_mock):
            return requests.get(runtype_mock.url + "/v1/records",
                                headers={"Authorization": "Bearer sk_test_acme"}).json()["data"]

        @pytest.mark.runtype_fixtures("acme.yaml")
        def test_seeded_records_are_there(runtype_mock):
            [record] = acme(runtype_mock)
            assert (record["name"], record["organizationId"]) == ("Acme Corp", "org_acme")
            requests.post(runtype_mock.url + "/v1/records", headers={"Authorization": "Bearer sk_test_acme"},
                          json={"type": "customer", "name": "Globex"})
            assert len(acme(runtype_mock)) == 2

        @pytest.mark.runtype_fixtures("acme.yaml")
        def test_the_next_test_finds_the_fixture_state_again(runtype_mock):
            assert [r.name for r in runtype_mock.sdk_client("sk_test_acme").records.list().data] == ["Acme Corp"]

        def test_without_the_marker_the_fresh_tenant_is_empty(runtype_mock):
            assert runtype_mock.requests() == []
    """, **{"acme.yaml": ACME_FIXTURE})
    run(pytester, passed=3)


def test_scenarios_clock_state_and_fixtures_through_the_handle_touch_only_the_test(pytester):
    write_tests(pytester, """
        import requests

        def create(runtype_mock, name):
            return requests.post(runtype_mock.url + "/v1/records", headers=runtype_mock.headers,
                                 json={"type": "customer", "name": name})

        def test_control(runtype_mock):
            runtype_mock.add_scenario({"name": "refuse-once", "when": {"method": "POST"}, "times": 1,
                                       "respond": {"status": 400, "body": {"error": "injected"}}})
            assert create(runtype_mock, "A").status_code == 400  # a scenario's answer: no violation
            assert create(runtype_mock, "A").status_code == 201
            [scenario] = runtype_mock.scenarios()
            assert (scenario["matched"], scenario["fired"]) == (2, 1)

            runtype_mock.set_clock("2024-06-10T09:15:30Z")
            assert runtype_mock.advance_clock(90)["now"] == "2024-06-10T09:17:00.000Z"
            assert create(runtype_mock, "B").json()["createdAt"] == "2024-06-10T09:17:00.000Z"

            runtype_mock.load_fixtures("records:\\n  - {type: customer, name: Seeded}\\n")
            assert sorted(r["name"] for r in runtype_mock.state()["records"]) == ["A", "B", "Seeded"]
            assert [e["status"] for e in runtype_mock.requests(method="POST")] == [400, 201, 201]
            runtype_mock.reset()
            assert [r["name"] for r in runtype_mock.state()["records"]] == ["Seeded"]

        def test_the_next_test_starts_from_nothing(runtype_mock):
            assert runtype_mock.scenarios() == [] and runtype_mock.state()["records"] == []
            assert runtype_mock.clock()["controlled"] is False
    """)
    run(pytester, passed=2)


def test_what_a_test_created_under_a_fixed_key_is_gone_before_the_next_test(pytester):
    """As moto's tests do: the code under test is configured with one key for every test."""
    write_tests(pytester, """
        import pytest
        import requests

        FIXED = {"Authorization": "Bearer sk_live_configured"}
        ACME = {"Authorization": "Bearer sk_test_acme"}

        def names(url, headers):
            return [r["name"] for r in requests.get(url + "/v1/records", headers=headers).json()["data"]]

        @pytest.mark.runtype_fixtures("acme.yaml")
        def test_creates_under_the_fixed_key_and_a_fixture_tenant(runtype_mock):
            requests.post(runtype_mock.url + "/v1/records", headers=FIXED, json={"type": "t", "name": "mine"})
            requests.post(runtype_mock.url + "/v1/records", headers=ACME, json={"type": "t", "name": "extra"})
            assert names(runtype_mock.url, FIXED) == ["mine"]

        def test_the_fixed_key_starts_clean(runtype_mock):
            assert names(runtype_mock.url, FIXED) == []
            requests.post(runtype_mock.url + "/v1/records", headers=FIXED, json={"type": "t", "name": "again"})

        def test_also_for_a_test_taking_only_the_server(runtype_server):
            assert names(runtype_server.url, FIXED) == []
            requests.post(runtype_server.url + "/v1/records", headers=FIXED, json={"type": "t", "name": "more"})

        @pytest.mark.runtype_fixtures("acme.yaml")
        def test_the_fixture_tenant_is_back_to_its_fixture(runtype_mock):
            assert names(runtype_mock.url, FIXED) == []
            assert names(runtype_mock.url, ACME) == ["Acme Corp"]
    """, **{"acme.yaml": ACME_FIXTURE})
    run(pytester, passed=4)


def test_sdk_clients_share_one_ssl_context_and_leave_the_sdks_httpx_alone(runtype_mock):
    """Loading the CA bundle for each client cost about 20 ms a test (see bench/plugin_cost.py)."""
    import httpx
    import runtype._client

    first, second = runtype_mock.sdk_client(), runtype_mock.sdk_client()
    clients = [first._client, second._client, first.api._client_wrapper.httpx_client.httpx_client]
    assert len({id(client._transport._pool._ssl_context) for client in clients}) == 1
    assert runtype._client.httpx is httpx
    assert first.records.create(type="t", name="n").name == "n"


def test_a_fixture_tenants_violations_count_and_expected_blocks_cover_it(pytester):
    write_tests(pytester, """
        import pytest, requests

        ACME = {"Authorization": "Bearer sk_test_acme"}

        @pytest.mark.runtype_fixtures("acme.yaml")
        def test_acme_sends_a_bad_body(runtype_mock):
            with runtype_mock.expect_errors():
                requests.post(runtype_mock.url + "/v1/records", headers=ACME, json={"type": "customer"})
            requests.patch(runtype_mock.url + "/v1/records/x", headers=ACME, json={"name": ""})
    """, **{"acme.yaml": ACME_FIXTURE})
    result = run(pytester, failed=1)
    result.stdout.fnmatch_lines(["*answered 1 request of this test*", "*PATCH /v1/records/x -> 400 (validation)*"])


def test_a_guarded_external_server_needs_the_admin_token(pytester, monkeypatch):
    write_tests(pytester, """
        def test_journal(runtype_mock):
            assert runtype_mock.requests() == []
    """)
    with LocalServer(SandboxSettings(admin_token="s3cret")) as guarded:
        result = run(pytester, "--runtype-url", guarded.url, errors=1)
        result.stdout.fnmatch_lines(["*the sandbox at * guards its control API: give its admin token (--runtype-admin-token*"])
        monkeypatch.setenv("MOCK_RUNTYPE_ADMIN_TOKEN", "s3cret")
        run(pytester, "--runtype-url", guarded.url, passed=1)


def test_a_bad_or_missing_fixture_file_errors_the_test_saying_where(pytester):
    write_tests(pytester, """
        import pytest

        @pytest.mark.runtype_fixtures("bad.yaml")
        def test_bad(runtype_mock):
            pass

        @pytest.mark.runtype_fixtures("missing.yaml")
        def test_missing(runtype_mock):
            pass
    """, **{"bad.yaml": "tenants:\n  - apiKey: sk_x\n    colour: red\n"})
    result = run(pytester, errors=2)
    result.stdout.fnmatch_lines([
        "mock-runtype: */bad.yaml: POST /__admin/fixtures answered 400: Invalid fixture document (1 problem)",
        "      line 3: tenants[0].colour: unknown field: colour",
        "mock-runtype: fixture file missing.yaml not found (beside test_user.py and in *)",
    ])


def test_forty_tests_under_xdist_against_one_server_are_isolated(pytester, monkeypatch, own_server):
    write_tests(pytester, """
        import pytest, requests

        @pytest.mark.parametrize("n", range(40))
        def test_sees_only_its_own_records(runtype_mock, n):
            session = requests.Session()
            session.headers.update(runtype_mock.headers)
            names = {f"record {n}.{i}" for i in range(3)}
            for name in names:
                assert session.post(runtype_mock.url + "/v1/records", json={"type": "item", "name": name}).status_code == 201
            listed = session.get(runtype_mock.url + "/v1/records", params={"limit": 100}).json()["data"]
            assert {r["name"] for r in listed} == names
    """)
    result = run_with_xdist(pytester, monkeypatch, 4, "--runtype-url", own_server.url, passed=40)
    store = own_server.sandbox.store
    assert [key for key in store.tenant_keys() if store.records_of(key)] == []  # each test cleaned up
    result.stdout.fnmatch_lines([f"mock-runtype: the sandbox at {own_server.url}; *", "*4 workers*"])


def test_a_test_that_swallows_a_400_fails_listing_the_request(pytester):
    write_tests(pytester, """
        import requests

        def test_ignores_the_answer(runtype_mock):
            requests.post(runtype_mock.url + "/v1/records", headers=runtype_mock.headers,
                          json={"type": "customer", "nmae": "typo"})
    """)
    result = run(pytester, failed=1)
    result.stdout.fnmatch_lines([
        "*the sandbox answered 1 request of this test as contract violation*",
        "*POST /v1/records -> 400 (validation): Validation failed: *",
        "*name: 'name' is required*",
        "*nmae: unknown field, ignored*",
    ])
    assert "Traceback" not in result.stdout.str()


def test_unknown_routes_and_wrong_methods_are_violations_but_a_missing_record_is_not(pytester):
    write_tests(pytester, """
        import requests

        def test_calls(runtype_mock):
            requests.get(runtype_mock.url + "/v1/records/no-such-id", headers=runtype_mock.headers)
            requests.get(runtype_mock.url + "/v1/recrods", headers=runtype_mock.headers)
            requests.post(runtype_mock.url + "/v1/records/some-id", headers=runtype_mock.headers, json={})
    """)
    result = run(pytester, failed=1)
    result.stdout.fnmatch_lines([
        "*answered 2 requests of this test as contract violations*",
        "*GET /v1/recrods -> 404 (unknown route): Not found: GET /v1/recrods",
        "*POST /v1/records/some-id -> 405 (method not allowed): Method POST is not allowed*",
    ])
    assert "no-such-id" not in result.stdout.str()


def test_expected_errors_in_a_block_or_by_marker_do_not_fail(pytester):
    write_tests(pytester, """
        import pytest, requests

        def bad_create(runtype_mock):
            return requests.post(runtype_mock.url + "/v1/records", headers=runtype_mock.headers, json={"type": ""})

        def test_block(runtype_mock):
            with runtype_mock.expect_errors():
                assert bad_create(runtype_mock).status_code == 400

        def test_outside_the_block_still_counts(runtype_mock):
            with runtype_mock.expect_errors():
                bad_create(runtype_mock)
            bad_create(runtype_mock)

        @pytest.mark.runtype_expect_errors
        def test_marker(runtype_mock):
            assert bad_create(runtype_mock).status_code == 400
    """)
    result = run(pytester, passed=2, failed=1)
    result.stdout.fnmatch_lines(["*test_outside_the_block_still_counts*", "*answered 1 request of this test*"])


def test_warn_mode_reports_without_failing(pytester):
    pytester.makeini("[pytest]\nruntype_violations = warn\n")
    write_tests(pytester, """
        import requests

        def test_ignores_the_answer(runtype_mock):
            requests.post(runtype_mock.url + "/v1/records", headers=runtype_mock.headers, json={"type": 1})
    """)
    result = run(pytester, passed=1, warnings=1)
    result.stdout.fnmatch_lines(["*RuntypeContractWarning*", "*POST /v1/records -> 400 (validation)*"])
    run(pytester, "--runtype-violations=fail", failed=1)


def test_a_failing_test_keeps_its_own_error_and_lists_violations_beside_it(pytester):
    write_tests(pytester, """
        import requests

        def test_fails(runtype_mock):
            requests.get(runtype_mock.url + "/v1/nothing", headers=runtype_mock.headers)
            assert 1 == 2
    """)
    result = run(pytester, failed=1)
    result.stdout.fnmatch_lines(["*assert 1 == 2*", "*mock-runtype contract violations*", "*GET /v1/nothing -> 404*"])


def test_runtype_url_from_the_environment_and_a_clear_error_when_nothing_answers(pytester, server, monkeypatch):
    write_tests(pytester, """
        def test_url(runtype_mock):
            assert runtype_mock.url == "%s" and runtype_mock.sandbox is None
    """ % server.url)
    monkeypatch.setenv("MOCK_RUNTYPE_URL", server.url)
    run(pytester, passed=1)

    monkeypatch.setenv("MOCK_RUNTYPE_URL", "http://127.0.0.1:9")
    result = run(pytester, errors=1)
    result.stdout.fnmatch_lines(["*mock-runtype: no sandbox answers at http://127.0.0.1:9*"])


def test_runtype_client_without_the_sdk_is_an_error_naming_the_install_command(pytester):
    pytester.makeconftest("import sys\nsys.modules['runtype'] = None\n")
    write_tests(pytester, """
        def test_sdk(runtype_client):
            raise AssertionError("not reached")
    """)
    result = run(pytester, errors=1)
    result.stdout.fnmatch_lines(["*runtype_client needs runtype-sdk: pip install runtype-sdk*"])


def test_runtype_client_makes_no_retries_unless_told(pytester):
    """The SDK's typed layer retries a 409 twice by default (seconds of backoff, three POSTs)."""
    write_tests(pytester, """
        import pytest
        from runtype._generated.errors.conflict_error import ConflictError

        def test_one_post(runtype_client, runtype_mock, request):
            runtype_client.records.create(type="customer", name="Dup")
            with runtype_mock.expect_errors(), pytest.raises(ConflictError):
                runtype_client.api.records.create_record(type="customer", name="Dup")
            expected = 2 + (request.config.getoption("--runtype-sdk-retries") or 0)
            assert len(runtype_mock.requests(method="POST")) == expected
    """)
    run(pytester, passed=1)
    run(pytester, "--runtype-sdk-retries", "1", passed=1)
    pytester.makeini("[pytest]\nruntype_sdk_retries = many\n")
    result = pytester.runpytest("-p", "no:cacheprovider")
    result.stderr.fnmatch_lines(["*runtype_sdk_retries must be a whole number, not 'many'*"])


def test_an_in_process_test_client_needs_no_socket_and_is_checked_too(pytester):
    write_tests(pytester, """
        def test_in_process(runtype_mock):
            client = runtype_mock.test_client()
            created = client.post("/v1/records", json={"type": "customer", "name": "Acme"})
            assert created.status_code == 201
            assert client.get("/v1/records").json["data"][0]["id"] == created.json["id"]
            client.post("/v1/records", json={"type": "customer"})
    """)
    result = run(pytester, failed=1)
    result.stdout.fnmatch_lines(["*POST /v1/records -> 400 (validation)*"])


def docs_block(caption: str) -> str:
    """The code block that follows `caption` in docs/pytest.md's section on the session's server."""
    page = Path(__file__).resolve().parents[2].joinpath("docs", "pytest.md").read_text("utf-8")
    section = page.split("\n## A server for the session", 1)[1].split("\n## ", 1)[0]
    return re.search(re.escape(caption) + r".*?```\w*\n(.*?)```", section, re.S).group(1)


def test_the_docs_example_runs_as_written_also_under_xdist(pytester, monkeypatch):
    pytester.path.joinpath("acme.yaml").write_text(docs_block("`acme.yaml`"))
    pytester.makepyfile(test_customers=docs_block("`test_customers.py`"))
    run(pytester, passed=4)
    run_with_xdist(pytester, monkeypatch, 2, passed=4)


def test_a_contract_warning_fails_the_test_unless_warnings_are_off(pytester):
    write_tests(pytester, """
        import requests

        def test_sends_an_extra_field(runtype_mock):
            answer = requests.post(runtype_mock.url + "/v1/records?utm=1", headers=runtype_mock.headers,
                                   json={"type": "customer", "name": "A", "colour": "red"})
            assert answer.status_code == 201

        def test_expects_it(runtype_mock):
            with runtype_mock.expect_errors():
                requests.get(runtype_mock.url + "/v1/records?utm=1", headers=runtype_mock.headers)
    """)
    result = run(pytester, failed=1, passed=1)
    result.stdout.fnmatch_lines([
        "*the sandbox answered 1 request of this test ignoring some of what it sent, with contract warning*",
        "*POST /v1/records?utm=1 -> 201 (contract warning): ignored unknown fields: query.utm, body.colour*",
    ])
    run(pytester, "--runtype-warnings=off", passed=2)
    run(pytester, "--runtype-violations=off", failed=1, passed=1)  # each kind has its own mode
