"""The web console under `/__admin/ui`: HTML pages over the Sandbox, for a person to look at.

Server-rendered (Flask's Jinja2, autoescaped: record metadata and journal bodies are whatever
clients sent), with one small script of our own for the live journal; reading works without it.
Behind the control API's guard (`admin_routes.refuse_web_pages`, `require_admin_token`); its forms
post only from its own pages. Thin like the control API: each handler calls the same Sandbox
methods the JSON endpoints call. A tenant is named by its fingerprint (as the journal names it),
never by an API key, so no page shows a key.
"""

from __future__ import annotations

import json
from collections import Counter
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

from flask import Flask, Response, render_template, request, send_from_directory
from werkzeug.datastructures import MultiDict

from mock_runtype import __version__
from mock_runtype.contract.operations import CONSOLE_PREFIX
from mock_runtype.http import console_auth
from mock_runtype.http.admin_routes import move_clock_as
from mock_runtype.http.responses import encode_json, sandbox
from mock_runtype.http.routes import route
from mock_runtype.model.errors import InvalidRequest, NotFound, SandboxError
from mock_runtype.model.executions import parse_results_query, parse_step_results_query
from mock_runtype.model.listing import MAX_LIMIT, pagination_json, parse_list_query
from mock_runtype.model.records import record_to_json
from mock_runtype.model.tenancy import ALL_PERMISSIONS, fingerprint
from mock_runtype.sandbox.exchange import Exchange
from mock_runtype.sandbox.fixtures import FixtureError, parse_scenario
from mock_runtype.sandbox.journal import entry_filter

STATIC = Path(__file__).parent / "static"
JOURNAL_ROWS = 200  # newest entries a journal page shows
JOURNAL_VERSION_HEADER = "X-Journal-Version"
RECORD_PARAMETERS = ("type", "search", "recordFilter", "limit", "cursor", "direction")
# No inline script or style, no other origin, no frames: a page that somehow carried injected markup
# could still run nothing.
SECURITY_HEADERS = {
    "Content-Security-Policy": ("default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self'; "
                                "connect-src 'self'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'"),
    "X-Content-Type-Options": "nosniff",
    "X-Frame-Options": "DENY",
    "Referrer-Policy": "same-origin",  # keeps the forms' Origin header from being `null`
    "Cache-Control": "no-store",
}


@dataclass(frozen=True)
class TenantView:
    """A tenant as the console shows it: never a key, only fingerprints."""

    key: str  # the partition's tenant_key, for the handlers; never rendered
    id: str  # its fingerprint, as the journal names it
    label: str
    key_fingerprints: tuple[str, ...]
    permissions: tuple[str, ...]
    records: int
    scenarios: int
    clock: dict[str, Any] | None


def json_text(value: Any) -> str:
    """Compact JSON as text (the template escapes it, as it does everything)."""
    return json.dumps(value, ensure_ascii=False, separators=(",", ":"))


def pretty_json(value: Any) -> str:
    return json.dumps(value, ensure_ascii=False, indent=2)


def body_text(value: Any) -> str:
    """A journal body: text as it came, JSON formatted, none as a dash."""
    if value is None:
        return "—"
    return value if isinstance(value, str) else pretty_json(value)


def scenario_effect(listed: dict[str, Any]) -> str:
    """What a scenario does, in a few words: its answer, fault, delay or rate limit."""
    effects = {name: listed[name] for name in ("respond", "fault", "delayMs", "rateLimit") if name in listed}
    return json_text(effects) if effects else "—"


def register_console(app: Flask) -> None:
    """The template filters the console's pages use."""
    app.jinja_env.filters.update(tojson_text=json_text, tojson_pretty=pretty_json, body_text=body_text,
                                 scenario_effect=scenario_effect)


def page(template: str, status: int = 200, **context: Any) -> Response:
    response = Response(render_template(template, prefix=CONSOLE_PREFIX, version=__version__, max_limit=MAX_LIMIT,
                                        token_required=bool(sandbox().settings.admin_token), **context), status,
                        mimetype="text/html")
    response.headers.update(SECURITY_HEADERS)
    return response


