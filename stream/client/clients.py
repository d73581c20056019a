"""`Client` and `AsyncClient`: the calls of `calls.py` over httpx, with timeouts and retries (connection
failures, 429 and 5xx answers that mean "not now"; POST /events is safe to repeat: events are kept once per
event_id)."""

from __future__ import annotations

import asyncio
import functools
import time
from collections.abc import Iterable
from typing import Any, Self
from urllib.parse import urlsplit

import httpx

from recstream.stream.client import calls
from recstream.stream.client.calls import Call, Unreachable
from recstream.stream.web.contract import replies


class _Base:
    def __init__(self, url: str, *, token: str | None = None, producer_token: str | None = None,
                 timeout_s: float = 5.0, retries: int = 3, backoff_s: float = 0.2) -> None:
        """`token`: the read or operator token (explanations, /healthz in full, when reads are protected);
        `producer_token`: RECSTREAM_PRODUCER_TOKEN, for send_events (the operator token also sends)."""
        self.url = url.rstrip("/")
        self.tokens = {"read": token, "producer": producer_token or token}
        self.timeout_s, self.retries, self.backoff_s = timeout_s, retries, backoff_s

    def _request(self, call: Call) -> dict[str, Any]:
        return {"method": call.method, "url": self.url + call.path, "params": call.params or None,
                "json": call.json, "headers": calls.headers(call, self.tokens)}

    def _again(self, attempt: int, status: int | None) -> bool:
        return attempt < self.retries and (status is None or status in calls.RETRY_STATUSES)


class Client(_Base):
    """Blocking calls (a script, a notebook, a Django view)."""

    def __init__(self, url: str, **options: Any) -> None:
        super().__init__(url, **options)
        self._http = httpx.Client(timeout=self.timeout_s)

    def recommendations(self, user_id: str, k: int = 10, *, exclude: Iterable[str] = (), category: Iterable[str] = (),
                        available_only: bool = True, exclude_seen: bool = True,
                        explain: bool = False) -> replies.Recommendations:
        return self._call(calls.recommendations(user_id, k, exclude, category, available_only, exclude_seen, explain))

    def similar(self, item_id: str, k: int = 10, *, category: Iterable[str] = (),
                available_only: bool = True) -> replies.Similar:
        return self._call(calls.similar(item_id, k, category, available_only))

    def item(self, item_id: str) -> replies.Item:
        return self._call(calls.item(item_id))

    def health(self) -> dict[str, Any]:
        return self._call(calls.health())

    def get(self, path: str) -> Any:
        """Any GET of the API as JSON (with the read token): `/models`, `/drift/reports`, ..."""
        return self._call(calls.get(path))

    def send_events(self, behaviour: Iterable[Any] = (), feedback: Iterable[Any] = ()) -> replies.EventsAnswer:
        """Behaviour and feedback events (dicts or the contract's models), in batches of 500: how many were
        accepted, and each refused one with its dead-letter code and why."""
        batches = calls.events(list(behaviour), list(feedback))
        return calls.merge(batches, [self._call(c) for c in batches])

    def _call(self, call: Call) -> Any:
        attempt = 0
        while True:
            try:
                r = self._http.request(**self._request(call))
            except httpx.TransportError as exc:
                if not self._again(attempt, None):
                    raise Unreachable(f"no recstream API at {self.url} ({exc}): is `recstream worker` running?") from None
                time.sleep(calls.retry_wait(attempt, self.backoff_s, None))
            else:
                if not self._again(attempt, r.status_code):
                    return calls.read(call, r.status_code, r.content)
                time.sleep(calls.retry_wait(attempt, self.backoff_s, r.headers.get("Retry-After")))
            attempt += 1

    def close(self) -> None:
        self._http.close()

    def __enter__(self) -> Self:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


class AsyncClient(_Base):
    """The same calls for asyncio code (an aiohttp or FastAPI service)."""

    def __init__(self, url: str, **options: Any) -> None:
        super().__init__(url, **options)
        self._http = httpx.AsyncClient(timeout=self.timeout_s)

    async def recommendations(self, user_id: str, k: int = 10, *, exclude: Iterable[str] = (),
                              category: Iterable[str] = (), available_only: bool = True, exclude_seen: bool = True,
                              explain: bool = False) -> replies.Recommendations:
        return await self._call(calls.recommendations(user_id, k, exclude, category, available_only, exclude_seen,
                                                      explain))

    async def similar(self, item_id: str, k: int = 10, *, category: Iterable[str] = (),
                      available_only: bool = True) -> replies.Similar:
        return await self._call(calls.similar(item_id, k, category, available_only))

    async def item(self, item_id: str) -> replies.Item:
        return await self._call(calls.item(item_id))

    async def health(self) -> dict[str, Any]:
        return await self._call(calls.health())

    async def get(self, path: str) -> Any:
        return await self._call(calls.get(path))

    async def send_events(self, behaviour: Iterable[Any] = (), feedback: Iterable[Any] = ()) -> replies.EventsAnswer:
        batches = calls.events(list(behaviour), list(feedback))
        return calls.merge(batches, [await self._call(c) for c in batches])

    async def _call(self, call: Call) -> Any:
        attempt = 0
        while True:
            try:
                r = await self._http.request(**self._request(call))
            except httpx.TransportError as exc:
                if not self._again(attempt, None):
                    raise Unreachable(f"no recstream API at {self.url} ({exc}): is `recstream worker` running?") from None
                await asyncio.sleep(calls.retry_wait(attempt, self.backoff_s, None))
            else:
                if not self._again(attempt, r.status_code):
                    return calls.read(call, r.status_code, r.content)
                await asyncio.sleep(calls.retry_wait(attempt, self.backoff_s, r.headers.get("Retry-After")))
            attempt += 1

    async def close(self) -> None:
        await self._http.aclose()

    async def __aenter__(self) -> Self:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.close()


@functools.lru_cache(maxsize=64)
def _shared(base: str, token: str | None, timeout_s: float) -> Client:
    return Client(base, token=token, timeout_s=timeout_s, retries=0)


def api_get(url: str, timeout: float = 5.0, token: str | None = None) -> Any:
    """GET a worker's JSON by full URL, once (no retries: the callers poll), over a kept-alive connection per
    worker (tests, the demo and the benches poll health many times a second)."""
    parts = urlsplit(url)
    base = f"{parts.scheme}://{parts.netloc}"
    return _shared(base, token, timeout).get(url[len(base):] or "/")
