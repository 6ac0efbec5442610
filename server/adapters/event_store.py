"""MongoEventStore: where the flusher writes chunks, summaries and bins, and readers read them.

The write path follows the embedded engine's rules (DESIGN.md §2): appends with
insert_many only, new documents inserted rather than upserted (an upsert that creates
a document scans the collection there), one update per summary or bin per round.
"""

from __future__ import annotations

import time
from collections.abc import Iterable, Mapping, Sequence
from datetime import UTC, datetime, timedelta
from typing import Any, cast

from pymongo import ReplaceOne
from pymongo.errors import BulkWriteError

from server.adapters.mongo_store import IndexSpec, MongoStore, RetentionRule, list_chunks
from server.pipeline.ledger import FRUSTRATION as FRUSTRATION_KIND
from server.pipeline.ledger import HEATMAP as HEATMAP_KIND
from server.pipeline.ledger import SCROLL as SCROLL_KIND
from server.pipeline.ledger import SESSIONS as SESSION_KIND
from server.pipeline.ledger import VISITORS as VISITOR_KIND
from server.pipeline.ledger import ZONES as ZONE_KIND
from server.pipeline.ledger import frame_chunks
from server.settings import Settings

CHUNKS = "event_chunks"  # read only: batches stored one per document before frames
FRAMES = "event_frames"  # a session's batches of one flush round, compressed
SESSIONS = "sessions"
EXPERIMENT_VISITORS = "experiment_visitors"
HEATMAP_BINS = "heatmap_bins"
SCROLL_DEPTH = "scroll_depth"
FRUSTRATION = "frustration"  # signal counts per day × viewport class × persona × arm × page
ZONES = (
    "zones"  # views, clicks, orders, revenue per day × viewport class × persona × arm × page × zone
)

EVENT_INDEXES = (
    IndexSpec(FRAMES, [("sid", 1), ("t0", 1)]),
    IndexSpec(FRAMES, [("vid", 1)]),
    IndexSpec(CHUNKS, [("sid", 1), ("t0", 1), ("seq", 1)]),
    IndexSpec(CHUNKS, [("vid", 1)]),
    IndexSpec(SESSIONS, [("vid", 1), ("started_at", -1)]),
    IndexSpec(SESSIONS, [("last_at", -1)]),
    IndexSpec(EXPERIMENT_VISITORS, [("persona", 1), ("arm", 1)]),
    IndexSpec(HEATMAP_BINS, [("path", 1), ("kind", 1), ("day", 1)]),
    IndexSpec(SCROLL_DEPTH, [("path", 1), ("day", 1)]),
    IndexSpec(FRUSTRATION, [("day", 1), ("path", 1)]),
    IndexSpec(ZONES, [("day", 1), ("path", 1)]),
)