def tenants() -> list[TenantView]:
    """Every tenant that keeps something: registered users, tenants with records or scenarios."""
    box = sandbox()
    registered = [t.tenant_key for t in box.tenancy.registered()]
    keys = dict.fromkeys([*registered, *box.store.tenant_keys(), *box.scenarios.scopes()])
    views = []
    for key in keys:
        registered_keys = box.tenancy.keys_of(key)
        if registered_keys:
            first = registered_keys[0]
            label = f"{first.organization_id or '(no organization)'} / {first.user_id}"
            prints = tuple(fingerprint(t.api_key) for t in registered_keys)
            permissions = tuple(",".join(sorted(t.permissions)) for t in registered_keys)
        else:
            label, prints, permissions = "open-mode key", (fingerprint(key),), (",".join(sorted(ALL_PERMISSIONS)),)
        views.append(TenantView(key, fingerprint(key), label, prints, permissions, box.store.count(key),
                                len(box.scenarios.specs(key)),
                                box.clock_json(key) if box.clock.has_own_clock(key) else None))
    return sorted(views, key=lambda view: (view.label, view.id))


def tenant_named(tenant_id: str | None, views: list[TenantView] | None = None) -> TenantView | None:
    """The tenant with this fingerprint; None when not named; 404 when no tenant has it."""
    if not tenant_id:
        return None
    found = next((view for view in views or tenants() if view.id == tenant_id), None)
    if found is None:
        raise NotFound(f"No tenant with the fingerprint '{tenant_id[:40]}'")
    return found


def problems_of(error: SandboxError) -> list[str]:
    """An error as lines: a fixture's problems as `mock-runtype validate` prints them, else the
    API's message and details."""
    if isinstance(error, FixtureError):
        return str(error).splitlines()
    return [error.message, *(f"{d.get('path') or '(body)'}: {d.get('message')}" for d in error.details or ())]


# -- reading ------------------------------------------------------------------------------------


@route("consoleOverview")
def overview():
    box = sandbox()
    settings = box.settings
    shown_settings = {
        "strict auth": box.tenancy.strict, "strict contract": box.strict_contract, "seed": box.ids.seed,
        "admin token": "set" if settings.admin_token else "none", "check responses": settings.check_responses,
        "journal limit (per tenant)": box.journal.limit, "max body bytes": settings.max_body_bytes,
        "max upload bytes": settings.max_upload_bytes, "max records per tenant": settings.max_records_per_tenant,
        "max tenants": settings.max_tenants, "CORS origins": ", ".join(settings.cors_origins),
    }
    fixtures = [{"source": f.source, "scope": fingerprint(box.partition_of(f.scope)) if f.scope else None,
                 "tenants": len(f.tenants), "records": len(f.records), "scenarios": len(f.scenarios)}
                for f in box.fixtures]
    return page("overview.html", tenants=tenants(), fixtures=fixtures, scenarios=scenario_views(),
                clock=box.clock_json(None), settings=shown_settings)


def scenario_views() -> list[dict[str, Any]]:
    """Every scenario with its counters and the fingerprint of the tenant it is scoped to; a
    `when: {tenant: <apiKey>}` shows the key's fingerprint instead."""
    views = []
    for listed in sandbox().scenarios.listing(None):
        when = dict(listed.get("when") or {})
        if isinstance(when.get("tenant"), str):
            when["tenant"] = "fp:" + fingerprint(when["tenant"])
        views.append({**listed, "when": when, "scopedTo": None,
                      "scope": fingerprint(listed["scopedTo"]) if listed["scopedTo"] else None})
    return views


@route("consoleRecords")
def records():
    views = tenants()
    try:
        tenant = tenant_named(request.args.get("tenant"), views)
    except NotFound as error:
        return page("records.html", 404, tenants=views, tenant=None, problems=[error.message])
    if tenant is None:
        return page("records.html", tenants=views, tenant=None)
    asked = {name: request.args.getlist(name) for name in RECORD_PARAMETERS if request.args.get(name)}
    store = sandbox().store
    types = sorted(Counter(record.type for record in store.records_of(tenant.key)).items())
    try:
        query = parse_list_query(asked)
        listed = store.list(tenant.key, query)
    except SandboxError as error:  # a bad recordFilter, cursor or limit: worded as the API words it
        return page("records.html", 400, tenants=views, tenant=tenant, types=types, asked=asked,
                    problems=problems_of(error))
    pagination = pagination_json(listed, query, tenant.key, store.cursors)
    kept = {name: values[0] for name, values in asked.items() if name not in ("cursor", "direction")}
    links = {}
    if pagination["nextCursor"]:
        links["next"] = records_link(tenant.id, {**kept, "cursor": pagination["nextCursor"]})
    if pagination["prevCursor"]:
        links["prev"] = records_link(tenant.id, {**kept, "cursor": pagination["prevCursor"], "direction": "prev"})
    return page("records.html", tenants=views, tenant=tenant, types=types, asked=asked,
                records=[record_to_json(r, compact_view=True) for r in listed.records],
                pagination=pagination, links=links)


