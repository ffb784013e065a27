"""`GET /`: what this server offers, as links, instead of a 404 for whoever opens its URL.

JSON for a client that asks for it (or for anything, as curl's `*/*`), a small HTML page for a
browser (`Accept: text/html` preferred). The links come from `INDEX_LINKS`: a part of the app
that serves a page of its own adds an `IndexLink` there.
"""

from __future__ import annotations

import html
from dataclasses import dataclass

from flask import Response, request

from mock_runtype import __version__
from mock_runtype.http.responses import json_response
from mock_runtype.http.routes import route

DOCS = "the docs/ folder of the mock-runtype repository (MkDocs: mkdocs build); start at docs/index.md"


@dataclass(frozen=True)
class IndexLink:
    rel: str  # what it is, for a program: openapi, health, console
    href: str
    title: str

    def to_json(self) -> dict[str, str]:
        return {"rel": self.rel, "href": self.href, "title": self.title}


INDEX_LINKS: list[IndexLink] = [
    IndexLink("openapi", "/openapi.json", "The OpenAPI 3.1 document of the API this sandbox serves"),
    IndexLink("health", "/health", "Liveness: the server answers and its version"),
    IndexLink("console", "/__admin/ui", "The web console: tenants, records, the live journal, scenarios"),
]


@route("index")
def index():
    listed = INDEX_LINKS
    if request.accept_mimetypes.best_match(["application/json", "text/html"]) == "text/html":
        items = "".join(f'<li><a href="{html.escape(link.href)}">{html.escape(link.rel)}</a>: '
                        f"{html.escape(link.title)}</li>" for link in listed)
        page = (f"<!doctype html><html><head><meta charset=\"utf-8\"><title>mock-runtype {__version__}</title>"
                f"</head><body><h1>mock-runtype {__version__}</h1><p>A local, stateful sandbox of the Runtype "
                f"Records API: the API under <code>/v1</code>, its control API under <code>/__admin</code>.</p>"
                f"<ul>{items}</ul><p>Documentation: {html.escape(DOCS)}.</p></body></html>")
        answer = Response(page, mimetype="text/html")
    else:
        answer = json_response({"name": "mock-runtype", "version": __version__,
                                "links": [link.to_json() for link in listed], "docs": DOCS})
    answer.vary.add("Accept")
    return answer
