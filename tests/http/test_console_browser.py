"""The console in a real browser: headless Chromium (Debian's `chromium`), driven by Playwright.

One browser for the whole run, a fresh page per test. Where Playwright or a Chromium cannot be
had, every test here is skipped and says why. `MOCK_RUNTYPE_SCREENSHOTS=docs/img` writes the
screenshots that docs/console.md shows (left unset, nothing is written, so a run leaves the tree
clean). The browser's path: `MOCK_RUNTYPE_CHROMIUM`, else `chromium` on the PATH.
"""

from __future__ import annotations

import os
import shutil
from pathlib import Path
from typing import Any, Iterator

import pytest
import requests

from mock_runtype.model.tenancy import fingerprint
from mock_runtype.sandbox.core import SandboxSettings
from mock_runtype.testing import new_api_key
from tests.conftest import RunningServer

UI = "/__admin/ui"
# Waits for what the page does by itself. The live journal polls every second, so a new request
# shows within about a second; the bound is far beyond that so that a loaded CI machine (or a
# browser starting its first page) cannot fail the test, while a journal that never updates still does.
LIVE_TIMEOUT_MS = 10_000
SCREENSHOTS = os.environ.get("MOCK_RUNTYPE_SCREENSHOTS")


def chromium_path() -> str | None:
    return os.environ.get("MOCK_RUNTYPE_CHROMIUM") or shutil.which("chromium") or shutil.which("chromium-browser")


@pytest.fixture(scope="module")  # not the session: Playwright's loop would stop asyncio.run() in later tests
def browser() -> Iterator[Any]:
    try:
        from playwright.sync_api import sync_playwright
    except ImportError:
        pytest.skip("Playwright for Python is not installed (pip install -e '.[test]')")
    executable = chromium_path()
    if executable is None:
        pytest.skip("no Chromium to drive: install Debian's chromium (apt-get install chromium) or set MOCK_RUNTYPE_CHROMIUM")
    with sync_playwright() as playwright:
        try:
            launched = playwright.chromium.launch(executable_path=executable, args=["--no-sandbox"])
        except Exception as error:  # a broken install: say so rather than fail every test
            pytest.skip(f"Chromium at {executable} does not start: {str(error).splitlines()[0]}")
        yield launched
        launched.close()


@pytest.fixture(scope="module")
def console() -> Iterator[RunningServer]:
    with RunningServer() as running:
        yield running


@pytest.fixture
def page(browser) -> Iterator[Any]:
    context = browser.new_context(viewport={"width": 1280, "height": 900})
    opened = context.new_page()
    problems: list[str] = []
    # a script error or a resource the policy refused; not the 4xx a page answers on purpose
    opened.on("console", lambda message: problems.append(message.text)
              if message.type == "error" and not message.text.startswith("Failed to load resource") else None)
    opened.on("pageerror", lambda error: problems.append(str(error)))
    opened.set_default_timeout(LIVE_TIMEOUT_MS)
    yield opened
    context.close()
    assert problems == []  # no script error, no resource the policy refused


def shoot(page, name: str) -> None:
    if SCREENSHOTS:
        Path(SCREENSHOTS).mkdir(parents=True, exist_ok=True)
        page.screenshot(path=str(Path(SCREENSHOTS) / f"console-{name}.png"), full_page=True)


def fixture_for(api_key: str) -> str:
    return (f"tenants:\n  - {{apiKey: {api_key}, organizationId: org_demo, userId: ada-{api_key[-6:]}}}\n"
            f"records:\n"
            f"  - {{tenant: {api_key}, type: ticket, name: printer-on-fire, metadata: {{status: open, priority: 1}}}}\n"
            f"  - {{tenant: {api_key}, type: ticket, name: coffee-empty, metadata: {{status: closed, priority: 3}}}}\n"
            f"  - {{tenant: {api_key}, type: customer, name: ada-lovelace, metadata: {{plan: pro}}}}\n")


def load_fixture(page, console: RunningServer, api_key: str) -> str:
    page.goto(console.url + UI + "/actions")
    page.fill("#fixture-document", fixture_for(api_key))
    page.click("#load-fixture")
    page.wait_for_selector("#done")
    return fingerprint(console.sandbox.tenancy.partition_of(api_key))


def test_a_loaded_fixture_shows_its_records(page, console):
    api_key = new_api_key()
    tenant = load_fixture(page, console, api_key)
    shoot(page, "actions")
    page.click("nav >> text=Records")
    page.select_option("#tenant", tenant)
    page.click("text=Show")
    rows = page.locator("#records tbody tr")
    assert sorted(rows.locator("td:first-child").all_inner_texts()) == ["ada-lovelace", "coffee-empty", "printer-on-fire"]
    page.fill("#recordFilter", '{"where": {"field": "status", "op": "eq", "value": "open"}}')
    page.press("#recordFilter", "Enter")  # the keyboard submits the filter
    assert rows.locator("td:first-child").all_inner_texts() == ["printer-on-fire"]
    page.fill("#recordFilter", '{"where": {"field": "status", "op": "nope", "value": 1}}')
    page.press("#recordFilter", "Enter")
    assert "recordFilter" in page.inner_text("#problems")
    page.fill("#recordFilter", "")
    page.press("#recordFilter", "Enter")
    shoot(page, "records")
    page.click("text=printer-on-fire")
    assert '"priority": 1' in page.inner_text("#record-json")
    shoot(page, "record")
    page.click("nav >> text=Overview")
    assert "org_demo / ada" in page.inner_text("#tenants") and "<pasted>" in page.inner_text("#fixtures")
    shoot(page, "overview")


