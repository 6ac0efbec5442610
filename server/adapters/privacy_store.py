"""ConsentStore: each visitor's consent as a record in MongoDB and a flag in Redis.

The record (`visitor_prefs`, keyed by vid) is what the shop can show later: the choice,
its time and where it was made. The flag (`consent:<vid>`, one short string) is what the
workers check before they push a persona or an adaptation, without touching MongoDB.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable
from datetime import UTC, datetime
from typing import Any

import redis.asyncio as aioredis

from server.adapters.audit_store import AUDIT_LOG
from server.adapters.mongo_store import MongoStore, RetentionRule
from server.adapters.redis_keys import CONSENT, RedisKeys, ttl_of
from server.adapters.shop_store import CARTS, EXPERIMENT_TRIGGERS, EXPOSURES
from server.domain.consent import ERASED_FLAG, Choice, Default
from server.settings import Settings

log = logging.getLogger(__name__)

VISITOR_PREFS = "visitor_prefs"
HISTORY_KEPT = 20  # earlier choices kept in the record, newest last
FLAG_TTL_S = ttl_of(CONSENT)  # as long as a browser keeps the cookie at most


def privacy_retention(settings: Settings) -> list[RetentionRule]:
    """Rules for the collections the other stores' rules leave out."""
    days = settings.retention
    return [
        RetentionRule(VISITOR_PREFS, "at", days.consent_days),
        # Exposures and triggers are the experiment's units, like experiment_visitors: kept as
        # aggregates.
        RetentionRule(EXPOSURES, "at", days.aggregates_days),
        RetentionRule(EXPERIMENT_TRIGGERS, "at", days.aggregates_days),
        RetentionRule(AUDIT_LOG, "at", days.audit_days),
        RetentionRule(CARTS, "updated_at", days.carts_days),
    ]


class ConsentStore:
    def __init__(
        self, store: MongoStore, redis: aioredis.Redis, keys: RedisKeys | str, default: Default
    ) -> None:
        self.prefs = store[VISITOR_PREFS]
        self.redis = redis
        self.keys = keys if isinstance(keys, RedisKeys) else RedisKeys(keys)
        self.default = default

    def flag_key(self, vid: str) -> str:
        return self.keys.consent_flag(vid)

    async def record(self, vid: str, choice: Choice, where: str) -> None:
        """Keep the choice in MongoDB (with its history) and set the visitor's flag."""
        entry = {
            "analytics": choice.analytics,
            "personalization": choice.personalization,
            "at": datetime.fromtimestamp(choice.at, UTC),
            "where": where,
        }
        # Flag first: a worker must stop pushing as soon as the visitor says no.
        await self.redis.set(self.flag_key(vid), choice.encode(), ex=FLAG_TTL_S)
        await self.prefs.update_one(
            {"_id": vid},
            {
                "$set": {"consent": entry, "at": entry["at"]},
                "$push": {"consent_history": {"$each": [entry], "$slice": -HISTORY_KEPT}},
            },
            upsert=True,
        )

    async def restore_flag(self, vid: str, choice: Choice) -> None:
        """Put back a flag Redis lost (a restart without its data), from the visitor's cookie."""
        try:
            await self.redis.set(self.flag_key(vid), choice.encode(), ex=FLAG_TTL_S, nx=True)
        except (aioredis.RedisError, OSError):
            log.warning("could not restore a consent flag", exc_info=True)

    async def mark_erased(self, vid: str) -> None:
        """After an erasure, no earlier choice counts: the visitor is asked again."""
        await self.redis.set(self.flag_key(vid), ERASED_FLAG, ex=FLAG_TTL_S)

    async def flags(self, vids: Iterable[str]) -> dict[str, str | None]:
        ordered = sorted(set(vids))
        if not ordered:
            return {}
        raw = await self.redis.mget([self.flag_key(vid) for vid in ordered])
        return {
            vid: value.decode() if isinstance(value, bytes) else value
            for vid, value in zip(ordered, raw, strict=True)
        }

    async def flag(self, vid: str) -> str | None:
        return (await self.flags([vid]))[vid]

    def _allows(self, flag: str | None, what: str) -> bool:
        if flag is None:
            return self.default == "granted"
        choice = Choice.decode(flag)
        return choice is not None and bool(getattr(choice, what))

    async def personalization_allowed(self, vid: str) -> bool:
        """The cheap check before a persona push or an adaptation (fails closed)."""
        try:
            return self._allows(await self.flag(vid), "personalization")
        except (aioredis.RedisError, OSError):
            return False

    async def analytics_revoked(self, vid: str) -> bool:
        """True when the visitor has since declined analytics, or was erased.

        No flag is not a revocation: whoever let the connection in already read the cookie.
        """
        flag = await self.flag(vid)
        if flag is None:
            return False
        choice = Choice.decode(flag)
        return choice is None or not choice.analytics

    async def record_of(self, vid: str) -> dict[str, Any] | None:
        doc: dict[str, Any] | None = await self.prefs.find_one({"_id": vid})
        return doc
