"""The web console's pages and actions over HTTP, on a real server: what each shows, what each does,
and that it shows no key and runs nothing a record carries (the browser tests click through)."""

from __future__ import annotations

import re

import pytest
import requests

from mock_runtype.model.tenancy import fingerprint
from mock_runtype.sandbox.fixtures import FixtureError, parse_fixture
from tests.conftest import RunningServer

UI = "/__admin/ui"
BAD_FIXTURE = "records:\n  - type: note\n    name: a\n  - type: note\n    metadata: 5\n"


def get(server, page: str, **params) -> requests.Response:
    return requests.get(server.url + UI + page, params=params, timeout=10)


def post(server, path: str, data: dict, files: dict | None = None, origin: str | None = "own") -> requests.Response:
    """A form post as the console's own page sends it: with this server's Origin."""
    headers = {} if origin is None else {"Origin": server.url if origin == "own" else origin}
    return requests.post(server.url + UI + path, data=data, files=files, headers=headers, timeout=10,
                         allow_redirects=False)


def create(server, api_key: str, **fields) -> dict:
    answer = requests.post(server.url + "/v1/records", json={"type": "note", "name": "n", "metadata": {}, **fields},
                           headers={"Authorization": f"Bearer {api_key}"}, timeout=10)
    assert answer.status_code == 201, answer.text
    return answer.json()


def text_of(html: str) -> str:
    """The page's text, tags dropped (enough to read what a cell says)."""
    return re.sub(r"\s+", " ", re.sub(r"<[^>]+>", " ", html))


@pytest.mark.parametrize("path", ["", "/records", "/requests", "/requests/rows", "/actions", "/login"])
def test_every_page_is_html_with_a_content_security_policy(server, path):
    answer = get(server, path)
    assert answer.status_code == 200
    assert answer.headers["Content-Type"] == "text/html; charset=utf-8"
    policy = answer.headers["Content-Security-Policy"]
    assert "script-src 'self'" in policy and "default-src 'none'" in policy and "frame-ancestors 'none'" in policy
    assert "unsafe-inline" not in policy
    assert answer.headers["X-Frame-Options"] == "DENY" and answer.headers["Referrer-Policy"] == "same-origin"
    assert "<script>" not in answer.text and " style=" not in answer.text  # nothing inline: the policy allows none


def test_the_overview_shows_tenants_by_fingerprint_with_their_counts(server, api_key):
    create(server, api_key, name="one")
    create(server, api_key, name="two")
    page = get(server, "").text
    row = re.search(rf"<tr>\s*<td><code>{fingerprint(api_key)}</code></td>.*?</tr>", page, re.S)
    assert row is not None
    assert "fp:" + fingerprint(api_key) in row.group(0) and '<td class="num">2</td>' in row.group(0)
    assert api_key not in page


def test_a_record_carrying_markup_is_shown_as_text(server, api_key):
    record = create(server, api_key, name="<script>alert(1)</script>",
                    metadata={"x": "<img src=x onerror=alert(2)>", "</pre><script>alert(3)</script>": 1})
    tenant = fingerprint(api_key)
    listing = get(server, "/records", tenant=tenant).text
    detail = get(server, f"/records/{record['id']}", tenant=tenant).text
    journal = get(server, "/requests", tenant=tenant).text
    entry_id = re.search(r'data-entry="(\d+)"', journal).group(1)
    entry = get(server, f"/requests/{entry_id}").text
    for page in (listing, detail, journal, entry):
        assert "<script>alert" not in page and "<img src=x" not in page and "</pre><script>" not in page
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in listing and "&lt;img src=x onerror=alert(2)&gt;" in detail
    assert "&lt;/pre&gt;&lt;script&gt;alert(3)&lt;/script&gt;" in entry  # the request body, as sent