def records_link(tenant_id: str, params: dict[str, str]) -> str:
    return f"{CONSOLE_PREFIX}/records?{urlencode({'tenant': tenant_id, **params})}"


@route("consoleRecord")
def record(record_id: str):
    try:
        tenant = tenant_named(request.args.get("tenant"))
        if tenant is None:
            raise InvalidRequest("Name the record's tenant (?tenant=<fingerprint>)")
        box = sandbox()
        found = record_to_json(box.store.get(tenant.key, record_id))
        results = box.executions.results(tenant.key, record_id, parse_results_query({"limit": ["100"]}))
        steps = box.executions.step_results(tenant.key, record_id, parse_step_results_query({"limit": ["100"]}))
        costs = box.executions.costs(tenant.key, record_id)
    except SandboxError as error:
        return page("error.html", error.status, problems=problems_of(error))
    return page("record.html", tenant=tenant, record=found, results=results, steps=steps, costs=costs)


def journal_filter() -> tuple[dict[str, str], Any]:
    """The journal filter the query asks for (tenant, status, method, path, violations only), as
    the form's values and a test on entries; 400 for a status that is no number."""
    asked = {name: request.args.get(name, "").strip() for name in ("tenant", "status", "method", "path", "violations")}
    status_text = asked["status"]
    if status_text and not (status_text.isascii() and status_text.isdigit() and 100 <= int(status_text) <= 599):
        raise InvalidRequest("status must be an HTTP status (100 to 599)", details=[{"path": "status", "message": "not a status"}])
    admits = entry_filter(asked["method"] or None, asked["path"] or None, int(status_text) if status_text else None)
    tenant_id, violations = asked["tenant"], bool(asked["violations"])

    def matches(exchange: Exchange) -> bool:
        return (admits(exchange) and (not violations or bool(exchange.violation or exchange.contract_warning))
                and (not tenant_id or (exchange.tenant_key is not None and fingerprint(exchange.tenant_key) == tenant_id)))

    return asked, matches


@route("consoleRequests")
def requests_page():
    try:
        asked, matches = journal_filter()
    except SandboxError as error:
        return page("requests.html", 400, asked={}, entries=[], rows_shown=JOURNAL_ROWS, tenants=tenants(), problems=problems_of(error),
                    live_url=None)
    live_url = f"{CONSOLE_PREFIX}/requests/rows?{urlencode({k: v for k, v in asked.items() if v})}"
    journal = sandbox().journal
    version = journal.version  # read first: an entry added meanwhile shows at the next poll
    return page("requests.html", asked=asked, entries=journal.newest(JOURNAL_ROWS, matches), rows_shown=JOURNAL_ROWS,
                journal_version=version,
                tenants=tenants(), live_url=live_url)


@route("consoleRequestRows")
def request_rows():
    """The journal table's rows alone: what the live view fetches each second while it is open.
    It names the journal version it has seen (`?seen=`); while the journal is as it was, the
    answer is a bodiless 204, so an idle console costs a lookup a second, not a render."""
    journal = sandbox().journal
    version = journal.version
    if request.args.get("seen") == version:
        unchanged = Response(status=204, headers={JOURNAL_VERSION_HEADER: version, **SECURITY_HEADERS})
        del unchanged.headers["Content-Type"]  # no body, so no media type
        return unchanged
    try:
        _, matches = journal_filter()
    except SandboxError:
        return page("_rows.html", 400, entries=[])
    response = page("_rows.html", entries=journal.newest(JOURNAL_ROWS, matches))
    response.headers[JOURNAL_VERSION_HEADER] = version
    return response


@route("consoleRequest")
def request_entry(entry_id: str):
    entry = sandbox().journal.entry(int(entry_id)) if entry_id.isascii() and entry_id.isdigit() else None
    if entry is None:
        return page("error.html", 404, problems=[f"The journal holds no entry {entry_id[:40]} (it keeps the newest)"])
    return page("entry.html", entry=entry)


# -- actions ------------------------------------------------------------------------------------


def actions_page(status: int = 200, **context: Any) -> Response:
    return page("actions.html", status, tenants=tenants(), scenarios=scenario_views(),
                clock=sandbox().clock_json(None), form=context.pop("form", MultiDict()), **context)


@route("consoleActions")
def actions():
    return actions_page()


def acted(action: str, work: Any) -> Response:
    """Run an action; the page again, with what it did or, as the API words them, its problems."""
    try:
        done = work()
    except SandboxError as error:
        return actions_page(error.status, form=request.form, failed=action, problems=problems_of(error))
    return actions_page(done_action=action, done=done)


def chosen_tenant() -> TenantView | None:
    return tenant_named(request.form.get("tenant"))


