"""Flusher: read batches from the stream (consumer group "flusher") and write MongoDB in bulk.

Each round: read → insert chunks (a batch seen twice is a duplicate key, skipped) →
write summaries, heatmap bins and scroll depth for chunks not aggregated yet → mark
them aggregated → XACK. A crash anywhere before XACK leaves the entries pending;
another consumer claims them (XAUTOCLAIM) and the same steps skip what is done.
"""

from __future__ import annotations

import asyncio
import logging
import os
import socket
import time
from collections import defaultdict
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import orjson
import redis.asyncio as aioredis
from pymongo.errors import PyMongoError

from server.adapters.event_store import MongoEventStore
from server.adapters.redis_buffer import RedisEventBuffer, StreamEntry
from server.pipeline.aggregate import (
    FlushPlan,
    StreamedBatch,
    Update,
    plan_aggregates,
    plan_chunks,
)

log = logging.getLogger(__name__)

GROUP = "flusher"
# (the round's plan, scroll-depth increments per document) -> e.g. a live heatmap push
OnFlushed = Callable[[FlushPlan, dict[str, dict[int, int]]], Awaitable[None]]
# visitor ids -> those erased, with the erasure time in epoch ms (docs/privacy.md)
ErasedAt = Callable[[set[str]], Awaitable[dict[str, int]]]
MAX_BACKOFF_S = 5.0
MAX_ROUND = 2000  # entries in one round when the stream is behind


def consumer_name(role: str) -> str:
    return f"{role}-{socket.gethostname()}-{os.getpid()}-{id(object()) % 10_000}"


def decode_entry(entry: StreamEntry) -> StreamedBatch:
    """Decode the stream payload written by ingest."""
    data = orjson.loads(entry.payload)
    return StreamedBatch(
        entry_id=entry.entry_id,
        batch=data["batch"],
        received_ms=data["rt"],
        arm=data["arm"],
    )


@dataclass
class FlusherStats:
    rounds: int = 0
    batches: int = 0
    events: int = 0
    duplicates: int = 0
    errors: int = 0
    last_round_ms: float = 0.0
    last_flush_at: float = 0.0
    per_kind: dict[str, int] = field(default_factory=dict)

    def snapshot(self) -> dict[str, Any]:
        return {
            "rounds": self.rounds,
            "batches": self.batches,
            "events": self.events,
            "duplicates": self.duplicates,
            "errors": self.errors,
            "last_round_ms": round(self.last_round_ms, 1),
            "seconds_since_flush": (
                round(time.time() - self.last_flush_at, 1) if self.last_flush_at else None
            ),
        }


