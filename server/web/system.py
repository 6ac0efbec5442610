"""Health and the current visitor."""

from __future__ import annotations

import asyncio
from typing import Any

import redis.asyncio as aioredis
from quart import Blueprint, g

from server.services.monitoring import pipeline_state
from server.services.personas import current_persona
from server.web.common import json_response, services, visitor

blueprint = Blueprint("system", __name__)


@blueprint.get("/healthz")
async def healthz() -> Any:
    shop = services()
    mongo_ok, redis_ok = await asyncio.gather(
        shop.store.ping(), shop.pipeline.heartbeat.reachable()
    )
    report: dict[str, Any] = {
        "status": "ok" if mongo_ok and redis_ok else "degraded",
        "mongodb": {"ok": mongo_ok, "engine": "embedded" if shop.store.embedded else "mongodb"},
        "redis": {"ok": redis_ok, "embedded": shop.valkey is not None},
        "tasks": {
            task.get_name(): ("running" if not task.done() else "stopped") for task in shop.tasks
        },
        "ingest": shop.pipeline.ingest.snapshot(),
        "connections": shop.connections.open,
    }
    if shop.worker_process is not None:
        report["worker_process"] = {"restarts": shop.worker_process.restarts}
    if redis_ok:
        try:
            pipeline = await pipeline_state(shop)
        except (aioredis.RedisError, OSError):
            pipeline = None
        if pipeline is not None:
            report.update(
                workers=pipeline["workers"], stream=pipeline["stream"],
                backpressure=pipeline["backpressure"],
            )  # fmt: skip
            if not pipeline["ok"]:
                report["status"] = "degraded"
                report["reasons"] = [
                    f"{name}: {w['reason']}"
                    for name, w in pipeline["workers"].items()
                    if w["stalled"]
                ] + (["backpressure: ingest answers busy"] if pipeline["backpressure"] else [])
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
