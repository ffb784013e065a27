"""The house rules: the package's folder listing is its architecture, and imports go one way.

Read from the source with `ast`, so an import inside a function counts as much as one at the top.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parents[1] / "mock_runtype"
COMPOSITION_ROOT = {"__init__.py", "__main__.py", "cli.py", "config.py", "healthcheck.py", "server.py"}
ROLES = {"model", "sandbox", "contract", "http", "serving", "testing", "conformance"}
WEB = ("flask", "werkzeug")


def modules(role: str | None = None) -> list[Path]:
    return sorted((PACKAGE / role if role else PACKAGE).rglob("*.py"))


def imported(path: Path) -> set[str]:
    """Every module `path` imports, as dotted names (`from a import b` counts as a and a.b)."""
    names: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module:
            names.add(node.module)
            names.update(f"{node.module}.{alias.name}" for alias in node.names)
    return names


def offending(role: str, forbidden: tuple[str, ...]) -> list[str]:
    return [f"{path.relative_to(PACKAGE)} imports {name}" for path in modules(role) for name in sorted(imported(path))
            if any(name == f or name.startswith(f + ".") for f in forbidden)]


def test_the_top_level_holds_the_composition_root_and_the_role_subpackages():
    entries = {p.name for p in PACKAGE.iterdir() if p.name != "__pycache__"}
    assert entries == COMPOSITION_ROOT | ROLES
    assert all((PACKAGE / role / "__init__.py").is_file() for role in ROLES)


def test_only_the_serving_adapter_imports_the_engine():
    importers = {str(path.relative_to(PACKAGE)) for path in modules() if "mock_runtype.serving.engine" in imported(path)}
    assert importers == {"serving/adapter.py"}


@pytest.mark.parametrize(("role", "forbidden"), [
    ("model", WEB + ("mock_runtype.sandbox", "mock_runtype.contract", "mock_runtype.http", "mock_runtype.serving",
                     "mock_runtype.testing", "mock_runtype.server", "mock_runtype.cli", "mock_runtype.config")),
    ("sandbox", WEB + ("mock_runtype.contract", "mock_runtype.http", "mock_runtype.serving", "mock_runtype.testing",
                       "mock_runtype.server", "mock_runtype.cli", "mock_runtype.config")),
    ("contract", WEB + ("mock_runtype.sandbox", "mock_runtype.http", "mock_runtype.serving", "mock_runtype.testing",
                        "mock_runtype.server")),
    ("http", ("mock_runtype.serving", "mock_runtype.testing", "mock_runtype.server", "mock_runtype.cli")),
    ("serving", ("mock_runtype.testing", "mock_runtype.server", "mock_runtype.cli")),
    ("conformance", ("mock_runtype.testing", "mock_runtype.server", "mock_runtype.cli", "mock_runtype.config")),
])
def test_imports_point_inwards(role, forbidden):
    """model <- sandbox <- http <- serving, with contract beside the model: no layer reaches out."""
    assert offending(role, forbidden) == []


@pytest.mark.parametrize("role", sorted(ROLES - {"conformance"}))
def test_only_the_composition_root_uses_the_conformance_tools(role):
    """The conformance run and the proxy sit on top of the sandbox: no role reaches into them."""
    assert offending(role, ("mock_runtype.conformance",)) == []
