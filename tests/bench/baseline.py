"""The bare baseline: python-socketio under Hypercorn whose `batch` handler only acknowledges.

Same transport settings as `python -m server run` (orjson packets, websocket, Hypercorn
backlog, no websocket pings), nothing else: no cookie check, no validation, no Redis. Our
ingest figure divided by this one is what the pipeline costs on top of Socket.IO itself.
`python -m tests.bench.baseline --port 5001`
"""

from __future__ import annotations

import argparse
import asyncio
import signal
from typing import Any

import socketio
from hypercorn.asyncio import serve
from hypercorn.config import Config

from server.sockets.server import OrjsonPackets


async def health_app(scope: dict[str, Any], receive: Any, send: Any) -> None:
    if scope["type"] == "lifespan":
        while True:
            message = await receive()
            if message["type"] == "lifespan.startup":
                await send({"type": "lifespan.startup.complete"})
            elif message["type"] == "lifespan.shutdown":
                await send({"type": "lifespan.shutdown.complete"})
                return
    await send({"type": "http.response.start", "status": 200,
                "headers": [(b"content-type", b"application/json")]})  # fmt: skip
    await send({"type": "http.response.body", "body": b'{"status": "ok"}'})


def build() -> socketio.ASGIApp:
    sio = socketio.AsyncServer(
        async_mode="asgi", json=OrjsonPackets, ping_interval=25, ping_timeout=20,
        max_http_buffer_size=1_000_000, logger=False, engineio_logger=False,
    )  # fmt: skip

    async def batch(sid: str, data: Any) -> dict[str, Any]:
        return {"ok": True, "seq": data.get("seq") if isinstance(data, dict) else None}

    sio.on("batch", batch, namespace="/track")
    sio.on("connect", lambda sid, environ, auth=None: True, namespace="/track")
    return socketio.ASGIApp(sio, other_asgi_app=health_app)


async def main(port: int) -> None:
    config = Config()
    config.bind = [f"127.0.0.1:{port}"]
    config.backlog = 2048
    config.accesslog = None
    config.graceful_timeout = 1
    config.websocket_ping_interval = None
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for signum in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(signum, stop.set)
    await serve(build(), config, shutdown_trigger=stop.wait)  # type: ignore[arg-type]


if __name__ == "__main__":
    parser = argparse.ArgumentParser(prog="python -m tests.bench.baseline")
    parser.add_argument("--port", type=int, required=True)
    asyncio.run(main(parser.parse_args().port))
