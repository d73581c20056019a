"""Operator access: mutating endpoints need `Authorization: Bearer $RECSTREAM_OPERATOR_TOKEN`; with no token
configured they are refused, so a fresh install never exposes promote/rollback to anyone who can reach the port.
With RECSTREAM_READ_TOKEN_REQUIRED, operator read endpoints need it too (serving and /healthz stay open)."""

from __future__ import annotations

import hmac

from recstream.stream.settings import ServingSettings
from recstream.stream.web.reply import Reply, Request


def refusal(request: Request, serving: ServingSettings) -> Reply | None:
    """None when the request carries the operator token, else the reply that refuses it."""
    token = serving.operator_token
    if token is None:
        return Reply.error("model operations over HTTP are disabled: set RECSTREAM_OPERATOR_TOKEN on the workers", 403)
    scheme, _, given = request.headers.get("Authorization", "").partition(" ")
    if scheme.lower() != "bearer" or not hmac.compare_digest(given.strip().encode(),
                                                             token.get_secret_value().encode()):
        return Reply.error("send the operator token as 'Authorization: Bearer <token>'", 401)
    return None


def read_refusal(request: Request, serving: ServingSettings) -> Reply | None:
    """For operator read endpoints: refused only with RECSTREAM_READ_TOKEN_REQUIRED and no valid token."""
    return refusal(request, serving) if serving.read_token_required else None
