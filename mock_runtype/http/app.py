"""The Flask app factory: one Sandbox, the routes of the operation registry and the error handlers."""

from __future__ import annotations

from functools import cached_property
from typing import Any

from flask import Flask, Request, Response, request
from werkzeug.routing import MapAdapter, Rule

from mock_runtype import __version__
from mock_runtype.contract.operations import OPERATIONS, Operation, path_parameters
from mock_runtype.http import interception
from mock_runtype.http.context import context_of
from mock_runtype.http import admin_routes as admin
# imported for their @route handlers:
from mock_runtype.http import (bulk_routes, console_routes, discovery_routes, execution_routes,  # noqa: F401
                               index_routes, record_routes)
from mock_runtype.http.cors import register_cors
from mock_runtype.http.error_handlers import register_error_handlers
from mock_runtype.http.response_check_hook import register_response_check
from mock_runtype.http.responses import check_unread_query, json_response, refuse_encoded_bodies, report_ignored
from mock_runtype.http.routes import add_routes, route
from mock_runtype.sandbox.core import Sandbox


MAX_REMEMBERED_HOSTS = 256  # distinct Host headers whose URL adapter part is kept at once (a client sends one)
MAX_REMEMBERED_HOST_CHARS = 300  # a longer Host header is not remembered (a DNS name is 253 at most, then a port)


def _wsgi_text(latin1: str) -> str:
    """A PEP 3333 environ string (bytes held as latin-1) as the UTF-8 text it is, as Werkzeug reads it."""
    return latin1 if latin1.isascii() else latin1.encode("latin-1").decode(errors="replace")


class RegistryAdapter(MapAdapter):
    """Werkzeug's URL adapter, given the match the operation registry already made (`operation_at`,
    a dict look-up and a split, where Werkzeug's state machine runs a regular expression per path
    parameter) for Flask's own call; any other match, or a request the registry did not settle, is
    Werkzeug's."""

    found: tuple[Rule, dict[str, str]] | None = None

    def match(self, path_info: str | None = None, method: str | None = None, return_rule: bool = False,
              query_args: Any = None, websocket: bool | None = None) -> Any:
        if (self.found is not None and return_rule and path_info is None and method is None and query_args is None
                and websocket is None):
            return self.found
        return super().match(path_info, method, return_rule, query_args, websocket)


class SandboxApp(Flask):
    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._synced: dict[Any, Any] = {}  # ensure_sync's answers, by function
        # create_url_adapter's host part (request.host, then the adapter's), by what it is made of
        self._hosts: dict[tuple, tuple[str, str, str, str | None, str]] = {}
        self._methods = frozenset(op.method.upper() for op in OPERATIONS)

    def ensure_sync(self, func: Any) -> Any:
        """Flask's, remembered per function: it asks `inspect` whether each view and hook is a
        coroutine function on every request (a dozen times, about 10 µs a request)."""
        synced = self._synced.get(func)
        if synced is None:
            synced = self._synced[func] = super().ensure_sync(func)
        return synced

    def create_url_adapter(self, request: Request | None) -> MapAdapter | None:
        """Flask's, with its host part remembered per `Host` (and what else it reads): working out
        the host (its port, its IDNA form, the subdomain) is a third of Flask's cost per request,
        and a client sends the same `Host` every time. A host Flask refuses is never remembered."""
        if request is None or "HTTP_UPGRADE" in request.environ:
            return super().create_url_adapter(request)
        environ = request.environ
        host_header = environ.get("HTTP_HOST")
        key = (host_header, environ.get("SERVER_NAME"), environ.get("SERVER_PORT"),
               environ.get("SCRIPT_NAME"), environ["wsgi.url_scheme"])
        known = self._hosts.get(key)
        if known is None:
            adapter = super().create_url_adapter(request)
            if len(host_header or "") <= MAX_REMEMBERED_HOST_CHARS:
                if len(self._hosts) >= MAX_REMEMBERED_HOSTS:
                    self._hosts.clear()  # a flood of names: start over, so that it cannot fill it for good
                # the host part alone: the adapter holds this first request's path and query too
                self._hosts[key] = (request.host, adapter.server_name, adapter.script_name, adapter.subdomain,
                                    adapter.url_scheme)
            return adapter
        request.host, server_name, script_name, subdomain, url_scheme = known
        path, query = environ.get("PATH_INFO"), environ.get("QUERY_STRING")
        adapter = RegistryAdapter(self.url_map, server_name, script_name, subdomain, url_scheme,
                                  "/" if path is None else _wsgi_text(path),
                                  environ["REQUEST_METHOD"], None if query is None else _wsgi_text(query))
        context = context_of(environ)
        if context is not None and context.operation is not None:
            adapter.found = self._found(context.operation, adapter.path_info, adapter.default_method)
        return adapter

    @cached_property
    def _rules(self) -> dict[str, Rule]:
        """The url rule of each endpoint (an operation id: one rule each), read at the first request,
        when every route is in (Flask refuses routes added later)."""
        return {rule.endpoint: rule for rule in self.url_map.iter_rules()}

    def _found(self, op: Operation, path: str, method: str) -> tuple[Rule, dict[str, str]] | None:
        """The rule and arguments Werkzeug's match gives a request the registry found `op` for, when
        they are certain to be the same: one of the operation's own methods, no trailing slash."""
        if method not in self._methods or (path.endswith("/") and path != "/"):
            return None  # HEAD, OPTIONS (Flask answers those itself), a slash Werkzeug may redirect
        return self._rules[op.operation_id], path_parameters(op, path)

    def make_default_options_response(self) -> Response:
        """`OPTIONS`: the `Allow` of the path's own rule. Werkzeug joins every rule that matches the
        path, so `/v1/records/bulk-delete` would list those of `/v1/records/{id}` too."""
        response = super().make_default_options_response()
        rule = request.url_rule
        if rule is not None:
            same_path = (other.methods or () for other in self.url_map.iter_rules() if other.rule == rule.rule)
            methods = set().union(*same_path)
            response.allow.clear()
            response.allow.update(methods)
        return response


def create_app(sandbox: Sandbox | None = None) -> Flask:
    """A WSGI app serving `sandbox` (a fresh one with default settings when not given)."""
    sandbox = sandbox or Sandbox()
    app = SandboxApp("mock_runtype", static_folder=None, template_folder="http/templates")  # the console's
    app.extensions["mock_runtype"] = sandbox
    app.config["MAX_CONTENT_LENGTH"] = sandbox.settings.max_body_bytes
    app.config["MAX_FORM_MEMORY_SIZE"] = sandbox.settings.max_body_bytes  # a fixture pasted into the console
    app.url_map.strict_slashes = False
    app.url_map.merge_slashes = False  # `/v1//records` is a path the API lacks (404 JSON), not an HTML redirect
    add_routes(app)
    console_routes.register_console(app)
    register_error_handlers(app)
    if sandbox.settings.check_responses:
        register_response_check(app)
    app.before_request(admin.refuse_web_pages)  # first: not even a preflight is answered to a web page
    register_cors(app)  # before the scenarios' hooks: a preflight is answered whatever they say
    interception.install(app, sandbox)
    app.before_request(admin.require_admin_token)  # after the preflight and the scenarios, as before
    app.before_request(refuse_encoded_bodies)
    app.before_request(check_unread_query)
    app.after_request(report_ignored)
    return app


@route("health")
def health():
    return json_response({"status": "ok", "version": __version__})


@route("openapi")
def openapi():
    from mock_runtype.contract.openapi import published_document  # not imported for a server that is never asked

    return json_response(published_document())