class Flusher:
    def __init__(
        self,
        buffer: RedisEventBuffer,
        events: MongoEventStore,
        *,
        persona_key: Any,
        read_count: int = 200,
        block_ms: int = 1000,
        claim_idle_ms: int = 30_000,
        consumer: str | None = None,
    ) -> None:
        self.buffer = buffer
        self.events = events
        self.persona_key = persona_key
        self.read_count = read_count
        self.block_ms = block_ms
        self.claim_idle_ms = claim_idle_ms
        self.consumer = consumer or consumer_name("flusher")
        self.stats = FlusherStats()
        self._viewports: dict[str, int] = {}
        self._visitors_written: dict[str, tuple[str | None, int]] = {}
        # Called after each round with what it added (live heatmaps); failures are logged only.
        self.on_flushed: OnFlushed | None = None
        # Batches of a visitor erased after they were received are dropped, not written.
        self.erased: ErasedAt | None = None

    async def run(self) -> None:
        """Flush until cancelled; errors are logged and retried with capped backoff."""
        await self.buffer.ensure_group(GROUP)
        backoff = 0.1
        last_claim = 0.0
        retry_own = False
        count = self.read_count
        while True:
            try:
                if retry_own:
                    # A failed round left its entries pending on this consumer: write them
                    # first, as soon as the store is back, rather than after claim_idle_ms.
                    mine = await self.buffer.read(
                        GROUP, self.consumer, self.read_count, 0, own_pending=True
                    )
                    if mine:
                        await self.flush(mine)
                    retry_own = len(mine) >= self.read_count
                if time.monotonic() - last_claim > self.claim_idle_ms / 2000:
                    last_claim = time.monotonic()
                    stale = await self.buffer.claim_stale(
                        GROUP, self.consumer, self.claim_idle_ms, self.read_count
                    )
                    if stale:
                        log.warning("claimed %d stale entries", len(stale))
                        await self.flush(stale)
                entries = await self.buffer.read(GROUP, self.consumer, count, self.block_ms)
                if entries:
                    await self.flush(entries)
                # Behind? Read bigger rounds: a session or bin is written once per round,
                # so its cost is shared by more batches (the embedded engine's updates are slow).
                count = min(count * 2, MAX_ROUND) if len(entries) >= count else self.read_count
                backoff = 0.1
            except asyncio.CancelledError:
                raise
            except (aioredis.RedisError, OSError, PyMongoError):
                self.stats.errors += 1
                retry_own = True
                log.warning("flush round failed; retrying in %.1fs", backoff, exc_info=True)
                await asyncio.sleep(backoff)
                backoff = min(backoff * 2, MAX_BACKOFF_S)

    async def _write_visitors(self, updates: dict[str, Update], now: datetime) -> None:
        """Write only visitor records that change: a new visitor, a new persona, or an hour on.

        Without this every round rewrites one record per active shopper for nothing but
        `last_seen`, which retention needs only to the hour.
        """
        hour = int(now.timestamp() // 3600)
        changed: dict[str, Update] = {}
        marks: dict[str, tuple[str | None, int]] = {}
        for vid, update in updates.items():
            known = self._visitors_written.get(vid)
            mark = (update.set.get("persona", known[0] if known else None), hour)
            if known != mark:
                changed[vid], marks[vid] = update, mark
        await self.events.apply(self.events.visitors, changed, now)
        self._visitors_written.update(marks)  # only once written: a failed round retries them
        if len(self._visitors_written) > 200_000:  # bounded: forget the oldest half
            for vid in list(self._visitors_written)[:100_000]:
                del self._visitors_written[vid]

    async def _personas(self, vids: set[str]) -> dict[str, str]:
        ordered = sorted(vids)
        raw = await self.buffer.redis.mget([self.persona_key(vid) for vid in ordered])
        return {
            vid: (orjson.loads(value).get("persona", "unknown") if value else "unknown")
            for vid, value in zip(ordered, raw, strict=True)
        }

    async def flush(self, entries: list[StreamEntry]) -> None:
        """Write one round of entries, then acknowledge them."""
        started = time.perf_counter()
        decoded = [decode_entry(entry) for entry in entries]
        if self.erased is not None:
            erased = await self.erased({item.batch["vid"] for item in decoded})
            decoded = [i for i in decoded if i.received_ms > erased.get(i.batch["vid"], -1)]
            if not decoded:
                await self.buffer.ack(GROUP, [entry.entry_id for entry in entries])
                return
        personas = await self._personas({item.batch["vid"] for item in decoded})
        items = [
            StreamedBatch(i.entry_id, i.batch, i.received_ms, i.arm, personas[i.batch["vid"]])
            for i in decoded
        ]
        duplicates = await self.events.insert_chunks(plan_chunks(items))
        if duplicates:
            # Seen before: aggregate only those whose earlier round died before finishing.
            redo = await self.events.unaggregated(duplicates)
            self.stats.duplicates += len(duplicates) - len(redo)
            items = [i for i in items if i.chunk_id not in duplicates or i.chunk_id in redo]
        plan = plan_aggregates(items, self._viewports)
        now = datetime.now(UTC)
        await self.events.apply(self.events.sessions, plan.sessions, now)
        await self._write_visitors(plan.visitors, now)
        await self.events.apply(self.events.heatmap_bins, plan.heatmap_bins, now)
        scroll = await self._write_scroll(plan.scroll_reached, plan.scroll_meta, now)
        await self.events.mark_aggregated(i.chunk_id for i in items)
        await self.buffer.ack(GROUP, [entry.entry_id for entry in entries])
        self._remember_viewports(items)
        self.stats.rounds += 1
        self.stats.batches += len(items)
        self.stats.events += plan.events
        self.stats.last_round_ms = (time.perf_counter() - started) * 1000
        self.stats.last_flush_at = time.time()
        if self.on_flushed is not None:
            try:
                await self.on_flushed(plan, scroll)
            except Exception:  # the round is stored; a live view missing it is not worth a retry
                log.warning("on_flushed callback failed", exc_info=True)

    async def _write_scroll(
        self, reached: list[tuple[str, str, int]], meta: dict[str, dict[str, Any]], now: datetime
    ) -> dict[str, dict[int, int]]:
        deepest: dict[tuple[str, str], int] = {}
        for doc_id, pvid, bucket in reached:
            deepest[(doc_id, pvid)] = max(bucket, deepest.get((doc_id, pvid), -1))
        marks = list(deepest.items())
        previous = await self.buffer.raise_reach([(pvid, b) for (_, pvid), b in marks])
        increments: dict[str, dict[int, int]] = defaultdict(dict)
        for ((doc_id, _), bucket), old in zip(marks, previous, strict=True):
            for reached_bucket in range(old + 1, bucket + 1):
                counts = increments[doc_id]
                counts[reached_bucket] = counts.get(reached_bucket, 0) + 1
        await self.events.add_scroll_reach(increments, meta, now)
        return increments

    def _remember_viewports(self, items: list[StreamedBatch]) -> None:
        for item in items:
            for event in item.batch["events"]:
                if event["k"] == "page":
                    self._viewports[item.batch["pvid"]] = event["vw"]
        if len(self._viewports) > 100_000:  # bounded: forget the oldest half
            for pvid in list(self._viewports)[:50_000]:
                del self._viewports[pvid]
