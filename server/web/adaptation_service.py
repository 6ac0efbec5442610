"""Build a visitor's adaptations with their payloads; log qualifications, exposures, triggers.

Qualifying (server/domain/adaptations.py) is logged in both arms: a treatment visitor's
exposures are what it was shown, a control visitor's (and everybody's in A/A mode) are
counterfactual, "would have shown X". A visitor's first qualification is its experiment
trigger, stored once (`experiment_triggers`, `_id` = vid): the persona it is analysed under.
"""

from __future__ import annotations

import contextlib
import logging
from collections.abc import Sequence
from datetime import UTC, datetime
from typing import Any

import redis.asyncio as aioredis

from server.adapters.shop_store import EXPERIMENT_TRIGGERS, EXPOSURES
from server.bootstrap import Services
from server.domain.adaptations import (
    PERSONAL_COUPON_PERCENT,
    adaptations_for,
    page_kind,
    qualification,
)
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
    services: Services, vid: str, persona: str, arm: str, *, opted: bool | None = None
) -> list[dict[str, Any]]:
    """Return [{name, payload}] for the visitor (empty for control, opt-out, unknown or A/A).

    `opted` is the visitor's `opted_out()` when the caller already has it.
    """
    if opted is None:
        opted = await opted_out(services, vid)
    chosen = adaptations_for(persona, arm, opted, services.settings.experiments.mode)
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


async def record_qualification(
    services: Services, vid: str, session_id: str, persona: str, arm: str, path: str,
    *, opted: bool, built: Sequence[str] = (),
) -> list[str]:  # fmt: skip
    """Log that the visitor qualifies on this page (if it does), in either arm.

    An adapted visitor (treatment in "ab") is exposed to those of `built`, the adaptations
    it really got, that this page shows; any other visitor gets a counterfactual exposure
    for each one it would have been shown. Returns the exposures' adaptation names.
    """
    mode = services.settings.experiments.mode
    found = qualification(persona, page_kind(path), arm, opted, mode)
    if found is None or not vid:
        return []
    await _record_trigger(services, vid, session_id, persona, arm, list(found.names), path)
    names = [name for name in found.names if name in built] if found.adapted else list(found.names)
    await log_exposures(
        services, vid, session_id, persona, arm, names, path, counterfactual=found.counterfactual
    )
    return names


async def _record_trigger(
    services: Services, vid: str, session_id: str, persona: str, arm: str,
    names: list[str], path: str,
) -> None:  # fmt: skip
    """Store the visitor's first qualification, once: the mark decides who is first."""
    mark = services.key("triggered", vid)
    ttl_s = services.settings.retention.aggregates_days * 86_400
    try:
        if not await services.redis.set(mark, "1", nx=True, ex=ttl_s):
            return  # qualified before: its trigger is kept as it was
    except (aioredis.RedisError, OSError):
        return
    doc = {"_id": vid, "vid": vid, "sid": session_id, "at": datetime.now(UTC),
           "persona": persona, "arm": arm, "adaptations": names, "path": path,
           "mode": services.settings.experiments.mode}  # fmt: skip
    queued = 0
    with contextlib.suppress(aioredis.RedisError, OSError):
        queued = await services.extras["write_queue"].append(EXPERIMENT_TRIGGERS, doc)
    if queued != 1:  # not queued (backlog full, Redis away): the next qualification tries again
        with contextlib.suppress(aioredis.RedisError, OSError):
            await services.redis.delete(mark)


async def log_exposures(
    services: Services, vid: str, session_id: str, persona: str, arm: str,
    names: list[str], path: str, *, counterfactual: bool = False,
) -> None:  # fmt: skip
    """Record each adaptation shown (or, `counterfactual`, due but not shown) once per visit."""
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
            if counterfactual:
                doc["counterfactual"] = True
            with contextlib.suppress(aioredis.RedisError, OSError):
                await queue.append(EXPOSURES, doc)
