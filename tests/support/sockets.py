"""Socket.IO clients as a page's tracker or the admin console opens them (websocket only)."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

import socketio


async def connect(
    url: str,
    cookie: str,
    namespace: str = "/track",
    *,
    on: Mapping[str, Callable[[Any], Any]] | None = None,
) -> socketio.AsyncClient:
    """Connect to `namespace` with this Cookie header; `on` handlers are set before connecting,
    so no push sent right after the handshake is missed. The client never reconnects."""
    client = socketio.AsyncClient(reconnection=False)
    for event, handler in (on or {}).items():
        client.on(event, handler, namespace=namespace)
    await client.connect(url, namespaces=[namespace], transports=["websocket"],
                         headers={"Cookie": cookie})  # fmt: skip
    return client
