"""The Flask app factory: one Sandbox, its blueprints and the error handlers."""

from __future__ import annotations

from flask import Flask

from mock_runtype import __version__
from mock_runtype.http import interception
from mock_runtype.http import admin_routes as admin
from mock_runtype.http import bulk_routes as bulk
from mock_runtype.http import discovery_routes as discovery
from mock_runtype.http import execution_routes as executions
from mock_runtype.http import record_routes as records
from mock_runtype.http.cors import register_cors
from mock_runtype.http.error_handlers import register_error_handlers
from mock_runtype.http.responses import json_response
from mock_runtype.sandbox.core import Sandbox


def create_app(sandbox: Sandbox | None = None) -> Flask:
    """A WSGI app serving `sandbox` (a fresh one with default settings when not given)."""
    sandbox = sandbox or Sandbox()
    app = Flask("mock_runtype")
    app.extensions["mock_runtype"] = sandbox
    app.config["MAX_CONTENT_LENGTH"] = sandbox.settings.max_body_bytes
    app.url_map.strict_slashes = False
    for module in (records, bulk, discovery, executions, admin):
        app.register_blueprint(module.blueprint)
    register_error_handlers(app)
    if sandbox.settings.check_responses:
        from mock_runtype.http.response_check_hook import register_response_check  # (imports the OpenAPI tables)

        register_response_check(app)
    register_cors(app)  # before the scenarios' hooks: a preflight is answered whatever they say
    interception.install(app, sandbox)

    @app.get("/health")
    def health():
        return json_response({"status": "ok", "version": __version__})

    @app.get("/openapi.json")
    def openapi():
        from mock_runtype.contract.openapi import published_document  # not imported for a server that is never asked

        return json_response(published_document())

    return app
