"""Who may read and who may change, over HTTP (docs/security.md has the whole model).

Mutating endpoints need `Authorization: Bearer $RECSTREAM_OPERATOR_TOKEN`; with no token configured they are
refused, so a fresh install never exposes promote/rollback to anyone who can reach the port. With
RECSTREAM_READ_TOKEN_REQUIRED, operator read endpoints need the read token (RECSTREAM_READ_TOKEN, which changes
nothing) or the operator token; serving, /readyz and a bare /healthz stay open.

Every failed token, on the bearer path and the console's sign-in form alike, counts against the client's
address: after `FailureLimiter.max_failures` in a window the client is refused (429) for a while, right token or
not, so guessing is slow however many requests run in parallel.
"""

from __future__ import annotations

import hmac
import time
from collections import OrderedDict, deque
from dataclasses import replace
from typing import Literal

from recstream.stream.settings import ServingSettings
from recstream.stream.web.reply import Reply, Request

Grant = Literal["operator", "read", "producer"]


def same_secret(given: str, expected: str) -> bool:
    """Constant-time equality of two texts, any characters (`hmac.compare_digest` on str refuses non-ASCII)."""
    return hmac.compare_digest(given.encode("utf-8", "surrogateescape"), expected.encode("utf-8", "surrogateescape"))


def client_of(request: Request) -> str:
    """The address a request came from (the peer of the TCP connection; a proxy's X-Forwarded-For is not trusted:
    a client could write any)."""
    return str(getattr(request, "remote", None) or "unknown")


class FailureLimiter:
    """Failed token attempts per client: `max_failures` within `window_s` locks the client out for `lockout_s`.
    Remembers at most `max_clients` (the oldest forgotten first), so a flood of addresses cannot grow memory."""

    def __init__(self, max_failures: int = 10, window_s: float = 60.0, lockout_s: float = 60.0,
                 max_clients: int = 10_000) -> None:
        self.max_failures, self.window_s, self.lockout_s, self.max_clients = max_failures, window_s, lockout_s, max_clients
        self._failures: OrderedDict[str, deque[float]] = OrderedDict()
        self._locked_until: dict[str, float] = {}

    def wait_s(self, client: str, now: float | None = None) -> float:
        """Seconds this client must wait before its next attempt counts (0: it may try now)."""
        until = self._locked_until.get(client)
        left = 0.0 if until is None else until - (time.monotonic() if now is None else now)
        if until is not None and left <= 0:
            del self._locked_until[client]
        return max(left, 0.0)

    def failed(self, client: str, now: float | None = None) -> None:
        now = time.monotonic() if now is None else now
        recent = self._failures.pop(client, None) or deque(maxlen=self.max_failures)
        recent.append(now)
        self._failures[client] = recent
        while len(self._failures) > self.max_clients:
            self._failures.popitem(last=False)
        if len(recent) == self.max_failures and now - recent[0] <= self.window_s:
            self._locked_until[client] = now + self.lockout_s
            recent.clear()

    def succeeded(self, client: str) -> None:
        self._failures.pop(client, None)


class Access:
    """The tokens a worker accepts and the failures it has seen; one per worker, shared by every view."""

    def __init__(self, serving: ServingSettings, limiter: FailureLimiter | None = None) -> None:
        self.serving = serving
        self.limiter = limiter or FailureLimiter(serving.auth_max_failures, lockout_s=serving.auth_lockout_s)

    def grant(self, given: str) -> Grant | None:
        """What a token allows: the operator token everything, the read token reading, anything else nothing."""
        op, read = self.serving.operator_token, self.serving.read_token
        if op is not None and same_secret(given, op.get_secret_value()):
            return "operator"
        if read is not None and same_secret(given, read.get_secret_value()):
            return "read"
        producer = self.serving.producer_token
        if producer is not None and same_secret(given, producer.get_secret_value()):
            return "producer"
        return None

    def check(self, request: Request, given: str) -> tuple[Grant | None, Reply | None]:
        """(what `given` allows, None), or (None, a 429) while the client is locked out; a wrong token counts."""
        client = client_of(request)
        if (wait := self.limiter.wait_s(client)) > 0:
            refused = Reply.error(f"too many wrong tokens from {client}: try again in {wait:.0f} s", 429)
            return None, replace(refused, headers=(("Retry-After", str(int(wait) + 1)),))
        grant = self.grant(given)
        if grant is None:
            self.limiter.failed(client)
        else:
            self.limiter.succeeded(client)
        return grant, None

    def bearer(self, request: Request) -> tuple[Grant | None, Reply | None]:
        """`check` of the request's `Authorization: Bearer` token (no header: no grant, and no failure)."""
        scheme, _, given = request.headers.get("Authorization", "").partition(" ")
        if scheme.lower() != "bearer" or not given.strip():
            return None, None
        return self.check(request, given.strip())

    def operator(self, request: Request) -> Reply | None:
        """None when the request carries the operator token, else the reply that refuses it."""
        if self.serving.operator_token is None:
            return Reply.error("model operations over HTTP are disabled: set RECSTREAM_OPERATOR_TOKEN on the "
                               "workers", 403)
        grant, limited = self.bearer(request)
        if limited is not None:
            return limited
        if grant in ("read", "producer"):
            return Reply.error(f"the {grant} token cannot change models: send the operator token", 403)
        if grant is None:
            return Reply.error("send the operator token as 'Authorization: Bearer <token>'", 401)
        return None

    def reader(self, request: Request) -> Reply | None:
        """For operator read endpoints: None when reading is open or the request carries a token that reads."""
        if not self.serving.read_token_required:
            return None
        grant, limited = self.bearer(request)
        if limited is not None:
            return limited
        if grant not in ("read", "operator"):
            return Reply.error("reading this needs a token: 'Authorization: Bearer <RECSTREAM_READ_TOKEN or the "
                               "operator token>'", 401)
        return None

    def producer(self, request: Request) -> Reply | None:
        """For POST /events: None with the producer (or operator) token, as a bearer or, for a page's
        sendBeacon which sends no headers, as `?token=`."""
        if self.serving.producer_token is None and self.serving.operator_token is None:
            return Reply.error("events over HTTP are disabled: set RECSTREAM_PRODUCER_TOKEN on the workers", 403)
        grant, limited = self.bearer(request)
        if grant is None and limited is None and request.query.get("token"):
            grant, limited = self.check(request, request.query.get("token"))
        if limited is not None:
            return limited
        if grant == "read":
            return Reply.error("the read token cannot send events: send the producer token", 403)
        if grant is None:
            return Reply.error("send the producer token as 'Authorization: Bearer <token>' or ?token=<token>", 401)
        return None

    def guard(self, rule: str, request: Request) -> Reply | None:
        """The refusal a route's access rule (contract/routes.py) gives this request, or None."""
        if rule == "read":
            return self.reader(request)
        if rule == "operator":
            return self.operator(request)
        if rule == "producer":
            return self.producer(request)
        return None  # open; the console checks its own session

    def may_read(self, request: Request) -> bool:
        """Whether the request may see operator detail (a user's items, peers, errors): `reader` without a reply."""
        return self.reader(request) is None

    def peer_headers(self) -> dict[str, str]:
        """What this worker sends to a peer's /healthz so that it answers in full: the read token (or operator)."""
        token = self.serving.read_token or self.serving.operator_token
        return {"Authorization": f"Bearer {token.get_secret_value()}"} if token is not None else {}
