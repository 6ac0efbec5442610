"""Flusher: consumer group "flusher" on the events stream → raw frames and the aggregate ledger.

A round, and why each step is safe to repeat:
1. read entries (after a crash or an error, first this consumer's own pending entries: the
   same round again, so the same frame ids);
2. insert one compressed frame per session with one `insert_many` (a frame stored before is a
   duplicate key: skipped), and note in Redis which entries are framed, so raw events are
   durable before anything is acknowledged and a retry does not frame them again;
3. in slices of `commit_size` entries, apply the slice's pre-merged aggregates and XACK its
   entries in one Lua call (server/adapters/aggregate_ledger.py): both or neither, and
   neither when another consumer has claimed an entry meanwhile.
MongoDB's aggregate documents come from the checkpointer (server/workers/checkpointer.py).
MongoDB writes per round: one, whatever the number of events in it.
"""

from __future__ import annotations

import asyncio
import logging
import os
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

import orjson

from server.adapters.aggregate_ledger import RedisAggregateLedger
from server.adapters.event_store import MongoEventStore
from server.adapters.redis_buffer import RedisEventBuffer, StreamEntry
from server.domain.frustration import DEFAULT_RULES, FrustrationRules
from server.pipeline.aggregate import FlushPlan, StreamedBatch, plan_aggregates
from server.pipeline.ledger import plan_frames, round_ops
from server.workers.consumer import Heartbeat, Worker, consumer_name

log = logging.getLogger(__name__)

GROUP = "flusher"
PERSONAS_GROUP = "personas"  # best effort: it never holds the stream's trim back for long
# (the round's plan, scroll-depth increments per document) -> e.g. a live heatmap push
OnFlushed = Callable[[FlushPlan, dict[str, dict[int, int]]], Awaitable[None]]
# visitor ids -> those erased, with the erasure time in epoch ms (docs/privacy.md)
ErasedAt = Callable[[set[str]], Awaitable[dict[str, int]]]
# visitor ids -> their current persona
PersonasOf = Callable[[set[str]], Awaitable[dict[str, str]]]
TRIM_EVERY_S = 2.0
# Test-only: exit the process at this step of a round (tests/integration/test_crash_points.py).
CRASH_AT_ENV = "VITRINE_TEST_FLUSHER_CRASH_AT"
# after_insert_frames: frames stored, not yet noted as framed (the retry inserts them again:
# duplicate keys, skipped); after_frames: stored and noted; after_commit: after a slice.
CRASH_POINTS = ("after_insert_frames", "after_frames", "after_commit")


def decode_entry(entry: StreamEntry) -> StreamedBatch:
    """Decode the stream payload written by ingest."""
    data = orjson.loads(entry.payload)
    return StreamedBatch(
        entry_id=entry.entry_id,
        batch=data["batch"],
        received_ms=data["rt"],
        arm=data["arm"],
    )


def crash_point(step: str) -> None:
    """Exit here, as a SIGKILL would, when a test asks for it (never set in production)."""
    wanted = os.environ.get(CRASH_AT_ENV)
    if wanted and wanted == step:
        marker = os.environ.get(CRASH_AT_ENV + "_ONCE")
        if marker:  # crash once: the restarted process must get through
            if os.path.exists(marker):
                return
            open(marker, "w").close()
        os._exit(86)


@dataclass
class FlushCounts:
    flushes: int = 0  # rounds that stored entries
    batches: int = 0
    events: int = 0
    duplicate_frames: int = 0
    conflicts: int = 0  # rounds dropped because another consumer owned an entry
    erased_batches: int = 0
    last_round_ms: float = 0.0
    last_flush_at: float = 0.0

    def snapshot(self) -> dict[str, Any]:
        return {
            "flushes": self.flushes,
            "batches": self.batches,
            "events": self.events,
            "duplicate_frames": self.duplicate_frames,
            "conflicts": self.conflicts,
            "erased_batches": self.erased_batches,
            "last_round_ms": round(self.last_round_ms, 1),
            "seconds_since_flush": (
                round(time.time() - self.last_flush_at, 1) if self.last_flush_at else None
            ),
        }


