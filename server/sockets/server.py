"""The Socket.IO server: orjson for packets, Redis-backed rooms so processes can scale out."""

from __future__ import annotations

from typing import Any

import orjson
import socketio


class OrjsonPackets:
    """The `json` module python-socketio calls, backed by orjson (1.5–3× faster here)."""

    @staticmethod
    def dumps(obj: Any, **_: Any) -> str:
        return orjson.dumps(obj).decode()

    @staticmethod
    def loads(data: str | bytes, **_: Any) -> Any:
        return orjson.loads(data)


def create_socket_server(redis_url: str | None, channel: str) -> socketio.AsyncServer:
    """Build the AsyncServer; with a Redis URL, rooms are shared by every server process."""
    manager = (
        socketio.AsyncRedisManager(redis_url, channel=channel) if redis_url is not None else None
    )
    return socketio.AsyncServer(
        async_mode="asgi",
        client_manager=manager,
        json=OrjsonPackets,
        ping_interval=25,
        ping_timeout=20,
        max_http_buffer_size=1_000_000,
        logger=False,
        engineio_logger=False,
    )
