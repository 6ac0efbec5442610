"""MongoEventStore: where the flusher writes chunks, summaries and bins, and readers read them.

The write path follows the embedded engine's rules (DESIGN.md §2): appends with
insert_many only, new documents inserted rather than upserted (an upsert that creates
a document scans the collection there), one update per summary or bin per round.
"""

from __future__ import annotations

import time
from collections.abc import Iterable, Mapping, Sequence
from datetime import UTC, datetime, timedelta
from typing import Any

from pymongo import UpdateOne
from pymongo.errors import BulkWriteError

from server.adapters.mongo_store import IndexSpec, MongoStore, RetentionRule
from server.pipeline.aggregate import Update
from server.settings import Settings

CHUNKS = "event_chunks"
SESSIONS = "sessions"
EXPERIMENT_VISITORS = "experiment_visitors"
HEATMAP_BINS = "heatmap_bins"
SCROLL_DEPTH = "scroll_depth"

EVENT_INDEXES = (
    IndexSpec(CHUNKS, [("sid", 1), ("t0", 1), ("seq", 1)]),
    IndexSpec(CHUNKS, [("vid", 1)]),
    IndexSpec(CHUNKS, [("agg", 1)]),
    IndexSpec(SESSIONS, [("vid", 1), ("started_at", -1)]),
    IndexSpec(SESSIONS, [("last_at", -1)]),
    IndexSpec(EXPERIMENT_VISITORS, [("persona", 1), ("arm", 1)]),
    IndexSpec(HEATMAP_BINS, [("path", 1), ("kind", 1), ("day", 1)]),
    IndexSpec(SCROLL_DEPTH, [("path", 1), ("day", 1)]),
)


def event_retention(settings: Settings) -> list[RetentionRule]:
    days = settings.retention
    return [
        RetentionRule(CHUNKS, "received_at", days.events_days),
        RetentionRule(SESSIONS, "last_at", days.aggregates_days),
        RetentionRule(EXPERIMENT_VISITORS, "last_seen", days.aggregates_days),
        RetentionRule(HEATMAP_BINS, "updated_at", days.aggregates_days),
        RetentionRule(SCROLL_DEPTH, "updated_at", days.aggregates_days),
    ]


# A day's heatmap bins settle once late batches of that day have been flushed: the flusher
# bins by receive time, and a batch waits in the stream at most this long in normal operation.
SETTLE_AFTER_S = 6 * 3600
SETTLED_CACHE_TTL_S = 600.0  # and a settled day is re-read now and then all the same
SETTLED_CACHE_ENTRIES = 256


def _settled(day: str, now: datetime | None = None) -> bool:
    try:
        end = datetime.fromisoformat(day).replace(tzinfo=UTC) + timedelta(days=1)
    except ValueError:
        return False
    return ((now or datetime.now(UTC)) - end).total_seconds() > SETTLE_AFTER_S


def merge_bin_documents(
    docs: Iterable[Mapping[str, Any]], meta: Mapping[str, Any]
) -> dict[str, Any]:
    """Sum bin documents into one of the same shape (merge_bins gives the same heatmap)."""
    merged: dict[str, Any] = {**meta, "n": 0, "page": {}, "anchor": {}, "anchors": {}}
    page, anchor = merged["page"], merged["anchor"]
    for doc in docs:
        merged["n"] += int(doc.get("n", 0))
        for cell, count in doc.get("page", {}).items():
            page[cell] = page.get(cell, 0) + int(count)
        merged["anchors"].update(doc.get("anchors", {}))
        for key, cells in doc.get("anchor", {}).items():
            into = anchor.setdefault(key, {})
            for cell, count in cells.items():
                into[cell] = into.get(cell, 0) + int(count)
    return merged


