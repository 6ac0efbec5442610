"""Erase one visitor: their events, replays, sessions, predictions, exposures, cart and Redis state.

What stays, and why (docs/privacy.md):
- heatmap bins and scroll depth never held a visitor id: their counts stay as they are;
- the visitor's experiment record, experiment trigger and orders are re-keyed to a random
  pseudonym, so the experiment's counts and the accounts still add up but nothing points
  back to the visitor (the trigger also loses its session id and page path);
  orders lose their personal fields (name, email, street address, city, postcode);
- an audit entry records who erased which visitor id, and when.

Batches still in the Redis stream when the erasure runs are dropped by the flusher and the
persona worker: `erased:<vid>` holds the erasure time, and a batch received before it is
never written. The visitor's aggregates still waiting in Redis (the ledger's session and
visitor hashes, not yet checkpointed) are deleted under the checkpoint lease, so no
checkpoint can write them back; a flush round running meanwhile skips them (the commit
script reads the tombstone) and removes the frames it wrote for them.

Which Redis keys go is not listed here: every family of server/adapters/redis_keys.py whose
erasure rule is "by vid", "for each session" or "for each page view" is deleted, for the
visitor's sessions and page views as the stored documents and the visit key name them.
"""

from __future__ import annotations

import asyncio
import secrets
import time
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import redis.asyncio as aioredis

from server.adapters.aggregate_ledger import RedisAggregateLedger
from server.adapters.audit_store import AuditStore
from server.adapters.event_store import CHUNKS, EXPERIMENT_VISITORS, FRAMES, SESSIONS
from server.adapters.mongo_store import IndexSpec, MongoStore
from server.adapters.persona_store import PERSONA_HISTORY
from server.adapters.privacy_store import VISITOR_PREFS, ConsentStore
from server.adapters.redis_keys import ERASED, RedisKeys, ttl_of
from server.adapters.replay_store import REPLAY_CHUNKS
from server.adapters.shop_store import CARTS, COUPONS, EXPERIMENT_TRIGGERS, EXPOSURES, ORDERS
from server.pipeline.ledger import frame_chunks

VISITOR_ERASE = "visitor.erase"  # the audit action
ERASED_VALUE = "[erased]"
# Shipping fields that name or locate a person; the country stays for the accounts (VAT).
PERSONAL_ORDER_FIELDS = ("name", "email", "address", "city", "zip")
# What of a trigger points to the visit; the rest (persona, arm, time) stays for the counts.
TRIGGER_PERSONAL_FIELDS = ("sid", "path")
TOMBSTONE_TTL_S = ttl_of(ERASED)  # longer than any backlog the stream could hold
LEASE_WAIT_S = 30.0  # erasure waits this long for a running checkpoint to finish
# Erasure reads a visitor's replay chunks by vid; the other collections have their index.
ERASURE_INDEXES = (IndexSpec(REPLAY_CHUNKS, [("vid", 1)]),)


@dataclass
class ErasureReport:
    vid: str
    pseudonym: str
    deleted: dict[str, int] = field(default_factory=dict)
    anonymised: dict[str, int] = field(default_factory=dict)
    redis_keys: int = 0

    def to_dict(self) -> dict[str, Any]:
        return {
            "deleted": self.deleted,
            "anonymised": self.anonymised,
            "redis_keys": self.redis_keys,
        }


async def erased_at(
    redis: aioredis.Redis, keys: RedisKeys | str, vids: Iterable[str]
) -> dict[str, int]:
    """Erasure times (epoch ms) of those of `vids` erased in the last days."""
    ordered = sorted(set(vids))
    if not ordered:
        return {}
    registry = keys if isinstance(keys, RedisKeys) else RedisKeys(keys)
    raw = await redis.mget([registry.erased(vid) for vid in ordered])
    return {vid: int(value) for vid, value in zip(ordered, raw, strict=True) if value}