def test_a_request_appears_in_the_live_journal_and_opens(page, console):
    api_key = new_api_key()
    page.goto(console.url + UI + "/requests")
    page.wait_for_selector("text=live: updates every second")
    created = requests.post(console.url + "/v1/records", json={"type": "note", "name": "seen-live", "metadata": {}},
                            headers={"Authorization": f"Bearer {api_key}"}, timeout=10)
    assert created.status_code == 201
    row = page.locator("#journal-rows tr", has_text="/v1/records").filter(has_text=fingerprint(api_key))
    row.wait_for(timeout=LIVE_TIMEOUT_MS)
    assert row.locator(".status").inner_text() == "201"
    shoot(page, "requests")
    row.locator("a").first.click()
    assert "seen-live" in page.inner_text("#request-body") and "seen-live" in page.inner_text("#response-body")
    assert "application/json" in page.inner_text("#response-headers")
    assert api_key not in page.content()
    shoot(page, "entry")
    assert console.sandbox.journal.newest(1000, lambda e: e.path == "/favicon.ico") == []  # the console's icon is its own


def test_a_503_scenario_marks_the_next_request(page, console):
    api_key = new_api_key()
    tenant = load_fixture(page, console, api_key)
    page.fill("#scenario-spec", "name: outage\nwhen: {method: GET, path: /v1/records}\nrespond: {status: 503}\n")
    page.select_option("#scenario-tenant", tenant)
    page.click("#add-scenario")
    assert "added scenario outage" in page.inner_text("#done")
    page.goto(console.url + UI + f"/requests?tenant={tenant}")
    answer = requests.get(console.url + "/v1/records", headers={"Authorization": f"Bearer {api_key}"}, timeout=10)
    assert answer.status_code == 503
    marked = page.locator("#journal-rows tr.fired", has_text="outage")
    marked.wait_for(timeout=LIVE_TIMEOUT_MS)
    assert marked.locator(".status").inner_text() == "503"
    marked.locator("a").first.click()
    assert page.inner_text("#entry-scenarios") == "outage"
    page.goto(console.url + UI + "/actions")
    page.select_option("#remove-name", "outage")
    page.select_option("#remove-tenant", tenant)
    page.click("#remove-scenario")
    assert "removed scenario outage" in page.inner_text("#done")


def test_a_tenant_is_reset_after_confirming(page, console):
    api_key = new_api_key()
    tenant = load_fixture(page, console, api_key)
    partition = console.sandbox.tenancy.partition_of(api_key)
    requests.post(console.url + "/v1/records", json={"type": "note", "name": "made-later", "metadata": {}},
                  headers={"Authorization": f"Bearer {api_key}"}, timeout=10)
    assert console.sandbox.store.count(partition) == 4
    page.select_option("#reset-tenant", tenant)
    page.click("#reset")  # not ticked: the browser refuses to send the form
    assert "reset" not in page.inner_text("#done") and console.sandbox.store.count(partition) == 4
    page.check("#reset-confirm")
    page.click("#reset")
    assert f"reset tenant {tenant}" in page.inner_text("#done")
    assert console.sandbox.store.count(partition) == 3  # back to its fixture's records


def test_reading_works_without_javascript_and_on_a_narrow_window(browser, console):
    api_key = new_api_key()
    requests.post(console.url + "/v1/records", json={"type": "note", "name": "no-js", "metadata": {}},
                  headers={"Authorization": f"Bearer {api_key}"}, timeout=10)
    context = browser.new_context(java_script_enabled=False, viewport={"width": 390, "height": 844})
    try:
        narrow = context.new_page()
        for path in ("", "/records", "/actions", f"/requests?tenant={fingerprint(api_key)}"):
            narrow.goto(console.url + UI + path)
            # nothing wider than the window but the tables' own scrolling boxes
            assert narrow.evaluate("document.documentElement.scrollWidth <= window.innerWidth + 1"), path
        assert "/v1/records" in narrow.inner_text("#journal-rows", timeout=LIVE_TIMEOUT_MS)
        assert "refresh the page to update" in narrow.inner_text(".live")  # no script: the page says so
        shoot(narrow, "narrow")
    finally:
        context.close()


def test_the_keyboard_reaches_the_skip_link_and_the_navigation(page, console):
    page.goto(console.url + UI)
    page.keyboard.press("Tab")
    assert page.evaluate("document.activeElement.textContent") == "Skip to content"
    page.keyboard.press("Tab")
    assert page.evaluate("document.activeElement.textContent") == "Overview"
    page.keyboard.press("Tab")
    page.keyboard.press("Enter")
    page.wait_for_url("**/records")


def test_signing_in_with_the_admin_token(page):
    with RunningServer(SandboxSettings(admin_token="browser-token")) as guarded:
        page.goto(guarded.url + UI + "/requests")
        assert "/login" in page.url
        page.fill("#token", "browser-token")
        page.press("#token", "Enter")
        page.wait_for_url("**/__admin/ui/requests")
        page.wait_for_selector("text=live: updates every second")
        shoot(page, "login")
        page.click("text=Sign out")
        page.wait_for_url("**/login")
