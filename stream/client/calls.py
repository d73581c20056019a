"""What each client method asks (method, path, query, body) and how its answer is read, written once for the
sync and the async client; and when a failed call is tried again."""

from __future__ import annotations

import json
import random
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import parse_qsl, quote

from pydantic import BaseModel

from recstream.models.errors import RecstreamError
from recstream.stream.web.contract import replies
from recstream.stream.web.contract.requests import MAX_EVENTS

#: answers worth another try: the worker is starting, a broker is down, or the client was too quick
RETRY_STATUSES = frozenset({429, 502, 503, 504})


class ApiError(RecstreamError):
    """The worker refused the request (4xx) or failed (5xx after the retries); `message` says what to send."""

    def __init__(self, status: int, message: str) -> None:
        super().__init__(f"{status}: {message}")
        self.status, self.message = status, message


class Unreachable(RecstreamError):
    """No answer after the retries (connection refused, timed out)."""


@dataclass(frozen=True)
class Call:
    method: str
    path: str
    reply: type[BaseModel] | None
    params: list[tuple[str, str]] = field(default_factory=list)
    json: Any = None
    #: which token the call needs: read (read or operator), producer, or none
    token: str | None = None


def recommendations(user_id: str, k: int, exclude: Iterable[str], category: Iterable[str], available_only: bool,
                    exclude_seen: bool, explain: bool) -> Call:
    body = {"k": k, "exclude": list(exclude), "category": list(category), "available_only": available_only,
            "exclude_seen": exclude_seen, "explain": explain}
    # POST: ids may hold commas, and a long exclude list needs no long URL
    return Call("POST", f"/recommendations/{quote(user_id, safe='')}", replies.Recommendations, json=body,
                token="read" if explain else None)


def similar(item_id: str, k: int, category: Iterable[str], available_only: bool) -> Call:
    params = [("k", str(k)), ("available_only", str(available_only).lower())] + [("category", c) for c in category]
    return Call("GET", f"/items/{quote(item_id, safe='')}/similar", replies.Similar, params)


def item(item_id: str) -> Call:
    return Call("GET", f"/items/{quote(item_id, safe='')}", replies.Item)


def health() -> Call:
    return Call("GET", "/healthz", None, token="read")


def get(path: str) -> Call:
    path, _, query = path.partition("?")
    return Call("GET", path, None, parse_qsl(query, keep_blank_values=True), token="read")


def events(behaviour: list[Any], feedback: list[Any]) -> list[Call]:
    """POST /events in batches of at most MAX_EVENTS (behaviour first)."""
    tagged = [("behaviour", _plain(e)) for e in behaviour] + [("feedback", _plain(e)) for e in feedback]
    calls = []
    for start in range(0, len(tagged), MAX_EVENTS):
        body: dict[str, list] = {"behaviour": [], "feedback": []}
        for topic, event in tagged[start:start + MAX_EVENTS]:
            body[topic].append(event)
        calls.append(Call("POST", "/events", replies.EventsAnswer, json=body, token="producer"))
    return calls


def merge(calls: list[Call], answers: list[replies.EventsAnswer]) -> replies.EventsAnswer:
    """One answer for the batches of `events()`: a refusal's index is its place in the whole list of its topic."""
    offset = {"behaviour": 0, "feedback": 0}
    refused = []
    for call, answer in zip(calls, answers):
        refused += [r.model_copy(update={"index": r.index + offset[r.topic]}) for r in answer.refused]
        offset = {topic: n + len(call.json[topic]) for topic, n in offset.items()}
    return replies.EventsAnswer(accepted=sum(a.accepted for a in answers),
                                duplicates=sum(a.duplicates for a in answers), refused=refused)


def _plain(event: Any) -> Any:
    return event.model_dump(mode="json", exclude_none=True) if isinstance(event, BaseModel) else dict(event)


def headers(call: Call, tokens: Mapping[str, str | None]) -> dict[str, str]:
    token = tokens.get(call.token or "")
    return {"Authorization": f"Bearer {token}"} if token else {}


def retry_wait(attempt: int, backoff_s: float, retry_after: str | None) -> float:
    """Seconds before try `attempt` + 1: the server's Retry-After when it gives one, else exponential with
    jitter (so many clients retrying do not arrive together)."""
    if retry_after is not None and retry_after.isdigit():
        return float(retry_after)
    return backoff_s * (2 ** attempt) * (0.5 + random.random())


def read(call: Call, status: int, body: bytes) -> Any:
    """The answer as its model, or ApiError with the worker's words."""
    try:
        data = json.loads(body) if body else None
    except ValueError:
        data = None
    if status >= 400:
        message = data.get("error") if isinstance(data, dict) else body[:300].decode(errors="replace")
        raise ApiError(status, str(message))
    return call.reply.model_validate(data) if call.reply is not None else data
