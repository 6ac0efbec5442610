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

from personas_engine.vocabulary import PERSONAS
from server.adapters.shop_store import EXPERIMENT_TRIGGERS, EXPOSURES
from server.container import Services
from server.domain.adaptations import (
    PERSONAL_COUPON_PERCENT,
    adaptations_for,
    page_kind,
    qualification,
)
from server.domain.errors import VitrineError
from server.domain.experiments import assign_arm
from server.domain.rooms import TRACK_NAMESPACE, visitor_room
from server.services.live import PersonaChange
from server.services.personas import current_persona, viewed_categories

log = logging.getLogger(__name__)


async def opted_out(services: Services, vid: str, *, allowed: bool | None = None) -> bool:
    """Whether the visitor gets no adaptation: opted out, or no personalization consent.

    `allowed` is the consent the caller already resolved (a request for this very visitor
    knows its cookie and its DNT/GPC headers: server/web/privacy_api.py); without it, the
    consent record decides (a worker's case).
    """
    if allowed is None:
        allowed = await services.privacy.consent.personalization_allowed(vid)
    if not allowed:
        return True  # no personalization consent (or DNT / GPC): as good as opted out
    try:
        return await services.visitor_state.opted_out(vid)
    except (aioredis.RedisError, OSError):
        return False


async def set_opt_out(services: Services, vid: str, value: bool) -> None:
    """Persist the visitor's choice (Redis for the hot path, MongoDB as the record)."""
    await services.visitor_state.set_opted_out(vid, value)
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
    seen = set(await viewed_categories(services, vid))
    categories = await services.catalog.categories()
    return [
        {"slug": c["slug"], "name": c["name"], "href": f"/catalog?category={c['slug']}"}
        for c in categories
        if c["slug"] not in seen
    ][:4]


async def build_adaptations(
    services: Services, vid: str, persona: str, arm: str, *, opted: bool
) -> list[dict[str, Any]]:
    """Return [{name, payload}] for the visitor (empty for control, opt-out, unknown or A/A).

    `opted` is the visitor's `opted_out()`.
    """
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
    marks = services.visitor_state
    ttl_s = services.settings.retention.aggregates_days * 86_400
    try:
        if not await marks.mark_triggered(vid, ttl_s):
            return  # qualified before: its trigger is kept as it was
    except (aioredis.RedisError, OSError):
        return
    doc = {"_id": vid, "vid": vid, "sid": session_id, "at": datetime.now(UTC),
           "persona": persona, "arm": arm, "adaptations": names, "path": path,
           "mode": services.settings.experiments.mode}  # fmt: skip
    queued = 0
    with contextlib.suppress(aioredis.RedisError, OSError):
        queued = await services.pipeline.write_queue.append(EXPERIMENT_TRIGGERS, doc)
    if queued != 1:  # not queued (backlog full, Redis away): the next qualification tries again
        with contextlib.suppress(aioredis.RedisError, OSError):
            await marks.unmark_triggered(vid)


async def log_exposures(
    services: Services, vid: str, session_id: str, persona: str, arm: str,
    names: list[str], path: str, *, counterfactual: bool = False,
) -> None:  # fmt: skip
    """Record each adaptation shown (or, `counterfactual`, due but not shown) once per visit."""
    if not names:
        return
    try:
        first_time = await services.visitor_state.mark_exposed(session_id, names)
    except (aioredis.RedisError, OSError):
        return
    now = datetime.now(UTC)
    queue = services.pipeline.write_queue
    for name, new in zip(names, first_time, strict=True):
        if new:  # once per visit and adaptation: that is also its id
            doc = {"_id": f"{session_id}:{name}", "vid": vid, "sid": session_id, "at": now,
                   "adaptation": name, "persona": persona, "arm": arm, "path": path}  # fmt: skip
            if counterfactual:
                doc["counterfactual"] = True
            with contextlib.suppress(aioredis.RedisError, OSError):
                await queue.append(EXPOSURES, doc)


async def missed_pushes(
    services: Services, vid: str, shown: str, personalization: bool
) -> list[tuple[str, dict[str, Any]]]:
    """The `persona` and `adapt` pushes a page that connects now has missed, as (event, data).

    A page opens its socket on its first send, about a second after loading, and a persona
    decided in that second was pushed to nobody: a hurried shopper at the checkout would never
    see express checkout. `shown` is the persona the page shows; nothing is sent when it is
    current. Qualification was logged when the persona changed, so it is not logged again.
    """
    if not personalization:
        return []
    current = await current_persona(services, vid)
    persona = str(current.get("persona", ""))
    if persona not in PERSONAS or persona == shown:
        return []
    messages: list[tuple[str, dict[str, Any]]] = [("persona", current)]
    settings = services.settings.experiments
    arm = assign_arm(vid, settings.holdout_fraction, settings.force_arm)
    opted = await opted_out(services, vid, allowed=personalization)
    adaptations = await build_adaptations(services, vid, persona, arm, opted=opted)
    if adaptations:
        reasons = current.get("reasons", [])
        messages.append(("adapt", {"persona": persona, "reasons": reasons,
                                   "adaptations": adaptations}))  # fmt: skip
    return messages


class AdaptationPusher:
    """A persona worker listener: push the adaptations of the new persona to the pages.

    Sends `adapt` (treatment, not opted out, mode "ab") and logs qualifying in either arm.
    """

    def __init__(self, services: Services, notifier: Any) -> None:
        self.services = services
        self.notifier = notifier

    async def __call__(self, change: PersonaChange) -> None:
        vid, payload = change.vid, change.payload
        settings = self.services.settings.experiments
        arm = assign_arm(vid, settings.holdout_fraction, settings.force_arm)
        persona = payload["persona"]
        opted = await opted_out(self.services, vid)
        # Empty for control visitors and in A/A mode: they are predicted and logged, never adapted.
        adaptations = await build_adaptations(self.services, vid, persona, arm, opted=opted)
        if adaptations:
            await self.notifier.emit(
                "adapt",
                {"persona": persona, "reasons": payload.get("reasons", []),
                 "adaptations": adaptations},
                room=visitor_room(vid),
                namespace=TRACK_NAMESPACE,
            )  # fmt: skip
        await record_qualification(
            self.services, vid, change.sid, persona, arm, change.path,
            opted=opted, built=[a["name"] for a in adaptations],
        )  # fmt: skip
