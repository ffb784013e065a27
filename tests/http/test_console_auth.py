"""The console behind the admin token: a browser signs in once and carries a signed cookie that
only the console accepts; the JSON control API still wants the token in a header."""

from __future__ import annotations

from typing import Iterator

import pytest
import requests

from mock_runtype.sandbox.core import SandboxSettings
from tests.conftest import RunningServer

UI = "/__admin/ui"
TOKEN = "s3cret-admin-token"


@pytest.fixture
def guarded() -> Iterator[RunningServer]:
    with RunningServer(SandboxSettings(admin_token=TOKEN)) as running:
        yield running


def sign_in(server: RunningServer, token: str = TOKEN, next_page: str = UI + "/requests") -> requests.Response:
    return requests.post(server.url + UI + "/login", data={"token": token, "next": next_page},
                         headers={"Origin": server.url}, allow_redirects=False, timeout=10)


def test_without_the_token_a_page_sends_the_browser_to_sign_in(guarded):
    answer = requests.get(guarded.url + UI + "/records?tenant=x", allow_redirects=False, timeout=10)
    assert answer.status_code == 303
    assert answer.headers["Location"] == UI + "/login?next=%2F__admin%2Fui%2Frecords%3Ftenant%3Dx"
    login = requests.get(guarded.url + answer.headers["Location"], timeout=10)
    assert login.status_code == 200 and 'name="token"' in login.text and TOKEN not in login.text
    assert requests.get(guarded.url + UI + "/static/console.css", timeout=10).status_code == 200


def test_an_action_without_the_token_does_nothing(guarded):
    guarded.sandbox.store.create(guarded.sandbox.tenant("k_kept"), {"type": "t", "name": "n"})
    answer = requests.post(guarded.url + UI + "/actions/reset", data={"confirm": "yes", "tenant": ""},
                           headers={"Origin": guarded.url}, allow_redirects=False, timeout=10)
    assert answer.status_code == 303 and answer.headers["Location"].startswith(UI + "/login")
    assert guarded.sandbox.store.count("k_kept") == 1


def test_a_wrong_token_is_refused(guarded):
    answer = sign_in(guarded, "guess")
    assert answer.status_code == 401 and "Set-Cookie" not in answer.headers
    assert "That is not the admin token" in answer.text


def test_signing_in_sets_a_strict_http_only_cookie_the_console_accepts(guarded):
    answer = sign_in(guarded)
    assert answer.status_code == 303 and answer.headers["Location"] == UI + "/requests"
    cookie = answer.headers["Set-Cookie"]
    assert "HttpOnly" in cookie and "SameSite=Strict" in cookie and f"Path={UI}" in cookie and "Max-Age=43200" in cookie
    assert TOKEN not in cookie
    session = requests.Session()
    session.cookies.update(answer.cookies)
    page = session.get(guarded.url + UI + "/requests", allow_redirects=False, timeout=10)
    assert page.status_code == 200 and "Sign out" in page.text


def test_the_cookie_opens_no_json_control_endpoint(guarded):
    cookies = sign_in(guarded).cookies
    for path in ("/__admin/state", "/__admin/requests"):
        answer = requests.get(guarded.url + path, cookies=cookies, timeout=10)
        assert answer.status_code == 401, path
    # the cookie is scoped to the console's path, so a browser would not even send it there
    assert all(cookie.path == UI for cookie in cookies)


def test_a_forged_or_foreign_cookie_is_refused(guarded):
    with RunningServer(SandboxSettings(admin_token="another-token")) as other:
        foreign = sign_in(other).cookies.get("mock_runtype_console")
    for value in ("admin", foreign, sign_in(guarded).cookies.get("mock_runtype_console")[:-2] + "xx"):
        answer = requests.get(guarded.url + UI, cookies={"mock_runtype_console": value}, allow_redirects=False, timeout=10)
        assert answer.status_code == 303, value


def test_the_token_in_a_header_works_as_for_the_control_api(guarded):
    for headers in ({"Authorization": f"Bearer {TOKEN}"}, {"X-Admin-Token": TOKEN}):
        assert requests.get(guarded.url + UI, headers=headers, allow_redirects=False, timeout=10).status_code == 200


def test_signing_in_goes_back_only_to_a_console_page(guarded):
    for target in ("https://evil.example/", "//evil.example/x", "/\\evil.example", "/v1/records", UI + "\\@evil"):
        assert sign_in(guarded, next_page=target).headers["Location"] == UI, target


def test_signing_out_forgets_the_cookie(guarded):
    cookies = sign_in(guarded).cookies
    answer = requests.post(guarded.url + UI + "/logout", cookies=cookies, headers={"Origin": guarded.url},
                           allow_redirects=False, timeout=10)
    assert answer.status_code == 303 and answer.headers["Set-Cookie"].startswith("mock_runtype_console=;")
    assert "Max-Age=0" in answer.headers["Set-Cookie"]


def test_the_login_form_posts_from_this_server_only(guarded):
    answer = requests.post(guarded.url + UI + "/login", data={"token": TOKEN}, headers={"Origin": "https://evil.example"},
                           allow_redirects=False, timeout=10)
    assert answer.status_code == 403 and "Set-Cookie" not in answer.headers