def test_no_page_shows_an_api_key_or_the_admin_token(own_server, api_key):
    own_server.admin("POST", "/fixtures", data=f"tenants: [{{apiKey: sk_secret_1, organizationId: o, userId: u}}]\n"
                     f"records: [{{tenant: sk_secret_1, type: t, name: a}}]\n", headers={"Content-Type": "application/yaml"})
    create(own_server, api_key)
    own_server.admin("POST", "/scenarios", json={"name": "theirs", "when": {"tenant": "sk_secret_1"}, "delayMs": 1})
    own_server.admin("POST", "/scenarios", params={"tenant": api_key}, json={"name": "mine", "delayMs": 1})
    requests.get(own_server.url + "/v1/records", headers={"Authorization": "Bearer sk_secret_1"}, timeout=10)
    entries = own_server.admin("GET", "/requests").json()["requests"]
    pages = [get(own_server, path).text for path in ("", "/records", "/requests", "/actions")]
    pages += [get(own_server, f"/requests/{entry['id']}").text for entry in entries]
    pages += [get(own_server, "/records", tenant=fingerprint(key)).text for key in ("sk_secret_1", api_key)]
    for page in pages:
        assert "sk_secret_1" not in page and api_key not in page
    assert "fp:" + fingerprint("sk_secret_1") in pages[0] and "theirs" in pages[0] and "mine" in pages[0]


def test_records_page_with_the_apis_own_cursors(server, api_key):
    for number in range(5):
        create(server, api_key, name=f"r{number}", type="page-test")
    tenant = fingerprint(api_key)
    first = get(server, "/records", tenant=tenant, type="page-test", limit="2").text
    nexts = re.search(r'href="([^"]+)" rel="next"', first)
    assert nexts is not None and "cursor=" in nexts.group(1)
    second = requests.get(server.url + nexts.group(1).replace("&amp;", "&"), timeout=10).text
    names = lambda html: re.findall(r'">(r\d)</a></td><td>page-test', html)  # noqa: E731
    assert len(names(first)) == 2 and len(names(second)) == 2 and not set(names(first)) & set(names(second))
    assert 'rel="prev"' in second


def test_a_bad_record_filter_is_worded_as_the_api_words_it(server, api_key):
    create(server, api_key)
    bad = '{"metadata.x": {"$near": 1}}'
    api = requests.get(server.url + "/v1/records", params={"recordFilter": bad},
                       headers={"Authorization": f"Bearer {api_key}"}, timeout=10).json()
    page = get(server, "/records", tenant=fingerprint(api_key), recordFilter=bad)
    assert page.status_code == 400
    problems = text_of(re.search(r'<div class="problems".*?</div>', page.text, re.S).group(0))
    assert api["error"] in problems.replace("&quot;", '"').replace("&#39;", "'")
    for detail in api.get("details", []):
        assert detail["message"].replace('"', "&quot;").replace("'", "&#39;") in page.text


def test_search_and_type_narrow_the_records(server, api_key):
    create(server, api_key, name="apple", type="fruit")
    create(server, api_key, name="carrot", type="veg")
    tenant = fingerprint(api_key)
    assert ">apple<" in get(server, "/records", tenant=tenant, search="app").text
    assert ">carrot<" not in get(server, "/records", tenant=tenant, search="app").text
    by_type = get(server, "/records", tenant=tenant, type="veg").text
    assert ">carrot<" in by_type and ">apple<" not in by_type
    assert "fruit</a> (1)" in by_type  # the tenant's types, with their counts


def test_a_records_detail_shows_results_steps_and_costs(server, api_key):
    record = create(server, api_key, metadata={"k": "v"})
    page = get(server, f"/records/{record['id']}", tenant=fingerprint(api_key)).text
    for part in ("record-json", "results-json", "steps-json", "costs-json"):
        assert f'id="{part}"' in page
    assert "&#34;k&#34;: &#34;v&#34;" in page or "&quot;k&quot;: &quot;v&quot;" in page  # formatted JSON
    assert get(server, "/records/nope", tenant=fingerprint(api_key)).status_code == 404
    assert get(server, "/records", tenant="000000000000").status_code == 404


def test_the_journal_filters_by_tenant_status_method_path_and_violations(server, api_key):
    create(server, api_key)
    requests.post(server.url + "/v1/records", json={"type": 1}, headers={"Authorization": f"Bearer {api_key}"}, timeout=10)
    requests.get(server.url + "/v1/records", headers={"Authorization": f"Bearer {api_key}"}, timeout=10)
    tenant = fingerprint(api_key)
    rows = lambda **params: re.findall(r'<td class="num status">(\d+)</td>', get(server, "/requests/rows", tenant=tenant, **params).text)  # noqa: E731
    assert rows() == ["200", "400", "201"]  # newest first
    assert rows(status="400") == ["400"]
    assert rows(method="get") == ["200"]
    assert rows(path="/v1/**", method="POST") == ["400", "201"]
    assert rows(violations="1") == ["400"]
    assert get(server, "/requests", status="abc").status_code == 400


