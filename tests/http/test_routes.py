"""The app's routes are the registry's operations: each rule comes from one, each one is routed."""

from __future__ import annotations

import pytest
from flask import Flask

from mock_runtype.contract.operations import OPERATIONS
from mock_runtype.http import routes
from mock_runtype.http.app import create_app
from mock_runtype.http.routes import add_routes, flask_rule, route


def test_every_rule_of_the_app_is_an_operation_and_every_operation_is_routed():
    rules = {(rule.endpoint, rule.rule, frozenset(rule.methods - {"HEAD", "OPTIONS"}))
             for rule in create_app().url_map.iter_rules()}
    assert rules == {(op.operation_id, flask_rule(op.path), frozenset({op.method.upper()})) for op in OPERATIONS}


def test_a_path_template_becomes_a_flask_rule():
    assert flask_rule("/v1/records/{id}/results") == "/v1/records/<id>/results"
    assert flask_rule("/v1/records") == "/v1/records"


def test_put_and_patch_of_a_record_share_their_handler():
    views = create_app().view_functions
    assert views["updateRecord"] is views["patchRecord"]


def test_a_handler_for_an_operation_the_registry_lacks_fails_at_import():
    with pytest.raises(KeyError):
        route("noSuchOperation")


def test_a_second_handler_for_an_operation_fails_at_import():
    with pytest.raises(ValueError, match="createRecord has two handlers"):
        route("createRecord")(lambda: None)


def test_an_operation_without_a_handler_fails_when_the_app_is_built(monkeypatch):
    monkeypatch.delitem(routes._handlers, "getRecordCosts")
    with pytest.raises(LookupError, match="getRecordCosts"):
        add_routes(Flask("incomplete"))