class Eraser:
    def __init__(
        self,
        store: MongoStore,
        redis: aioredis.Redis,
        keys: RedisKeys | str,
        consent: ConsentStore,
        audit: AuditStore,
        ledger: RedisAggregateLedger,
    ) -> None:
        self.ledger = ledger
        self.store = store
        self.redis = redis
        self.keys = keys if isinstance(keys, RedisKeys) else RedisKeys(keys)
        self.consent = consent
        self.audit = audit

    async def erase(
        self, vid: str, actor: dict[str, str], *, ip: str | None = None
    ) -> ErasureReport:
        """Erase everything about `vid` (idempotent); `actor` is who asked, for the audit."""
        report = ErasureReport(vid=vid, pseudonym="erased-" + secrets.token_hex(8))
        # First stop anything new from being written for this visitor.
        await self.redis.set(self.keys.erased(vid), int(time.time() * 1000), ex=TOMBSTONE_TTL_S)
        await self.consent.mark_erased(vid)
        token = await self._checkpoint_lease()
        try:
            sids, pvids = await self._visits_and_page_views(vid)
            keys = self.keys.of_visitor(vid, sids, pvids)
            # The ledger first: what was never checkpointed goes, and nothing comes back.
            report.redis_keys = await self.ledger.forget(keys.ledger())
            await self._delete_documents(vid, report)
            await self._anonymise(vid, report)
            report.redis_keys += await self._delete_keys(keys.others())
        finally:
            if token is not None:
                await self.ledger.unlock(token)
        await self.audit.record(actor, VISITOR_ERASE, vid, ip=ip)
        return report

    async def _checkpoint_lease(self) -> str | None:
        """Hold off checkpoints while erasing (None if one ran too long: erase anyway)."""
        deadline = time.monotonic() + LEASE_WAIT_S
        while time.monotonic() < deadline:
            token = await self.ledger.lock(int(LEASE_WAIT_S * 2000))
            if token is not None:
                return token
            await asyncio.sleep(0.05)
        return None

    async def erased_at(self, vids: Iterable[str]) -> dict[str, int]:
        """For the workers: which of these visitors were erased, and when (epoch ms)."""
        return await erased_at(self.redis, self.keys, vids)

    async def _visits_and_page_views(self, vid: str) -> tuple[set[str], set[str]]:
        """The visitor's session and page view ids, from everything that names them."""
        sids = {
            str(doc["_id"]) async for doc in self.store[SESSIONS].find({"vid": vid}, {"_id": 1})
        }
        pvids: set[str] = set()
        # Replay chunks too: a page view may have a replay (its rseen: mark) and no events.
        for name in (CHUNKS, REPLAY_CHUNKS):
            async for doc in self.store[name].find({"vid": vid}, {"sid": 1, "pvid": 1}):
                sids.add(str(doc.get("sid")))
                pvids.add(str(doc.get("pvid")))
        async for frame in self.store[FRAMES].find({"vid": vid}):
            sids.add(str(frame["sid"]))
            pvids.update(chunk["pvid"] for chunk in frame_chunks(frame))
        # Exposures and the trigger name visits that sent no events (no analytics consent).
        async for doc in self.store[EXPOSURES].find({"vid": vid}, {"sid": 1}):
            sids.add(str(doc.get("sid")))
        trigger = await self.store[EXPERIMENT_TRIGGERS].find_one({"_id": vid}, {"sid": 1})
        if trigger is not None and trigger.get("sid"):
            sids.add(str(trigger["sid"]))
        current = await self.redis.get(self.keys.visit(vid))
        if current:
            sids.add(current.decode() if isinstance(current, bytes) else current)
        return sids - {"None"}, pvids - {"None"}

    async def _delete_documents(self, vid: str, report: ErasureReport) -> None:
        by_vid = (FRAMES, CHUNKS, SESSIONS, PERSONA_HISTORY, REPLAY_CHUNKS, EXPOSURES)
        for name in by_vid:
            result = await self.store[name].delete_many({"vid": vid})
            report.deleted[name] = int(result.deleted_count)
        for name in (CARTS, VISITOR_PREFS):
            result = await self.store[name].delete_many({"_id": vid})
            report.deleted[name] = int(result.deleted_count)

    async def _anonymise(self, vid: str, report: ErasureReport) -> None:
        pseudonym = report.pseudonym
        visitors = self.store[EXPERIMENT_VISITORS]
        record = await visitors.find_one({"_id": vid})
        moved = 0
        if record is not None:
            # Same arm, persona and dates under a pseudonym: the experiment keeps its counts.
            await visitors.insert_many([{**record, "_id": pseudonym, "erased": True}])
            await visitors.delete_many({"_id": vid})
            moved = 1
        report.anonymised[EXPERIMENT_VISITORS] = moved
        report.anonymised[EXPERIMENT_TRIGGERS] = await self._move_trigger(vid, pseudonym)
        now = datetime.now(UTC)
        erased_fields: dict[str, Any] = {
            f"shipping.{name}": ERASED_VALUE for name in PERSONAL_ORDER_FIELDS
        }
        result = await self.store[ORDERS].update_many(
            {"vid": vid},
            {"$set": {**erased_fields, "vid": pseudonym, "session_id": None, "anonymised_at": now}},
        )
        report.anonymised[ORDERS] = int(result.modified_count)
        # Personal coupons: kept (an order may name one) but no longer tied to the visitor.
        result = await self.store[COUPONS].update_many(
            {"issued_to": vid}, {"$set": {"issued_to": pseudonym}}
        )
        report.anonymised[COUPONS] = int(result.modified_count)

    async def _move_trigger(self, vid: str, pseudonym: str) -> int:
        """Keep the visitor's first qualification (persona, arm, time) under the pseudonym."""
        triggers = self.store[EXPERIMENT_TRIGGERS]
        trigger = await triggers.find_one({"_id": vid})
        if trigger is None:
            return 0
        kept = {k: v for k, v in trigger.items() if k not in TRIGGER_PERSONAL_FIELDS}
        await triggers.insert_many([{**kept, "_id": pseudonym, "vid": pseudonym, "erased": True}])
        await triggers.delete_many({"_id": vid})
        return 1

    async def _delete_keys(self, keys: list[str]) -> int:
        deleted = 0
        for start in range(0, len(keys), 500):
            deleted += int(await self.redis.delete(*keys[start : start + 500]))
        return deleted