@route("consoleLoadFixture")
def load_fixture():
    def work():
        upload = request.files.get("file")
        if upload is not None and upload.filename:
            source, raw = upload.filename[:200], upload.read()
            try:
                text = raw.decode("utf-8")
            except UnicodeDecodeError as error:
                raise InvalidRequest(f"{source} is not valid UTF-8 (byte {error.start})") from None
        else:
            source, text = "<pasted>", request.form.get("document", "")
        if not text.strip():
            raise InvalidRequest("Paste a fixture document or choose a file")
        tenant = chosen_tenant()
        box = sandbox()
        summary = box.load_text(text, source, box.api_key_naming(tenant.key) if tenant else None)
        if not summary["loaded"]:
            return f"{source}: already loaded, nothing changed"
        return (f"{source}: loaded {summary['records']} records, {len(summary['tenants'])} tenants, "
                f"{summary['scenarios']} scenarios")  # the summary's tenants are API keys: counted, not shown
    return acted("fixture", work)


@route("consoleAddScenario")
def add_scenario():
    def work():
        tenant = chosen_tenant()
        box = sandbox()
        api_key = box.api_key_naming(tenant.key) if tenant else None
        spec = parse_scenario(request.form.get("scenario", ""), "<scenario>", scope=api_key,
                              partition_of=box.tenancy.partition_of)
        scenario = box.add_scenario(spec, tenant.key if tenant else None)
        return f"added scenario {scenario.to_json()['name']}"
    return acted("scenario", work)


@route("consoleRemoveScenario")
def remove_scenario():
    def work():
        tenant = chosen_tenant()
        name = request.form.get("name", "")
        sandbox().scenarios.remove(name, tenant.key if tenant else None)
        return f"removed scenario {name}"
    return acted("remove", work)


@route("consoleReset")
def reset():
    def work():
        if request.form.get("confirm") != "yes":
            raise InvalidRequest("Tick the box to confirm the reset", details=[{"path": "confirm", "message": "required"}])
        tenant = chosen_tenant()
        sandbox().reset(tenant.key if tenant else None)
        return f"reset tenant {tenant.id}" if tenant else "reset everything"
    return acted("reset", work)


@route("consoleMoveClock")
def move_clock():
    def work():
        tenant = chosen_tenant()
        how = request.form.get("how", "")
        if how not in ("set", "advance"):
            raise InvalidRequest("Choose set or advance", details=[{"path": "how", "message": "must be set or advance"}])
        move_clock_as({how: request.form.get("value", "").strip()}, tenant.key if tenant else None)
        now = sandbox().clock_json(tenant.key if tenant else None)["now"]
        return f"clock of {'tenant ' + tenant.id if tenant else 'the server'} now {now}"
    return acted("clock", work)


@route("consoleExport")
def export():
    try:
        tenant = tenant_named(request.args.get("tenant"))
    except SandboxError as error:
        return page("error.html", error.status, problems=problems_of(error))
    name = f"mock-runtype-state-{tenant.id if tenant else 'all'}.json"
    response = Response(encode_json(sandbox().export_state(tenant.key if tenant else None)), mimetype="application/json")
    response.headers["Content-Disposition"] = f'attachment; filename="{name}"'
    response.headers.update(SECURITY_HEADERS)
    return response


# -- signing in ---------------------------------------------------------------------------------


def safe_next(target: str | None) -> str:
    """Where to go after signing in: a console path, never another site (`//evil`, `/\\evil`), nor
    one with a control character (a line break cannot go in the `Location` header: it was a 500)."""
    if (target and target.startswith(CONSOLE_PREFIX) and not target.startswith(("//", "/\\")) and "\\" not in target
            and target.isprintable()):
        return target
    return CONSOLE_PREFIX


@route("consoleLoginPage")
def login_page():
    return page("login.html", next=safe_next(request.args.get("next")))


@route("consoleLogin")
def login():
    expected = sandbox().settings.admin_token
    target = safe_next(request.form.get("next"))
    if not expected:
        return Response(status=303, headers={"Location": target})
    if not console_auth.token_matches(request.form.get("token", ""), expected):
        return page("login.html", 401, next=target, problems=["That is not the admin token"])
    return console_auth.sign_in(Response(status=303, headers={"Location": target}), expected)


@route("consoleLogout")
def logout():
    return console_auth.sign_out(Response(status=303, headers={"Location": f"{CONSOLE_PREFIX}/login"}))


@route("consoleStatic")
def static(filename: str):
    response = send_from_directory(STATIC, filename, max_age=300)
    response.headers["X-Content-Type-Options"] = "nosniff"
    return response