class Flusher(Worker):
    name = "flusher"

    def __init__(
        self,
        buffer: RedisEventBuffer,
        events: MongoEventStore,
        ledger: RedisAggregateLedger,
        *,
        personas_of: PersonasOf,
        erased: ErasedAt,
        on_flushed: OnFlushed | None = None,
        read_count: int = 200,
        max_round: int = 4000,
        commit_size: int = 250,
        round_every_s: float = 1.0,
        block_ms: int = 1000,
        claim_idle_ms: int = 30_000,
        consumer: str | None = None,
        groups: tuple[str, ...] = (GROUP,),
        heartbeat: Heartbeat | None = None,
        frustration_rules: FrustrationRules = DEFAULT_RULES,
    ) -> None:
        super().__init__(heartbeat=heartbeat)
        self.buffer = buffer
        self.events = events
        self.ledger = ledger
        self.personas_of = personas_of
        self.erased = erased
        self.on_flushed = on_flushed
        self.read_count = read_count
        self.max_round = max(max_round, read_count)
        self.commit_size = commit_size
        self.round_every_s = round_every_s
        self._last_read = 0.0
        self.block_ms = block_ms
        self.claim_idle_ms = claim_idle_ms
        self.consumer = consumer or consumer_name("flusher")
        self.groups = groups  # every group reading the stream: trimmed below all of them
        self.frustration_rules = frustration_rules
        self.counts = FlushCounts()
        self._count = read_count
        self._last_claim = 0.0
        self._last_trim = 0.0

    async def prepare(self) -> None:
        for group in self.groups:
            await self.buffer.ensure_group(group)

    async def round(self) -> None:
        """One round: own pending entries first, then stale ones of others, then new ones."""
        if time.monotonic() - self._last_trim > TRIM_EVERY_S:
            self._last_trim = time.monotonic()
            await self.buffer.trim_acknowledged(
                frozenset({PERSONAS_GROUP}), self.buffer.max_backlog // 2
            )
        mine = await self.buffer.read(GROUP, self.consumer, self.max_round, 0, own_pending=True)
        if mine:
            await self.flush(mine)
            return
        if time.monotonic() - self._last_claim > self.claim_idle_ms / 2000:
            self._last_claim = time.monotonic()
            stale = await self.buffer.claim_stale(
                GROUP, self.consumer, self.claim_idle_ms, self.max_round
            )
            if stale:
                log.warning("claimed %d stale entries", len(stale))
                await self.flush(stale)
                return
        # Not behind: let a round gather up to `round_every_s` of traffic, so a session's
        # batches of that time share one frame (fewer, larger inserts).
        wait = self.round_every_s - (time.monotonic() - self._last_read)
        if wait > 0 and self._count == self.read_count:
            await asyncio.sleep(wait)
        self._last_read = time.monotonic()
        entries = await self.buffer.read(GROUP, self.consumer, self._count, self.block_ms)
        if entries:
            await self.flush(entries)
        # Behind? Read bigger rounds: a frame per session per round, so fewer, larger writes.
        full = len(entries) >= self._count
        self._count = min(self._count * 2, self.max_round) if full else self.read_count
        self.stats.waiting = len(entries)

    async def flush(self, entries: list[StreamEntry]) -> None:
        """Store one round of entries, then acknowledge them with their aggregates."""
        started = time.perf_counter()
        decoded = [decode_entry(entry) for entry in entries]
        vids = {item.batch["vid"] for item in decoded}
        erased = await self.erased(vids)
        kept = [i for i in decoded if i.received_ms > erased.get(i.batch["vid"], -1)]
        # Entries whose frames an earlier attempt stored (it died before committing them
        # all) are not framed again, and keep the persona they were framed under.
        framed = await self.ledger.framed([e.entry_id for e in entries])
        personas = await self.personas_of({item.batch["vid"] for item in kept})
        items = [
            StreamedBatch(i.entry_id, i.batch, i.received_ms, i.arm,
                          framed.get(i.entry_id) or personas.get(i.batch["vid"], "unknown"))
            for i in kept
        ]  # fmt: skip
        to_frame = [i for i in items if i.entry_id not in framed]
        frames = plan_frames(to_frame)
        if frames:
            self.counts.duplicate_frames += await self.events.insert_frames(frames)
            crash_point("after_insert_frames")
            await self.ledger.mark_framed({i.entry_id: i.persona for i in to_frame})
        crash_point("after_frames")
        announced = {
            i.batch["pvid"] for i in items if any(e["k"] == "page" for e in i.batch["events"])
        }
        widths = await self.ledger.viewports(sorted({i.batch["pvid"] for i in items} - announced))
        carry = await self.ledger.carries(sorted({i.batch["sid"] for i in items}))
        by_entry = {item.entry_id: item for item in items}
        # The aggregates go in slices, each applied with the XACK of its own entries: Redis
        # runs one script at a time, and a short one keeps ingest's appends from waiting.
        for start in range(0, len(entries), self.commit_size):
            part = entries[start : start + self.commit_size]
            part_items = [by_entry[e.entry_id] for e in part if e.entry_id in by_entry]
            plan = plan_aggregates(part_items, widths, carry, self.frustration_rules)
            ops = round_ops(plan, part_items)
            widths.update(ops.viewports)
            result = await self.ledger.commit(GROUP, self.consumer, [e.entry_id for e in part], ops)
            crash_point("after_commit")
            if result.ok:
                carry.update(plan.carry)
            else:
                # Another consumer claimed these entries (this one was too slow): it applies
                # them. A batch in both consumers' frames is read once (MongoEventStore).
                self.counts.conflicts += 1
                log.warning("%d entries owned by another consumer; left to it", len(part))
                continue
            self.counts.batches += len(part_items)
            self.counts.events += plan.events
            if self.on_flushed is not None:
                try:
                    await self.on_flushed(plan, result.scroll)
                except Exception:  # stored; a live view missing it is not worth a retry
                    log.warning("on_flushed callback failed", exc_info=True)
        await self._drop_erased_meanwhile(vids, erased, frames)
        self.counts.flushes += 1
        self.counts.erased_batches += len(decoded) - len(kept)
        self.counts.last_round_ms = (time.perf_counter() - started) * 1000
        self.counts.last_flush_at = time.time()

    async def _drop_erased_meanwhile(
        self, vids: set[str], before: dict[str, int], frames: list[dict[str, Any]]
    ) -> None:
        """A visitor erased while this round ran: remove the frames it just wrote for them."""
        now = await self.erased(vids)
        late = {vid for vid, at in now.items() if at != before.get(vid)}
        if late:
            await self.events.delete_frames([f["_id"] for f in frames if f["vid"] in late])

    def snapshot(self) -> dict[str, Any]:
        # write_ops: every MongoDB write of this process's event store (frames, checkpoints).
        return {**self.stats.snapshot(), **self.counts.snapshot(),
                "write_ops": self.events.write_ops}  # fmt: skip