class MongoEventStore:
    def __init__(self, store: MongoStore) -> None:
        self.store = store
        self.chunks = store[CHUNKS]
        self.sessions = store[SESSIONS]
        self.visitors = store[EXPERIMENT_VISITORS]
        self.heatmap_bins = store[HEATMAP_BINS]
        self.scroll_depth = store[SCROLL_DEPTH]
        self.write_ops = 0  # MongoDB write operations issued (for the flush benchmark)
        # (path, kind, day, filters) -> (when, the day's bins merged): see heatmap_documents
        self._settled: dict[
            tuple[str, str, str, tuple[tuple[str, str], ...]], tuple[float, dict[str, Any]]
        ] = {}

    async def insert_chunks(self, chunks: Sequence[Mapping[str, Any]]) -> set[str]:
        """Insert chunks; return the ids that were already stored (a batch seen twice)."""
        if not chunks:
            return set()
        self.write_ops += 1
        try:
            await self.chunks.insert_many(list(chunks), ordered=False)
        except BulkWriteError as error:
            errors = error.details.get("writeErrors", [])
            if any(item.get("code") != 11000 for item in errors):
                raise
            return {str(chunks[item["index"]]["_id"]) for item in errors}
        return set()

    async def unaggregated(self, chunk_ids: Iterable[str]) -> set[str]:
        """Of these stored chunks, the ones whose aggregates were never written."""
        ids = list(chunk_ids)
        if not ids:
            return set()
        docs = self.chunks.find({"_id": {"$in": ids}, "agg": False}, {"_id": 1})
        return {doc["_id"] async for doc in docs}

    async def mark_aggregated(self, chunk_ids: Iterable[str]) -> None:
        ids = list(chunk_ids)
        if ids:
            self.write_ops += 1
            await self.chunks.update_many({"_id": {"$in": ids}}, {"$set": {"agg": True}})

    async def apply(self, collection: Any, updates: Mapping[str, Update], now: datetime) -> None:
        """Insert the documents that are new, update the others, one operation each."""
        if not updates:
            return
        for update in updates.values():
            update.set["updated_at"] = now
        ids = list(updates)
        existing = {doc["_id"] async for doc in collection.find({"_id": {"$in": ids}}, {"_id": 1})}
        new_docs = [updates[i].as_new_document(i) for i in ids if i not in existing]
        raced: list[str] = []
        if new_docs:
            self.write_ops += 1
            try:
                await collection.insert_many(new_docs, ordered=False)
            except BulkWriteError as error:
                # Another flusher created some of them meanwhile: update those instead.
                errors = error.details.get("writeErrors", [])
                if any(item.get("code") != 11000 for item in errors):
                    raise
                raced = [str(new_docs[item["index"]]["_id"]) for item in errors]
        to_update = [i for i in ids if i in existing] + raced
        if to_update:
            self.write_ops += 1
            await collection.bulk_write(
                [UpdateOne({"_id": i}, updates[i].operators()) for i in to_update], ordered=False
            )

    async def add_scroll_reach(
        self, increments: Mapping[str, dict[int, int]], meta: Mapping[str, Mapping[str, Any]],
        now: datetime,
    ) -> None:  # fmt: skip
        updates: dict[str, Update] = {}
        for doc_id, buckets in increments.items():
            update = updates[doc_id] = Update(on_insert=dict(meta[doc_id]))
            for bucket, count in buckets.items():
                update.add(f"reached.{bucket}", count)
        await self.apply(self.scroll_depth, updates, now)

    # Reads: indexed point reads and bounded ranges only.

    async def session(self, session_id: str) -> dict[str, Any] | None:
        return await self.sessions.find_one({"_id": session_id})

    async def sessions_of(self, vid: str, limit: int, skip: int) -> list[dict[str, Any]]:
        cursor = self.sessions.find({"vid": vid}).sort("started_at", -1).skip(skip).limit(limit)
        return await cursor.to_list()

    async def count_events(self, query: Mapping[str, Any]) -> int:
        total = 0
        async for doc in self.chunks.find(dict(query), {"n": 1}):
            total += int(doc["n"])
        return total

    async def heatmap_documents(
        self, path: str, kind: str, days: Sequence[str], filters: Mapping[str, str]
    ) -> list[dict[str, Any]]:
        """The bins to merge for a heatmap; a settled day comes as one pre-merged document.

        A day's bins stop changing once its late batches are flushed, so the merged form of
        a settled day is kept in memory (bounded, expiring): a 7-day heatmap reads only
        today's bins from the store.
        """
        wanted = tuple(sorted(filters.items()))
        now = time.monotonic()
        docs: list[dict[str, Any]] = []
        to_read: list[str] = []
        for day in days:
            cached = self._settled.get((path, kind, day, wanted))
            if cached is not None and now - cached[0] < SETTLED_CACHE_TTL_S:
                docs.append(cached[1])
            else:
                to_read.append(day)
        if not to_read:
            return docs
        query: dict[str, Any] = {"path": path, "kind": kind, "day": {"$in": to_read}}
        query.update(filters)
        found = await self.heatmap_bins.find(query).to_list()
        by_day: dict[str, list[dict[str, Any]]] = {day: [] for day in to_read}
        for doc in found:
            by_day.setdefault(doc.get("day", ""), []).append(doc)
        for day, day_docs in by_day.items():
            if not day_docs or not _settled(day):
                docs.extend(day_docs)
                continue
            merged = merge_bin_documents(day_docs, {"path": path, "kind": kind, "day": day})
            if len(self._settled) >= SETTLED_CACHE_ENTRIES:
                self._settled.pop(next(iter(self._settled)))
            self._settled[(path, kind, day, wanted)] = (now, merged)
            docs.append(merged)
        return docs

    async def scroll_documents(
        self, path: str, days: Sequence[str], filters: Mapping[str, str]
    ) -> list[dict[str, Any]]:
        query: dict[str, Any] = {"path": path, "day": {"$in": list(days)}}
        query.update(filters)
        return await self.scroll_depth.find(query).to_list()


async def session_chunks(store: MongoEventStore, session_id: str) -> list[dict[str, Any]]:
    """A session's chunks in page-view then sequence order (an indexed range read)."""
    cursor = store.chunks.find({"sid": session_id}).sort([("t0", 1), ("seq", 1)])
    return await cursor.to_list()
