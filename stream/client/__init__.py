"""A typed Python client for a worker's HTTP API, sync (`Client`) and async (`AsyncClient`):

    from recstream.stream.client import Client

    with Client("http://127.0.0.1:6066", producer_token="...") as api:
        api.send_events(behaviour=[{"event_id": "e1", "user_id": "u1", "item_id": "sku-1", "type": "click",
                                    "ts": "2026-12-06T10:00:00Z"}])
        for item in api.recommendations("u1", k=5).items:
            print(item.item_id, item.score)
"""

from recstream.stream.client.calls import ApiError, Unreachable
from recstream.stream.client.clients import AsyncClient, Client, api_get

__all__ = ["calls", "clients", "Client", "AsyncClient", "ApiError", "Unreachable", "api_get"]
