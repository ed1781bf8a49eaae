"""The dashboard's token: one shared secret on every page and API call.

A client proves it holds the token with ``Authorization: Bearer TOKEN`` (API
clients, Prometheus) or with the cookie the login form sets (browsers). The
cookie is ``HttpOnly`` and ``SameSite=Strict``, so another site's page cannot
make a browser send it (no cross-site stop or kill).
"""

from __future__ import annotations

import hmac
import os
import secrets

#: The environment variable holding the token; a random one is generated without it.
TOKEN_ENV = "EVOFARM_DASHBOARD_TOKEN"
COOKIE = "evofarm_dashboard"


def resolve_token(environ: dict[str, str] | None = None) -> tuple[str, bool]:
    """The token to require and whether it was generated (so the caller prints it)."""
    env = os.environ if environ is None else environ
    given = env.get(TOKEN_ENV, "").strip()
    if given:
        return given, False
    return secrets.token_urlsafe(24), True


def bearer(header: str | None) -> str | None:
    """The token of an ``Authorization: Bearer TOKEN`` header, or None."""
    if not header:
        return None
    scheme, _, value = header.partition(" ")
    return value.strip() if scheme.lower() == "bearer" and value.strip() else None


def matches(candidate: str | None, token: str) -> bool:
    """Constant-time comparison of a presented token with the real one."""
    return candidate is not None and hmac.compare_digest(candidate.encode(), token.encode())