def test_an_entry_shows_both_sides_with_headers(server, api_key):
    create(server, api_key, name="seen")
    journal = get(server, "/requests", tenant=fingerprint(api_key)).text
    entry_id = re.search(r'data-entry="(\d+)"', journal).group(1)
    page = get(server, f"/requests/{entry_id}").text
    request_headers = re.search(r'id="request-headers">(.*?)</pre>', page, re.S).group(1)
    response_headers = re.search(r'id="response-headers">(.*?)</pre>', page, re.S).group(1)
    assert "Bearer fp:" + fingerprint(api_key) in request_headers
    assert "application/json" in response_headers and "content-length" in response_headers
    assert "seen" in re.search(r'id="response-body">(.*?)</pre>', page, re.S).group(1)
    assert get(server, "/requests/999999999").status_code == 404


# -- actions -----------------------------------------------------------------------------------


def test_a_fixture_loads_pasted_or_uploaded(own_server):
    document = "tenants: [{{apiKey: {key}, organizationId: o, userId: {user}}}]\nrecords: [{{tenant: {key}, type: t, name: a}}]\n"
    pasted = post(own_server, "/actions/fixtures", {"document": document.format(key="k_paste", user="paster"), "tenant": ""})
    assert pasted.status_code == 200 and "&lt;pasted&gt;: loaded 1 records, 1 tenants, 0 scenarios" in pasted.text
    assert "k_paste" not in pasted.text  # the load's summary names keys: the page counts them instead
    uploaded = post(own_server, "/actions/fixtures", {"document": "", "tenant": ""},
                    files={"file": ("mine.yaml", document.format(key="k_file", user="filer").encode(), "application/yaml")})
    assert uploaded.status_code == 200 and "mine.yaml" in uploaded.text
    box = own_server.sandbox
    assert box.store.count(box.tenancy.partition_of("k_paste")) == 1 and box.store.count(box.tenancy.partition_of("k_file")) == 1
    assert [f["source"] for f in own_server.admin("GET", "/fixtures").json()["fixtures"]] == ["<pasted>", "mine.yaml"]


def test_a_fixtures_problems_are_shown_with_lines_as_validate_prints_them(own_server):
    with pytest.raises(FixtureError) as raised:
        parse_fixture(BAD_FIXTURE, "bad.yaml")
    answer = post(own_server, "/actions/fixtures", {"tenant": ""},
                  files={"file": ("bad.yaml", BAD_FIXTURE.encode(), "application/yaml")})
    assert answer.status_code == 400
    shown = re.findall(r"<li><code>(.*?)</code></li>", answer.text)
    assert shown == [line.replace("'", "&#39;").replace('"', "&#34;") for line in str(raised.value).splitlines()]
    assert all(line.startswith("bad.yaml:") for line in shown) and "bad.yaml:5" in answer.text
    assert own_server.admin("GET", "/fixtures").json() == {"fixtures": []}


def test_a_scenario_is_added_and_removed(own_server, api_key):
    create(own_server, api_key)
    tenant = fingerprint(api_key)
    added = post(own_server, "/actions/scenarios", {"scenario": "name: down\nrespond: {status: 503}\n", "tenant": tenant})
    assert added.status_code == 200 and "added scenario down" in added.text
    [listed] = own_server.admin("GET", "/scenarios").json()["scenarios"]
    assert listed["name"] == "down" and listed["scopedTo"] == api_key
    assert requests.get(own_server.url + "/v1/records", headers={"Authorization": f"Bearer {api_key}"}, timeout=10).status_code == 503
    taken = post(own_server, "/actions/scenarios", {"scenario": "name: down\nrespond: {status: 500}\n", "tenant": tenant})
    assert taken.status_code == 409 and "down" in taken.text
    removed = post(own_server, "/actions/scenarios/remove", {"name": "down", "tenant": tenant})
    assert removed.status_code == 200 and own_server.admin("GET", "/scenarios").json() == {"scenarios": []}


