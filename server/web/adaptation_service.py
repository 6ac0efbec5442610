"""Build a visitor's adaptations with their payloads, and log each exposure once per visit."""

from __future__ import annotations

import contextlib
import logging
from datetime import UTC, datetime
from typing import Any

import redis.asyncio as aioredis

from server.adapters.shop_store import EXPOSURES
from server.bootstrap import Services
from server.domain.adaptations import PERSONAL_COUPON_PERCENT, adaptations_for
from server.domain.errors import VitrineError
from server.web.privacy_api import personalization_allowed

log = logging.getLogger(__name__)

EXPOSURE_MARK_TTL_S = 6 * 3600


async def opted_out(services: Services, vid: str) -> bool:
    if not await personalization_allowed(services, vid):
        return True  # no personalization consent (or DNT / GPC): as good as opted out
    try:
        return bool(await services.redis.exists(services.key("optout", vid)))
    except (aioredis.RedisError, OSError):
        return False


async def set_opt_out(services: Services, vid: str, value: bool) -> None:
    """Persist the visitor's choice (Redis for the hot path, MongoDB as the record)."""
    if value:
        await services.redis.set(services.key("optout", vid), "1")
    else:
        await services.redis.delete(services.key("optout", vid))
    await services.store["visitor_prefs"].update_one(
        {"_id": vid}, {"$set": {"personalization_opt_out": value, "at": datetime.now(UTC)}},
        upsert=True,
    )  # fmt: skip


async def _coupon_payload(services: Services, vid: str) -> dict[str, Any]:
    coupon = await services.coupons.personal_for(vid)
    if coupon is None:
        coupon = await services.coupons.issue_personal(vid, PERSONAL_COUPON_PERCENT)
    return {
        "code": coupon.code,
        "percent_off": coupon.percent_off,
        "valid_until": coupon.valid_until.date().isoformat(),
    }


async def _unseen_categories(services: Services, vid: str) -> list[dict[str, str]]:
    seen: set[str] = set()
    states = services.extras.get("persona_states")
    if states is not None:
        session_id = await states.current_session(vid)
        if session_id:
            seen = set((await states.load([session_id]))[session_id].features.categories)
    categories = await services.catalog.categories()
    return [
        {"slug": c["slug"], "name": c["name"], "href": f"/catalog?category={c['slug']}"}
        for c in categories
        if c["slug"] not in seen
    ][:4]


async def build_adaptations(
    services: Services, vid: str, persona: str, arm: str
) -> list[dict[str, Any]]:
    """Return [{name, payload}] for the visitor (empty for control, opt-out or unknown)."""
    chosen = adaptations_for(persona, arm, await opted_out(services, vid))
    built: list[dict[str, Any]] = []
    for adaptation in chosen:
        payload: dict[str, Any] = {"pages": list(adaptation.pages)}
        try:
            if adaptation.name == "coupon":
                payload |= await _coupon_payload(services, vid)
            elif adaptation.name == "discover-more":
                payload["categories"] = await _unseen_categories(services, vid)
            elif adaptation.name == "tutorial":
                payload["href"] = "/tutorials"
            elif adaptation.name == "express-checkout":
                payload["href"] = "/checkout?express=1"
        except (VitrineError, aioredis.RedisError, OSError):
            log.warning("adaptation %s skipped", adaptation.name, exc_info=True)
            continue
        built.append({"name": adaptation.name, "payload": payload})
    return built


async def log_exposures(
    services: Services, vid: str, session_id: str, persona: str, arm: str,
    names: list[str], path: str,
) -> None:  # fmt: skip
    """Record each adaptation shown to a visitor once per visit."""
    if not names:
        return
    try:
        async with services.redis.pipeline(transaction=False) as pipe:
            for name in names:
                pipe.set(services.key("exposed", session_id, name), "1", nx=True,
                         ex=EXPOSURE_MARK_TTL_S)  # fmt: skip
            first_time = await pipe.execute()
    except (aioredis.RedisError, OSError):
        return
    now = datetime.now(UTC)
    queue = services.extras["write_queue"]
    for name, new in zip(names, first_time, strict=True):
        if new:  # once per visit and adaptation: that is also its id
            doc = {"_id": f"{session_id}:{name}", "vid": vid, "sid": session_id, "at": now,
                   "adaptation": name, "persona": persona, "arm": arm, "path": path}  # fmt: skip
            with contextlib.suppress(aioredis.RedisError, OSError):
                await queue.append(EXPOSURES, doc)
