"""The control API under `/__admin`: fixtures, reset, scenarios, the journal, the state, the clock.

Every operation takes `?tenant=<apiKey>` to act on that tenant alone: the partition the key
reaches, shared by every key of its user. Guarded by the admin token
when one is configured (`Authorization: Bearer <token>` or `X-Admin-Token`), and never open to a web
page (`refuse_web_pages`). Thin: parse, call the Sandbox, shape.
"""

from __future__ import annotations

import ipaddress
import re
from typing import Any
from urllib.parse import urlencode

from flask import Response, redirect, request

from mock_runtype.model.clock import parse_duration, parse_timestamp
from mock_runtype.model.errors import Forbidden, InvalidRequest, NotFound, Unauthenticated, UnsupportedMediaType
from mock_runtype.sandbox.fixtures import parse_scenario
from mock_runtype.contract.operations import CONSOLE_PREFIX, FORM_MEDIA_TYPES
from mock_runtype.http import console_auth
from mock_runtype.http.interception import is_admin, is_console
from mock_runtype.http.routes import operation_for, route
from mock_runtype.http.responses import json_object_body, json_response, sandbox
from mock_runtype.sandbox.journal import entry_filter
from mock_runtype.model.params import QueryParams

# Not text/plain nor a form type: a web page may send those cross-site without asking (no preflight).
DOCUMENT_TYPES = ("application/json", "application/yaml", "application/x-yaml", "text/yaml", "text/x-yaml")
DEFAULT_PORTS = {"http": ":80", "https": ":443"}
_HOST = re.compile(r"(?:\[(?P<ipv6>[0-9a-f:.]+)\]|(?P<name>[a-z0-9._-]+))(?::[0-9]{1,5})?")  # no userinfo, no zone
# The console's operations a browser reaches before it has the token: nothing in them is secret.
CONSOLE_OPEN = frozenset({"consoleLoginPage", "consoleLogin", "consoleLogout", "consoleStatic"})


def is_document_type(mimetype: str) -> bool:
    return mimetype in DOCUMENT_TYPES or mimetype.endswith(("+json", "+yaml"))


def refuse_web_pages() -> None:
    """Before anything else on an `/__admin` path (a `before_request` hook): the control API is for
    the test that drives it, never for a web page. A browser names the page's origin (`Origin`) on
    every cross-origin request and on every POST, and says `Sec-Fetch-Site`; curl, requests and
    urllib send neither. So a request from another origin is 403 (its preflight too), and a body
    is read only in a JSON or YAML media type, which no page can send cross-site unasked (415).
    Without an admin token, only a `Host` no page can rebind is answered (`answers_to`).

    The web console's own forms are the one exception, on its paths alone: they post form bodies,
    so a console POST must name its origin, and it must be this server's (403 otherwise). Every
    browser sends `Origin` on a POST (the console's `Referrer-Policy: same-origin` keeps it from
    being `null`); a client that sends none is no console page."""
    if not is_admin(request.path):
        return
    raw_target = request.environ.get("RAW_URI") or request.environ.get("REQUEST_URI") or ""
    if raw_target.startswith("/") and not is_admin(raw_target.partition("?")[0]):
        # `/%5F%5Fadmin/...`: decoded, it is the control API, but a proxy's rule on `/__admin` missed it
        raise NotFound(f"Not found: {request.method} {raw_target.partition('?')[0][:200]}")
    origin = request.headers.get("Origin")
    if origin is not None and not _same_origin(origin, request.headers.get("Host", "")):
        raise Forbidden(f"Forbidden: the control API takes no requests from web pages "
                        f"(Origin {origin[:200]} is not this server's own)")
    site = (request.headers.get("Sec-Fetch-Site") or "").strip().lower()
    if site in ("cross-site", "same-site"):
        raise Forbidden(f"Forbidden: the control API takes no requests from web pages (Sec-Fetch-Site: {site})")
    host = request.headers.get("Host", "")
    settings = sandbox().settings
    if not settings.admin_token and not answers_to(host, settings.admin_hosts):
        raise Forbidden(f"Forbidden: the control API answers to localhost, IP addresses and the names given with "
                        f"--admin-host, not to {host[:200]!r} (a page whose name points here: DNS rebinding); "
                        f"add the name with --admin-host or set an admin token")
    console_post = is_console(request.path) and request.method == "POST"
    if console_post and origin is None:
        raise Forbidden("Forbidden: the console's actions are sent by its own pages, which name their Origin")
    chunked = "chunked" in request.headers.get("Transfer-Encoding", "").lower()
    if console_post and request.mimetype in FORM_MEDIA_TYPES:
        return  # a form of the console's own page: its Origin was checked above
    if ((request.content_length or 0) > 0 or chunked) and not is_document_type(request.mimetype):
        raise UnsupportedMediaType(
            f"Send the control API's bodies as application/json or application/yaml (got '{request.mimetype or 'none'}')")


