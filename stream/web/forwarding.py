"""Forwarding a request to the worker that owns the user's partition (its state is the up-to-date one)."""

from __future__ import annotations

import logging

import aiohttp

from recstream.stream.web.reply import Reply
from recstream.stream.worker.directory import WorkerInfo

#: Header on a request one worker forwards to another (the value names the sender).
FORWARDED_BY = "X-Recstream-Forwarded-By"
log = logging.getLogger("recstream.worker")


class Forwarder:
    """One HTTP session per worker, made on first use (it needs the running loop)."""

    def __init__(self, source: str, timeout_s: float) -> None:
        self.source, self.timeout_s = source, timeout_s
        self._session: aiohttp.ClientSession | None = None
        self._warned: set[str] = set()

    async def forward(self, owner: WorkerInfo, path_qs: str, body: bytes | None = None,
                      authorization: str | None = None) -> Reply | None:
        """The owner's answer, verbatim, or None when it cannot be reached in time (answered here instead). With
        a `body`, the request is POSTed (filters too long for a URL); the caller's `authorization` goes along (an
        explanation needs a token that reads, on the owner as here)."""
        if self._session is None:
            self._session = aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=self.timeout_s))
        method, headers = ("POST", {FORWARDED_BY: self.source, "Content-Type": "application/json"}) if body \
            is not None else ("GET", {FORWARDED_BY: self.source})
        if authorization:
            headers["Authorization"] = authorization
        try:
            async with self._session.request(method, owner.url + path_qs, data=body, headers=headers) as resp:
                answer, status = await resp.read(), resp.status
        except (TimeoutError, aiohttp.ClientError) as exc:
            if owner.source not in self._warned:  # once per owner: a dead worker would otherwise log every request
                self._warned.add(owner.source)
                log.warning("worker %s (%s) owns the partition but did not answer (%s); answering here until the "
                            "group rebalances", owner.source, owner.url, exc or type(exc).__name__)
            return None
        self._warned.discard(owner.source)
        return Reply(status, answer)
