"""CORS, so that code in a browser can call the sandbox's API (never its control API: `/__admin`
answers no preflight and names no origin, so no page can read it; see `admin_routes.refuse_web_pages`).

A preflight (OPTIONS with `Origin` and `Access-Control-Request-Method`) is answered 204 on any
other path before routing; every answer to a request with an allowed `Origin` names that origin (or
`*`) and exposes the headers a client reads. `SandboxSettings.cors_origins` is `("*",)` or a list of
origins; a preflight from an origin not on the list is 403.
"""

from __future__ import annotations

from flask import Flask, Response, request

from mock_runtype.model.errors import Forbidden
from mock_runtype.http.interception import is_admin
from mock_runtype.http.responses import sandbox

ALLOWED_METHODS = "GET, POST, PUT, PATCH, DELETE, OPTIONS"
ALLOWED_HEADERS = ("Authorization", "Content-Type")
EXPOSED_HEADERS = "Retry-After, RateLimit-Limit, RateLimit-Remaining, RateLimit-Reset, Content-Disposition, WWW-Authenticate"
PREFLIGHT_MAX_AGE = "600"


def allowed_origin(origin: str, allowed: tuple[str, ...]) -> str | None:
    """What `Access-Control-Allow-Origin` says to `origin`: `*`, the origin itself, or None."""
    if allowed == ("*",):
        return "*"
    return origin if origin.rstrip("/") in allowed else None


def requested_headers(value: str) -> list[str]:
    """`Authorization` and `Content-Type`, plus the headers a preflight asks for (an SDK may send its own)."""
    names = list(ALLOWED_HEADERS)
    known = {name.lower() for name in names}
    for name in (part.strip() for part in value.split(",")):
        if name and name.lower() not in known:
            names.append(name)
            known.add(name.lower())
    return names


def register_cors(app: Flask) -> None:
    @app.before_request
    def preflight():
        if request.method != "OPTIONS":
            return None
        origin = request.headers.get("Origin")
        if not origin or "Access-Control-Request-Method" not in request.headers or is_admin(request.path):
            return None
        allowed = allowed_origin(origin, sandbox().settings.cors_origins)
        if allowed is None:
            raise Forbidden(f"Origin {origin[:200]} is not allowed (the server's --cors-origin)")
        response = Response(status=204)
        del response.headers["Content-Type"]  # no body, so no media type
        response.headers["Access-Control-Allow-Methods"] = ALLOWED_METHODS
        response.headers["Access-Control-Allow-Headers"] = ", ".join(
            requested_headers(request.headers.get("Access-Control-Request-Headers", ""))
        )
        response.headers["Access-Control-Max-Age"] = PREFLIGHT_MAX_AGE
        return response

    @app.after_request
    def allow_origin(response: Response) -> Response:
        origin = request.environ.get("HTTP_ORIGIN")  # request.headers' "Origin", without building its view
        if not origin or is_admin(request.path):
            return response
        allowed = allowed_origin(origin, sandbox().settings.cors_origins)
        if allowed != "*":
            response.vary.add("Origin")
        if allowed is not None:
            response.headers["Access-Control-Allow-Origin"] = allowed
            if request.method != "OPTIONS":
                response.headers["Access-Control-Expose-Headers"] = EXPOSED_HEADERS
        return response
