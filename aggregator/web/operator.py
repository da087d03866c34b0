"""Operator sessions and CSRF tokens.

Operators sign in with the token from settings (``AGGREGATOR_OPERATOR_TOKEN``; empty disables
every operator page). A session is a cookie ``issued.nonce.mac`` where ``mac`` is an HMAC of
``issued.nonce`` under the token, so the server keeps no session state and changing the token
signs everybody out. Every operator form carries a CSRF token bound to the session nonce (an
HMAC too); the sign-in form, which has no session yet, uses a double-submit cookie. Cookies are
HttpOnly and SameSite=Strict; forms only POST; a cross-origin ``Origin`` header is refused.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
import time
from urllib.parse import urlsplit

from starlette.requests import Request

SESSION_COOKIE = "agg_operator"
LOGIN_COOKIE = "agg_login_csrf"
SESSION_SECONDS = 12 * 3600


def _mac(token: str, *parts: str) -> str:
    return hmac.new(token.encode(), "|".join(parts).encode(), hashlib.sha256).hexdigest()


def new_session(token: str, now: float | None = None) -> str:
    issued = str(int(now if now is not None else time.time()))
    nonce = secrets.token_urlsafe(16)
    return f"{issued}.{nonce}.{_mac(token, 'session', issued, nonce)}"


def session_nonce(token: str, cookie: str | None, now: float | None = None) -> str | None:
    """The nonce of a valid, unexpired session cookie, else None."""
    if not token or not cookie or cookie.count(".") != 2:
        return None
    issued, nonce, mac = cookie.split(".")
    if not issued.isdigit() or not hmac.compare_digest(mac, _mac(token, "session", issued, nonce)):
        return None
    age = (now if now is not None else time.time()) - int(issued)
    return nonce if 0 <= age <= SESSION_SECONDS else None


def csrf_token(token: str, nonce: str) -> str:
    return _mac(token, "csrf", nonce)


def check_token(token: str, given: str) -> bool:
    return bool(token) and hmac.compare_digest(
        hashlib.sha256(given.encode()).digest(), hashlib.sha256(token.encode()).digest()
    )


def same_origin(request: Request) -> bool:
    """False when the browser says the request came from another site (Origin, else Referer)."""
    origin = request.headers.get("origin") or request.headers.get("referer")
    if not origin or origin == "null":
        return origin != "null"
    parts = urlsplit(origin)
    return parts.netloc == request.url.netloc


def local_path(value: str | None, default: str = "/") -> str:
    """``value`` when it is a path on this site (no scheme, no host, no ``//``), else default."""
    if not value or not value.startswith("/") or value.startswith("//") or "\\" in value:
        return default
    if any(ord(c) < 0x21 for c in value):
        return default
    return value
