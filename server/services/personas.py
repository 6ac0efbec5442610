"""The visitor's persona as the persona worker last stored it, and what its visit has seen."""

from __future__ import annotations

import logging
from typing import Any

import redis.asyncio as aioredis

from server.container import Services

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
        found = await services.personas.states.current(vid)
    except (aioredis.RedisError, OSError):
        log.warning("redis unavailable; persona unknown", exc_info=True)
        return dict(UNKNOWN_PERSONA)
    if not found:
        return dict(UNKNOWN_PERSONA)
    return {**UNKNOWN_PERSONA, **found}


async def viewed_categories(services: Services, vid: str) -> list[str]:
    """The categories the visitor's current visit has seen, in order (from its features)."""
    states = services.personas.states
    session_id = await states.current_session(vid)
    if not session_id:
        return []
    return list((await states.load([session_id]))[session_id].features.categories)
