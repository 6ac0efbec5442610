"""Read the visitor's current persona as the persona worker last stored it in Redis."""

from __future__ import annotations

import logging
from typing import Any

import orjson
import redis.asyncio as aioredis

from server.bootstrap import Services

log = logging.getLogger(__name__)

UNKNOWN_PERSONA: dict[str, Any] = {
    "persona": "unknown",
    "confidence": 0.0,
    "reasons": [],
    "model_version": None,
}


async def current_persona(services: Services, vid: str) -> dict[str, Any]:
    """Return {persona, confidence, reasons, model_version}; "unknown" when none yet."""
    try:
        raw = await services.redis.get(services.key("persona", vid))
    except (aioredis.RedisError, OSError):
        log.warning("redis unavailable; persona unknown", exc_info=True)
        return dict(UNKNOWN_PERSONA)
    if not raw:
        return dict(UNKNOWN_PERSONA)
    return {**UNKNOWN_PERSONA, **orjson.loads(raw)}
