"""Checkpointer: copy changed aggregate hashes from the ledger into MongoDB as whole documents.

Each pass: take the lease (one pass or erasure at a time), read the dirty hashes, write each
collection with at most two calls (insert_many for the new documents, one bulk of
ReplaceOne for the others), then settle: a hash whose generation did not move since it was
read leaves the dirty set and may expire from Redis. A crash anywhere leaves it dirty, and
the next pass writes the same (or a newer) whole document again: idempotent.

A "new" document MongoDB already holds means its hash had expired and restarted from
nothing: the stored document is folded into the hash once (RedisAggregateLedger.merge_once)
and the sum is written by the next pass. Unless the stored one carries the hash's own
first-insert stamp (FIRST_WRITE_FIELD, as its `updated_at`): then a pass died between
writing and settling, and the document is replaced, not folded (which would count it twice).
"""

from __future__ import annotations

import logging
import time
from collections import defaultdict
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime
from typing import Any

from server.adapters.aggregate_ledger import LedgerHash, RedisAggregateLedger
from server.adapters.event_store import MongoEventStore
from server.pipeline.ledger import document_from_hash, merge_ops
from server.workers.consumer import Heartbeat, Worker
from server.workers.flusher import crash_point

log = logging.getLogger(__name__)

LEASE_MS = 120_000
MAX_IDLE_S = 10.0  # the longest pause between passes, however long the last one took
CRASH_POINTS = ("checkpoint_after_stamp", "checkpoint_after_write", "checkpoint_after_settle")
# (kind, documents written): e.g. the admin overview's live refresh
OnCheckpoint = Callable[[dict[str, int]], Awaitable[None]]


class Checkpointer(Worker):
    name = "checkpointer"

    def __init__(
        self,
        ledger: RedisAggregateLedger,
        events: MongoEventStore,
        *,
        every_s: float = 1.0,
        max_share: float = 0.25,
        max_documents: int = 3000,
        heartbeat: Heartbeat | None = None,
        owner: str = "",
    ) -> None:
        super().__init__(heartbeat=heartbeat, idle_s=every_s)
        # Passes come every `every_s` while they are quick; a long pass (many documents
        # changed: a busy shop) waits longer after it, so checkpoints take at most
        # `max_share` of the process's time. Readers see aggregates a little later then;
        # each document is rewritten less often, which is what makes them cheaper.
        self.every_s = every_s
        self.max_share = max_share
        self.ledger = ledger
        self.events = events
        self.owner = owner
        self.max_documents = max_documents
        self.documents_written = 0
        self.merged = 0

    async def round(self) -> None:
        started = time.monotonic()
        await self.checkpoint()
        spent = time.monotonic() - started
        # (capped: a pass slowed by a MongoDB outage must not push the next one far away)
        self.idle_s = min(
            max(self.every_s, spent * (1 - self.max_share) / self.max_share), MAX_IDLE_S
        )
        self.stats.waiting = await self.ledger.backlog()

    async def checkpoint(self) -> int:
        """One pass; returns the documents written (0 when another process holds the lease)."""
        token = await self.ledger.lock(LEASE_MS, self.owner)
        if token is None:
            return 0
        try:
            keys = await self.ledger.dirty(self.max_documents)
            if not keys:
                return 0
            hashes = [h for h in await self.ledger.read(keys) if h.fields]
            erased = [k for k in keys if k not in {h.key for h in hashes}]
            written = await self._write(hashes)
            crash_point("checkpoint_after_write")
            held = written
            settled: list[tuple[LedgerHash, bool]] = [
                (h, True) for h in hashes if h.key not in held
            ]
            settled.extend((_gone(key), False) for key in erased)
            await self.ledger.settle(settled)
            crash_point("checkpoint_after_settle")
            for item in hashes:
                if item.key in held:
                    await self._fold_stored(item)
            count = len(hashes) - len(held)
            self.documents_written += count
            return count
        finally:
            await self.ledger.unlock(token)

    async def _write(self, hashes: list[LedgerHash]) -> set[str]:
        """Write the documents; return the keys of "new" ones MongoDB already held.

        A "new" document is inserted with its hash's first-insert stamp as `updated_at`. A
        duplicate carrying that stamp was inserted by this hash before (a checkpoint that
        died before settling): it is replaced, as a stored one, never folded in (that would
        count it twice). Any other duplicate is older than the hash: held, to be folded.
        """
        now_ms = int(time.time() * 1000)
        now = _at(now_ms)
        stamps = await self.ledger.stamp_first_write(
            [item.key for item in hashes if not item.stored], now_ms
        )
        crash_point("checkpoint_after_stamp")
        by_kind: dict[str, tuple[list[dict[str, Any]], list[dict[str, Any]]]] = defaultdict(
            lambda: ([], [])
        )
        keys_by_id: dict[tuple[str, str], str] = {}
        for item in hashes:
            doc = document_from_hash(item.kind, item.doc_id, item.fields)
            new, existing = by_kind[item.kind]
            if item.stored:
                doc["updated_at"] = now
                existing.append(doc)
            else:
                doc["updated_at"] = _at(stamps.get(item.key, now_ms))
                new.append(doc)
            keys_by_id[(item.kind, item.doc_id)] = item.key
        held: set[str] = set()
        for kind, (new, existing) in by_kind.items():
            duplicates = await self.events.write_documents(kind, new, existing)
            if not duplicates:
                continue
            mine = []
            for doc in new:
                if doc["_id"] in duplicates and await self._inserted_before(kind, doc):
                    mine.append(doc)
                elif doc["_id"] in duplicates:
                    held.add(keys_by_id[(kind, doc["_id"])])
            if mine:
                await self.events.write_documents(kind, [], mine)
        return held

    async def _inserted_before(self, kind: str, doc: dict[str, Any]) -> bool:
        """Whether the stored document is this hash's own insert (it carries the stamp)."""
        stored = await self.events.stored_document(kind, doc["_id"])
        return stored is not None and _epoch_ms(stored.get("updated_at")) == _epoch_ms(
            doc["updated_at"]
        )

    async def _fold_stored(self, item: LedgerHash) -> None:
        stored = await self.events.stored_document(item.kind, item.doc_id)
        if stored is None:  # deleted meanwhile (erasure, retention): write ours as new
            return
        if await self.ledger.merge_once(item.key, merge_ops(item.kind, stored)):
            self.merged += 1
            log.info("folded stored %s %s into its restarted aggregate", item.kind, item.doc_id)

    def snapshot(self) -> dict[str, Any]:
        return {**self.stats.snapshot(), "documents_written": self.documents_written,
                "merged": self.merged}  # fmt: skip


def _at(epoch_ms: int) -> datetime:
    return datetime.fromtimestamp(epoch_ms / 1000, UTC)


def _epoch_ms(value: Any) -> int | None:
    """A stored datetime as epoch ms (either engine; naive means UTC)."""
    if not isinstance(value, datetime):
        return None
    aware = value if value.tzinfo else value.replace(tzinfo=UTC)
    return round(aware.timestamp() * 1000)


def _gone(key: str) -> LedgerHash:
    """A dirty key whose hash no longer exists (erased): it only leaves the dirty set."""
    return LedgerHash(key, "", "", {})
