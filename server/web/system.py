"""Health and the current visitor."""

from __future__ import annotations

import asyncio
from typing import Any

import redis.asyncio as aioredis
from quart import Blueprint, g

from server.web.common import json_response, services, visitor
from server.web.personas_view import current_persona

blueprint = Blueprint("system", __name__)


async def _redis_ok() -> bool:
    try:
        return bool(await asyncio.wait_for(services().redis.ping(), 2.0))
    except (aioredis.RedisError, OSError, TimeoutError):
        return False


@blueprint.get("/healthz")
async def healthz() -> Any:
    shop = services()
    mongo_ok, redis_ok = await asyncio.gather(shop.store.ping(), _redis_ok())
    workers = {
        name: ("running" if not task.done() else "stopped")
        for name, task in ((task.get_name(), task) for task in shop.tasks)
    }
    report: dict[str, Any] = {
        "status": "ok" if mongo_ok and redis_ok else "degraded",
        "mongodb": {"ok": mongo_ok, "engine": "embedded" if shop.store.embedded else "mongodb"},
        "redis": {"ok": redis_ok, "embedded": shop.valkey is not None},
        "workers": workers,
        "ingest": shop.extras["ingest"].snapshot(),
        "connections": getattr(shop.extras.get("track"), "connections", 0),
    }
    if "flusher" in shop.extras:
        report["flusher"] = {
            **shop.extras["flusher"].stats.snapshot(),
            "write_ops": shop.extras["events"].write_ops,  # MongoDB writes (make bench)
        }
    if redis_ok:
        try:
            report["stream"] = await shop.extras["buffer"].lag("flusher")
        except (aioredis.RedisError, OSError):
            report["stream"] = None
    return json_response(report, 200 if report["status"] == "ok" else 503)


def identity_csrf() -> str:
    return str(g.get("csrf_token", ""))


@blueprint.get("/api/me")
async def me() -> Any:
    current = visitor()
    persona = await current_persona(services(), current.vid)
    return json_response(
        {
            "vid": current.vid,
            "session_id": current.session_id,
            "persona": persona["persona"],
            "arm": current.arm,
            # Same-origin only (no CORS), so handing the page its own token leaks nothing.
            "csrf_token": identity_csrf(),
        }
    )