def answers_to(host: str, admin_hosts: tuple[str, ...]) -> bool:
    """Whether a control request sent to `host` (the `Host` header) may be answered without the admin
    token. A web page can point a name it owns at this server (DNS rebinding) and then be same-origin
    with it; it cannot do that with an IP address or `localhost` and its subdomains (browsers resolve
    those themselves). Any other name, one-label names too (a neighbour can answer for those through
    LLMNR or NetBIOS), only when the user listed it (`--admin-host`). No `Host`: no browser sent it."""
    text = host.strip().lower()
    if not text:
        return True
    found = _HOST.fullmatch(text)
    if found is None:
        return False
    name = (found["ipv6"] or found["name"]).rstrip(".")
    if name == "localhost" or name.endswith(".localhost") or admin_hosts == ("*",) or name in admin_hosts:
        return True
    try:
        ipaddress.ip_address(name)
    except ValueError:
        return False
    return True


def _same_origin(origin: str, host: str) -> bool:
    """Whether `origin` (`http://host:port`) is the server the request was sent to (its `Host`)."""
    scheme, sep, authority = origin.strip().lower().partition("://")
    host = host.strip().lower()
    if not sep or scheme not in DEFAULT_PORTS or not host:
        return False  # `null` (a sandboxed frame, a file), or no Host to compare with
    default = DEFAULT_PORTS[scheme]
    return authority.removesuffix(default) == host.removesuffix(default)


def require_admin_token() -> Response | None:
    """Before a control API handler (a `before_request` hook): 401 without the admin token. An
    unknown path or method is answered as ever, token or not. The web console takes the token in
    the same headers, or its login cookie (`console_auth`); without either, it sends a browser
    to its login page (its stylesheet and login form are open: they hold nothing)."""
    expected = sandbox().settings.admin_token
    if not expected or request.endpoint is None:
        return None
    op = operation_for(request.endpoint)
    if not op.admin or op.operation_id in CONSOLE_OPEN:
        return None
    given = request.headers.get("X-Admin-Token") or ""
    scheme, _, token = (request.headers.get("Authorization") or "").partition(" ")
    if scheme.lower() == "bearer":
        given = given or token.strip()
    if console_auth.token_matches(given, expected):
        return None
    if not op.console:
        raise Unauthenticated("Unauthorized: the control API needs the admin token")
    if console_auth.signed_in(expected):
        return None
    back = request.full_path if request.method == "GET" else CONSOLE_PREFIX
    return redirect(f"{CONSOLE_PREFIX}/login?{urlencode({'next': back.rstrip('?')})}", 303)


def query(*known: str) -> QueryParams:
    """The query parameters (`tenant` is always allowed); 400 for unknown or repeated ones."""
    return QueryParams(request.args.to_dict(flat=False), ("tenant", *known))


def api_key_of(params: QueryParams) -> str | None:
    """The API key `?tenant=` names, if any."""
    api_key = params.text("tenant")
    params.finish()
    return api_key


def tenant_key_of(params: QueryParams) -> str | None:
    """The tenant `?tenant=<apiKey>` scopes to: the partition that key reaches (its user's, for a
    registered key), so every key of one user addresses the same data, journal and clock."""
    api_key = api_key_of(params)
    return None if api_key is None else sandbox().tenancy.partition_of(api_key)


def document_text() -> str:
    """The request body as text: a YAML or JSON document."""
    if request.mimetype and not is_document_type(request.mimetype):
        raise UnsupportedMediaType(f"Send the document as application/json or application/yaml (got '{request.mimetype}')")
    raw = request.get_data(cache=False)
    try:
        return raw.decode("utf-8")
    except UnicodeDecodeError as error:
        raise InvalidRequest(f"Request body is not valid UTF-8 (byte {error.start})") from None


