"""Document writer: insert what the web process queued (replay chunks, exposures) into MongoDB.

Consumer group "writer" on the write queue's stream. A round: read, drop documents of
visitors erased after they were queued, one `insert_many` per collection (a duplicate key
is a resend or a retried round: skipped), XACK. A crash before the XACK repeats the round,
which the deterministic ids make harmless.
"""

from __future__ import annotations

import logging
from collections import defaultdict
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime
from typing import Any

from pymongo.errors import BulkWriteError

from server.adapters.mongo_store import MongoStore
from server.adapters.redis_buffer import RedisEventBuffer
from server.adapters.write_queue import QueuedDocument, RedisWriteQueue
from server.workers.consumer import Heartbeat, Worker, consumer_name

log = logging.getLogger(__name__)

GROUP = "writer"
ErasedAt = Callable[[set[str]], Awaitable[dict[str, int]]]
# When each kind of document was made (compared with a visitor's erasure time).
MADE_AT_FIELDS = ("received_at", "at")


def _made_ms(doc: dict[str, Any]) -> int:
    for name in MADE_AT_FIELDS:
        value = doc.get(name)
        if isinstance(value, datetime):
            aware = value if value.tzinfo else value.replace(tzinfo=UTC)
            return int(aware.timestamp() * 1000)
    return 0


class DocumentWriter(Worker):
    name = "writer"

    def __init__(
        self,
        queue: RedisWriteQueue,
        stream: RedisEventBuffer,
        store: MongoStore,
        *,
        collections: frozenset[str],
        erased: ErasedAt,
        read_count: int = 500,
        block_ms: int = 1000,
        claim_idle_ms: int = 30_000,
        consumer: str | None = None,
        heartbeat: Heartbeat | None = None,
    ) -> None:
        super().__init__(heartbeat=heartbeat)
        self.queue = queue
        self.stream = stream  # the queue's stream as a buffer: group, ack and trim
        self.store = store
        self.collections = collections  # only these may be written through the queue
        self.erased = erased
        self.read_count = read_count
        self.block_ms = block_ms
        self.claim_idle_ms = claim_idle_ms
        self.consumer = consumer or consumer_name("writer")
        self.written = 0
        self.duplicates = 0
        self.dropped = 0

    async def prepare(self) -> None:
        await self.stream.ensure_group(GROUP)

    async def round(self) -> None:
        queue = self.queue
        docs = await queue.read(GROUP, self.consumer, self.read_count, 0, own=True)
        if not docs:
            docs = await queue.claim(
                GROUP, self.consumer, self.claim_idle_ms, self.read_count
            ) or await queue.read(GROUP, self.consumer, self.read_count, self.block_ms)
        self.stats.waiting = len(docs)
        if not docs:
            await self.stream.trim_acknowledged()
            return
        await self.write([d for d in docs if d.collection in self.collections])
        await self.stream.ack(GROUP, [d.entry_id for d in docs])

    async def write(self, docs: list[QueuedDocument]) -> None:
        erased = await self.erased({str(d.document.get("vid")) for d in docs})
        by_collection: dict[str, list[dict[str, Any]]] = defaultdict(list)
        for doc in docs:
            vid = str(doc.document.get("vid"))
            if vid in erased and _made_ms(doc.document) <= erased[vid]:
                self.dropped += 1
                continue
            by_collection[doc.collection].append(doc.document)
        for name, documents in by_collection.items():
            try:
                await self.store[name].insert_many(documents, ordered=False)
            except BulkWriteError as error:
                errors = error.details.get("writeErrors", [])
                if any(item.get("code") != 11000 for item in errors):
                    raise
                self.duplicates += len(errors)
                self.written += len(documents) - len(errors)
            else:
                self.written += len(documents)

    def snapshot(self) -> dict[str, Any]:
        return {**self.stats.snapshot(), "written": self.written, "duplicates": self.duplicates,
                "dropped": self.dropped}  # fmt: skip
