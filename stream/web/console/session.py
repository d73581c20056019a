"""Signing in to the console: the operator token is typed once into a form (a POST body, never a URL) and
exchanged for a cookie the browser keeps and scripts cannot read.

The cookie is `expires.nonce.actor.signature`, signed with HMAC-SHA256 under the operator token: every worker
that has the token checks it without shared session state, and changing the token signs everyone out. It is
HttpOnly (no script reads it), SameSite=Strict (no other site's page sends it) and Secure behind TLS. Every
form that changes something also carries a CSRF token derived from the session's nonce, checked on POST with
the Origin header when the browser sends one: a forged cross-site form has neither.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import secrets
import time
from dataclasses import dataclass
from http.cookies import CookieError, SimpleCookie

from pydantic import SecretStr

from recstream.stream.web.auth import same_secret

COOKIE = "recstream_console"
#: how long a sign-in lasts
LIFETIME_S = 8 * 3600


@dataclass(frozen=True)
class Session:
    actor: str
    nonce: str
    expires: int
    csrf: str


class Sessions:
    """Issues and checks console sessions under the operator token (None: no one can sign in)."""

    def __init__(self, token: SecretStr | None, lifetime_s: int = LIFETIME_S) -> None:
        self._key = token.get_secret_value().encode() if token is not None else None
        self.lifetime_s = lifetime_s

    @property
    def enabled(self) -> bool:
        return self._key is not None

    def issue(self, actor: str, now: float | None = None) -> tuple[str, Session]:
        """(the cookie's value, the session) for `actor`, who just gave the right token."""
        assert self._key is not None, "issue() needs the operator token"
        expires = int((now if now is not None else time.time()) + self.lifetime_s)
        nonce = secrets.token_urlsafe(16)
        name = base64.urlsafe_b64encode(actor.encode()).decode().rstrip("=")
        payload = f"{expires}.{nonce}.{name}"
        return f"{payload}.{self._sign(payload)}", Session(actor, nonce, expires, self._csrf(nonce))

    def check(self, cookie_header: str | None, now: float | None = None) -> Session | None:
        """The session the request's Cookie header carries, if it is ours, intact and not expired."""
        if self._key is None or not cookie_header:
            return None
        try:
            morsel = SimpleCookie(cookie_header).get(COOKIE)
        except CookieError:
            return None
        parts = morsel.value.split(".") if morsel is not None else []
        if len(parts) != 4 or not (parts[0].isascii() and parts[0].isdigit()):
            return None
        expires, nonce, name, signature = parts
        if not same_secret(signature, self._sign(f"{expires}.{nonce}.{name}")):
            return None
        if int(expires) < (now if now is not None else time.time()):
            return None
        try:
            actor = base64.urlsafe_b64decode(name + "=" * (-len(name) % 4)).decode()
        except ValueError:
            return None
        return Session(actor, nonce, int(expires), self._csrf(nonce))

    def _sign(self, payload: str) -> str:
        assert self._key is not None
        return hmac.new(self._key, payload.encode(), hashlib.sha256).hexdigest()

    def _csrf(self, nonce: str) -> str:
        assert self._key is not None
        return hmac.new(self._key, f"csrf:{nonce}".encode(), hashlib.sha256).hexdigest()[:32]


def set_cookie(value: str, max_age: int, secure: bool) -> str:
    """A Set-Cookie header value for the session (an empty value with max_age 0 signs out)."""
    return (f"{COOKIE}={value}; Path=/; Max-Age={max_age}; HttpOnly; SameSite=Strict"
            + ("; Secure" if secure else ""))


def same_origin(origin: str | None, host: str | None) -> bool:
    """A POST's Origin header (sent by browsers on form posts) names this host, or is absent."""
    if not origin:
        return True
    return host is not None and origin.split("://", 1)[-1].rstrip("/") == host
