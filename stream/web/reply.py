"""What a view returns, whatever serves it: status, body and content type (the Faust binding turns it into an
aiohttp response; unit tests read it directly)."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any, Protocol


class Request(Protocol):
    """The part of an aiohttp request the views read (unit tests pass a small fake)."""

    query: Any
    headers: Any
    path_qs: str

    async def read(self) -> bytes: ...


@dataclass
class LocalRequest:
    """A `Request` made in-process, to call a view without HTTP (benches and tests)."""

    path_qs: str = "/"
    query: dict[str, str] = field(default_factory=dict)
    headers: dict[str, str] = field(default_factory=dict)
    body: bytes = b""
    #: the client's address (aiohttp's `request.remote`): failed tokens are counted per address
    remote: str = "127.0.0.1"

    async def read(self) -> bytes:
        return self.body


@dataclass(frozen=True)
class Reply:
    status: int
    body: bytes
    content_type: str = "application/json"
    #: further response headers (a cookie, a redirect's Location, the console's security policy)
    headers: tuple[tuple[str, str], ...] = ()

    @classmethod
    def json(cls, data: Any, status: int = 200) -> Reply:
        return cls(status, json.dumps(data, default=str).encode())

    @classmethod
    def error(cls, message: str, status: int) -> Reply:
        return cls.json({"error": message}, status)

    @classmethod
    def html(cls, text: str, status: int = 200, headers: tuple[tuple[str, str], ...] = ()) -> Reply:
        return cls(status, text.encode(), "text/html", headers)

    @classmethod
    def redirect(cls, location: str, headers: tuple[tuple[str, str], ...] = ()) -> Reply:
        """303 See Other: after a form's POST, the browser GETs `location` (a reload does not post again)."""
        return cls(303, b"", "text/plain", (("Location", location), *headers))

    def data(self) -> Any:
        """The JSON body, decoded (for tests and forwarding checks)."""
        return json.loads(self.body)
