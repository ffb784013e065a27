"""How a browser carries the admin token to the web console: a signed cookie, set by its login form.

A browser cannot add `Authorization` or `X-Admin-Token` to a link it follows, so the console's
login form takes the token once and answers with a cookie that proves it was given: the value is
signed with the token itself (itsdangerous), so it holds no secret, and a server started with
another token refuses it. It is `HttpOnly` (no script reads it), `SameSite=Strict` (no other
site's page makes the browser send it) and limited to the console's path, and only the console's
operations accept it: the JSON control API still wants the token in a header.
"""

from __future__ import annotations

import hmac

from flask import Response, request
from itsdangerous import BadSignature, URLSafeTimedSerializer

from mock_runtype.contract.operations import CONSOLE_PREFIX

COOKIE = "mock_runtype_console"
SESSION_SECONDS = 12 * 3600
_SALT = "mock-runtype-console-session"
_CLAIM = "admin"


def _serializer(admin_token: str) -> URLSafeTimedSerializer:
    return URLSafeTimedSerializer(admin_token, salt=_SALT)


def token_matches(given: str, admin_token: str) -> bool:
    return hmac.compare_digest(given.encode(), admin_token.encode())


def signed_in(admin_token: str) -> bool:
    """Whether the request carries a console cookie signed with `admin_token`, not yet expired."""
    value = request.cookies.get(COOKIE)
    if not value:
        return False
    try:
        return _serializer(admin_token).loads(value, max_age=SESSION_SECONDS) == _CLAIM
    except BadSignature:  # a forged, altered or expired cookie (SignatureExpired is one)
        return False


def sign_in(response: Response, admin_token: str) -> Response:
    response.set_cookie(COOKIE, _serializer(admin_token).dumps(_CLAIM), max_age=SESSION_SECONDS,
                        path=CONSOLE_PREFIX, httponly=True, samesite="Strict", secure=request.is_secure)
    return response


def sign_out(response: Response) -> Response:
    response.delete_cookie(COOKIE, path=CONSOLE_PREFIX, httponly=True, samesite="Strict", secure=request.is_secure)
    return response