def test_a_reset_needs_its_confirmation(own_server, api_key):
    create(own_server, api_key)
    other = "k_other_" + api_key
    create(own_server, other)
    tenant = fingerprint(api_key)
    refused = post(own_server, "/actions/reset", {"tenant": tenant})
    assert refused.status_code == 400 and own_server.sandbox.store.count(api_key) == 1
    done = post(own_server, "/actions/reset", {"tenant": tenant, "confirm": "yes"})
    assert done.status_code == 200 and f"reset tenant {tenant}" in done.text
    assert own_server.sandbox.store.count(api_key) == 0 and own_server.sandbox.store.count(other) == 1
    post(own_server, "/actions/reset", {"tenant": "", "confirm": "yes"})
    assert own_server.sandbox.store.count(other) == 0


def test_the_clock_is_set_and_advanced(own_server):
    assert post(own_server, "/actions/clock", {"how": "set", "value": "2030-01-01T00:00:00Z", "tenant": ""}).status_code == 200
    assert post(own_server, "/actions/clock", {"how": "advance", "value": "90s", "tenant": ""}).status_code == 200
    assert own_server.admin("GET", "/clock").json() == {"now": "2030-01-01T00:01:30.000Z", "controlled": True}
    wrong = post(own_server, "/actions/clock", {"how": "advance", "value": "soon", "tenant": ""})
    assert wrong.status_code == 400 and "Cannot move the clock" in wrong.text


def test_the_state_export_downloads(own_server, api_key):
    create(own_server, api_key, name="kept")
    answer = get(own_server, "/export", tenant="")
    assert answer.headers["Content-Disposition"] == 'attachment; filename="mock-runtype-state-all.json"'
    assert answer.json() == own_server.admin("GET", "/state").json()
    scoped = get(own_server, "/export", tenant=fingerprint(api_key))
    assert scoped.json() == own_server.admin("GET", "/state", params={"tenant": api_key}).json()


# -- the cross-site defence --------------------------------------------------------------------


def test_a_console_post_needs_this_servers_origin(own_server):
    form = {"tenant": "", "confirm": "yes"}
    create(own_server, "k_kept")
    for origin in (None, "https://evil.example", "null", own_server.url.replace("127.0.0.1", "localhost")):
        answer = post(own_server, "/actions/reset", form, origin=origin)
        assert answer.status_code == 403, origin
        assert answer.json()["error"].startswith("Forbidden")
    cross = requests.post(own_server.url + UI + "/actions/reset", data=form, timeout=10,
                          headers={"Origin": own_server.url, "Sec-Fetch-Site": "cross-site"})
    assert cross.status_code == 403
    assert own_server.sandbox.store.count("k_kept") == 1
    assert post(own_server, "/actions/reset", form).status_code == 200


def test_the_control_api_still_refuses_form_bodies_from_its_own_origin(own_server):
    answer = requests.post(own_server.url + "/__admin/reset", data={"x": "1"}, headers={"Origin": own_server.url}, timeout=10)
    assert answer.status_code == 415


def test_a_console_post_in_text_plain_is_refused(own_server):
    answer = requests.post(own_server.url + UI + "/actions/reset", data=b"tenant=&confirm=yes", timeout=10,
                           headers={"Origin": own_server.url, "Content-Type": "text/plain"})
    assert answer.status_code == 415


def test_the_live_view_gets_no_rows_while_the_journal_is_unchanged(server, api_key):
    create(server, api_key)
    first = get(server, "/requests/rows", tenant=fingerprint(api_key))
    assert first.headers["X-Journal-Version"]
    with RunningServer() as quiet:
        seen = get(quiet, "/requests/rows").headers["X-Journal-Version"]
        unchanged = get(quiet, "/requests/rows", seen=seen)
        assert unchanged.status_code == 204 and unchanged.content == b""
        create(quiet, api_key)
        changed = get(quiet, "/requests/rows", seen=seen)
        assert changed.status_code == 200 and "/v1/records" in changed.text
        assert changed.headers["X-Journal-Version"] != seen


def test_every_console_page_is_answered_off_the_event_loop():
    """Rendering takes milliseconds: the estimate makes every page heavy, so the engine answers it
    on a worker and the API's requests on the loop never wait for one."""
    from mock_runtype.contract.operations import OPERATIONS, Workload
    from mock_runtype.http.interception import INLINE_WORK_BUDGET

    workload = Workload({}, 0, 0, lambda: 0)
    light = {"consoleLogin", "consoleLogout", "consoleStatic"}
    for op in OPERATIONS:
        if op.console:
            assert (op.estimate(workload) > INLINE_WORK_BUDGET) == (op.operation_id not in light), op.operation_id