@route("loadFixtures")
def load_fixtures():
    params = query("source")
    source = params.text("source") or "<request body>"
    summary = sandbox().load_text(document_text(), source, api_key_of(params))
    return json_response(summary, 201 if summary["loaded"] else 200)


@route("listFixtures")
def list_fixtures():
    tenant_key = tenant_key_of(query())
    return json_response({"fixtures": [
        {"source": f.source, "scope": f.scope, "tenants": sorted(f.tenant_keys()),
         "records": len(f.records), "scenarios": len(f.scenarios)}
        for f in sandbox().fixtures
        if tenant_key is None or any(sandbox().tenancy.partition_of(key) == tenant_key for key in f.tenant_keys())
    ]})


@route("forgetFixtures")
def forget_fixtures():
    tenant_key = tenant_key_of(query())
    return json_response({"deleted": sandbox().forget_fixtures(tenant_key)})


@route("reset")
def reset():
    tenant_key = tenant_key_of(query())
    sandbox().reset(tenant_key)
    return json_response({"reset": "tenant" if tenant_key else "server"})


@route("listScenarios")
def list_scenarios():
    tenant_key = tenant_key_of(query())
    return json_response({"scenarios": [named_scope(s) for s in sandbox().scenarios.listing(tenant_key)]})


@route("addScenario")
def add_scenario():
    api_key = api_key_of(query())
    tenant_key = None if api_key is None else sandbox().tenancy.partition_of(api_key)
    spec = parse_scenario(document_text(), "<request body>", scope=api_key, partition_of=sandbox().tenancy.partition_of)
    scenario = sandbox().add_scenario(spec, tenant_key)
    return json_response(named_scope(scenario.to_json(tenant_key, everyone=tenant_key is None)), 201)


def named_scope(listed: dict[str, Any]) -> dict[str, Any]:
    """A listed scenario with `scopedTo` as an API key of its tenant, as a client names it."""
    scope = listed["scopedTo"]
    return listed if scope is None else {**listed, "scopedTo": sandbox().api_key_naming(scope)}


@route("removeScenario")
def remove_scenario(name: str):
    tenant_key = tenant_key_of(query())
    sandbox().scenarios.remove(name, tenant_key)
    return json_response({"deleted": name})


@route("listRequests")
def list_requests():
    params = query("method", "path", "status")
    method, path = params.text("method", 20), params.text("path", 2000)
    status = params.integer("status", 100, 599)
    tenant_key = tenant_key_of(params)
    entries = sandbox().journal.entries(tenant_key, match=entry_filter(method, path, status))
    return json_response({"requests": entries, "count": len(entries)})


@route("clearRequests")
def clear_requests():
    tenant_key = tenant_key_of(query())
    return json_response({"deleted": sandbox().journal.clear(tenant_key)})


@route("exportState")
def export_state():
    tenant_key = tenant_key_of(query())
    return json_response(sandbox().export_state(tenant_key))


@route("readClock")
def read_clock():
    tenant_key = tenant_key_of(query())
    return json_response(sandbox().clock_json(tenant_key))


@route("moveClock")
def move_clock():
    tenant_key = tenant_key_of(query())
    move_clock_as(json_object_body(), tenant_key)
    return json_response(sandbox().clock_json(tenant_key))


def move_clock_as(body: dict[str, Any], tenant_key: str | None) -> None:
    """Set or advance the clock (one tenant's, when named) as `body` says: `set`, `advance` or
    `advanceMs`; 400 for anything else (the control API's and the console's one reading)."""
    unknown = set(body) - {"set", "advance", "advanceMs"}
    if unknown or len(body) != 1:
        raise InvalidRequest("Send exactly one of: set (a date-time), advance (a duration such as 90s), advanceMs",
                             details=[{"path": name, "message": "unknown field"} for name in sorted(unknown)])
    clock = sandbox().clock
    try:
        if "set" in body:
            clock.set(parse_timestamp(body["set"]), tenant_key)
        else:
            amount = body["advanceMs"] if "advanceMs" in body else parse_duration(body["advance"])
            if not isinstance(amount, int) or isinstance(amount, bool) or amount < 0:
                raise ValueError("must be a whole number of milliseconds, 0 or more")
            clock.advance(amount, tenant_key)
    except ValueError as error:
        raise InvalidRequest(f"Cannot move the clock: {error}",
                             details=[{"path": next(iter(body)), "message": str(error)}]) from None
