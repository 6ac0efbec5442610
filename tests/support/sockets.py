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
    auth: Mapping[str, Any] | None = None,
) -> socketio.AsyncClient:
    """Connect to `namespace` with this Cookie header; `on` handlers are set before connecting,
    so no push sent right after the handshake is missed. The client never reconnects."""
    client = socketio.AsyncClient(reconnection=False)
    for event, handler in (on or {}).items():
        client.on(event, handler, namespace=namespace)
    await client.connect(url, namespaces=[namespace], transports=["websocket"],
                         headers={"Cookie": cookie}, auth=dict(auth) if auth else None)  # fmt: skip
    return client


async def refusal(url: str, headers: dict[str, str]) -> Any:
    """Connect to /track; return the server's connect_error data (None when it let us in)."""
    errors: list[Any] = []
    client = socketio.AsyncClient(reconnection=False)
    client.on("connect_error", errors.append, namespace="/track")
    try:
        await client.connect(url, namespaces=["/track"], transports=["websocket"], headers=headers)
    except socketio.exceptions.ConnectionError:
        return errors[0] if errors else "refused"
    await client.disconnect()
    return None
