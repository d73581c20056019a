"""A running worker's HTTP API, from a script: the CLI, the demo, the tests and the benches ask it this way."""

from __future__ import annotations

import json
import urllib.error
import urllib.request
from typing import Any

from recstream.models.errors import RecstreamError


def api_get(url: str, timeout: float = 5.0, token: str | None = None) -> Any:
    """GET a recstream API's JSON (with `token` as the bearer, for what read protection guards)."""
    request = urllib.request.Request(url, headers={"Authorization": f"Bearer {token}"} if token else {})
    try:
        with urllib.request.urlopen(request, timeout=timeout) as r:
            return json.loads(r.read())
    except urllib.error.HTTPError as exc:
        raise RecstreamError(f"{url} answered {exc.code}: {exc.read().decode(errors='replace')}") from None
    except (urllib.error.URLError, OSError) as exc:
        raise RecstreamError(f"no recstream API at {url} ({exc}): is `recstream worker` running?") from None