def event_retention(settings: Settings) -> list[RetentionRule]:
    days = settings.retention
    return [
        RetentionRule(CHUNKS, "received_at", days.events_days),
        RetentionRule(FRAMES, "received_at", days.events_days),
        RetentionRule(SESSIONS, "last_at", days.aggregates_days),
        RetentionRule(EXPERIMENT_VISITORS, "last_seen", days.aggregates_days),
        RetentionRule(HEATMAP_BINS, "updated_at", days.aggregates_days),
        RetentionRule(SCROLL_DEPTH, "updated_at", days.aggregates_days),
        RetentionRule(FRUSTRATION, "updated_at", days.aggregates_days),
        RetentionRule(ZONES, "updated_at", days.aggregates_days),
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
        self.chunks = store[CHUNKS]  # the layout before frames: one document per batch
        self.frames = store[FRAMES]
        self.sessions = store[SESSIONS]
        self.visitors = store[EXPERIMENT_VISITORS]
        self.heatmap_bins = store[HEATMAP_BINS]
        self.scroll_depth = store[SCROLL_DEPTH]
        self.frustration = store[FRUSTRATION]
        self.zones = store[ZONES]
        self._by_kind = {
            SESSION_KIND: self.sessions, VISITOR_KIND: self.visitors,
            HEATMAP_KIND: self.heatmap_bins, SCROLL_KIND: self.scroll_depth,
            FRUSTRATION_KIND: self.frustration, ZONE_KIND: self.zones,
        }  # fmt: skip
        self.write_ops = 0  # MongoDB write operations issued (for the flush benchmark)
        # (path, kind, day, filters) -> (when, the day's bins merged): see heatmap_documents
        self._settled: dict[
            tuple[str, str, str, tuple[tuple[str, str], ...]], tuple[float, dict[str, Any]]
        ] = {}

    async def insert_frames(self, frames: Sequence[Mapping[str, Any]]) -> int:
        """Insert a round's frames in one call; return how many were stored before (a retry)."""
        if not frames:
            return 0
        self.write_ops += 1
        try:
            await self.frames.insert_many(list(frames), ordered=False)
        except BulkWriteError as error:
            errors = error.details.get("writeErrors", [])
            if any(item.get("code") != 11000 for item in errors):
                raise
            return len(errors)
        return 0

    async def delete_frames(self, frame_ids: Sequence[str]) -> None:
        for chunk in list_chunks(frame_ids):
            self.write_ops += 1
            await self.frames.delete_many({"_id": {"$in": chunk}})

    def collection_for(self, kind: str) -> Any:
        return self._by_kind[kind]

    async def write_documents(
        self, kind: str, new: Sequence[dict[str, Any]], existing: Sequence[dict[str, Any]]
    ) -> set[str]:
        """Write whole documents: insert the new, replace the others (idempotent).

        Returns the ids of "new" documents that MongoDB already held: their hash restarted
        after expiring, and the caller folds the stored document in before writing again.
        """
        collection = self._by_kind[kind]
        held: set[str] = set()
        if new:
            self.write_ops += 1
            try:
                await collection.insert_many(list(new), ordered=False)
            except BulkWriteError as error:
                errors = error.details.get("writeErrors", [])
                if any(item.get("code") != 11000 for item in errors):
                    raise
                held = {str(new[item["index"]]["_id"]) for item in errors}
        if existing:
            self.write_ops += 1
            await collection.bulk_write(
                [ReplaceOne({"_id": doc["_id"]}, doc, upsert=False) for doc in existing],
                ordered=False,
            )
        return held

    async def stored_document(self, kind: str, doc_id: str) -> dict[str, Any] | None:
        return cast(dict[str, Any] | None, await self._by_kind[kind].find_one({"_id": doc_id}))

    # Reads: indexed point reads and bounded ranges only.

    async def session(self, session_id: str) -> dict[str, Any] | None:
        return cast(dict[str, Any] | None, await self.sessions.find_one({"_id": session_id}))

    async def sessions_of(self, vid: str, limit: int, skip: int) -> list[dict[str, Any]]:
        cursor = self.sessions.find({"vid": vid}).sort("started_at", -1).skip(skip).limit(limit)
        return cast(list[dict[str, Any]], await cursor.to_list())

    async def stored_batches(self, query: Mapping[str, Any]) -> list[dict[str, Any]]:
        """Every stored batch matching `query` (on vid/sid), once each, in either layout.

        A batch is in one frame, except after a round claimed by another consumer while its
        first owner was still writing: the same batch can then sit in two frames, and is
        read once (its id is its page view and sequence number).
        """
        batches: dict[str, dict[str, Any]] = {}
        async for frame in self.frames.find(dict(query)):
            for chunk in frame_chunks(frame):
                batches.setdefault(chunk["_id"], chunk)
        async for chunk in self.chunks.find(dict(query)):
            batches.setdefault(str(chunk["_id"]), chunk)
        return sorted(batches.values(), key=lambda c: (c["t0"], c["pvid"], c["seq"]))

    async def count_events(self, query: Mapping[str, Any]) -> int:
        """Stored events (tests, benchmarks and the fault reports; a scan, not a request path)."""
        return sum(int(chunk["n"]) for chunk in await self.stored_batches(query))

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
        return await _find(self.scroll_depth, _aggregate_query(path, days, filters))

    async def frustration_documents(
        self, path: str | None, days: Sequence[str], filters: Mapping[str, str]
    ) -> list[dict[str, Any]]:
        """A page's frustration documents (every page's with `path` None) on these days."""
        return await _find(self.frustration, _aggregate_query(path, days, filters))

    async def zone_documents(
        self, path: str, days: Sequence[str], filters: Mapping[str, str]
    ) -> list[dict[str, Any]]:
        """A page's zone documents on these days."""
        return await _find(self.zones, _aggregate_query(path, days, filters))

    async def page_view_counts(
        self, path: str | None, days: Sequence[str], filters: Mapping[str, str]
    ) -> list[dict[str, Any]]:
        """Scroll documents reduced to their views (bucket 0: every view reaches it once)."""
        query = _aggregate_query(path, days, filters)
        return await _find(self.scroll_depth, query, {"path": 1, "reached.0": 1})


def _aggregate_query(
    path: str | None, days: Sequence[str], filters: Mapping[str, str]
) -> dict[str, Any]:
    """The query of a read of daily aggregates: these days, one page (or all), the filters
    (viewport class, persona, arm). The collections are small (one document per day ×
    viewport class × persona × arm × page) and indexed on path and day."""
    query: dict[str, Any] = {"day": {"$in": list(days)}, **filters}
    if path is not None:
        query["path"] = path
    return query


async def _find(
    collection: Any, query: Mapping[str, Any], fields: Mapping[str, int] | None = None
) -> list[dict[str, Any]]:
    return cast(list[dict[str, Any]], await collection.find(query, fields).to_list())


async def session_chunks(store: MongoEventStore, session_id: str) -> list[dict[str, Any]]:
    """A session's batches in time then sequence order (indexed reads by session)."""
    return await store.stored_batches({"sid": session_id})
