"""ReplayStore: rrweb chunks, zlib-compressed, one document per (page view, sequence).

Same write rules as the event store (DESIGN.md §2): appends with insert_many only, the
`pvid:seq` id makes a resent chunk a duplicate key instead of a second copy. Reads are
one indexed range per session, (sid, first_ts).
"""

from __future__ import annotations

import zlib
from collections.abc import Mapping, Sequence
from datetime import UTC, datetime
from typing import Any

import orjson
from pymongo.errors import BulkWriteError

from server.adapters.mongo_store import IndexSpec, MongoStore, RetentionRule
from server.settings import Settings

REPLAY_CHUNKS = "replay_chunks"
REPLAY_INDEXES = (IndexSpec(REPLAY_CHUNKS, [("sid", 1), ("first_ts", 1)]),)
COMPRESSION_LEVEL = 6  # rrweb JSON shrinks ~8x here; higher levels cost CPU for ~2 % more


def replay_retention(settings: Settings) -> list[RetentionRule]:
    return [RetentionRule(REPLAY_CHUNKS, "received_at", settings.retention.replays_days)]


def chunk_document(
    vid: str, chunk: Mapping[str, Any], raw_events: bytes, received: datetime
) -> dict[str, Any]:
    """The stored form of one accepted chunk (`raw_events` is its events as JSON)."""
    events = chunk["events"]
    return {
        "_id": f"{chunk['pvid']}:{chunk['seq']}",
        "vid": vid,
        "sid": chunk["sid"],
        "pvid": chunk["pvid"],
        "seq": chunk["seq"],
        "first_ts": min(event["timestamp"] for event in events),
        "last_ts": max(event["timestamp"] for event in events),
        "n": len(events),
        "bytes": len(raw_events),
        "received_at": received,
        "z": zlib.compress(raw_events, COMPRESSION_LEVEL),
    }


def chunk_events(doc: Mapping[str, Any]) -> list[dict[str, Any]]:
    """Decompress a stored chunk's events."""
    events: list[dict[str, Any]] = orjson.loads(zlib.decompress(bytes(doc["z"])))
    return events


class ReplayStore:
    def __init__(self, store: MongoStore) -> None:
        self.chunks = store[REPLAY_CHUNKS]

    async def insert(self, docs: Sequence[Mapping[str, Any]]) -> set[str]:
        """Insert chunks; return the ids that were already stored (a resend)."""
        if not docs:
            return set()
        try:
            await self.chunks.insert_many(list(docs), ordered=False)
        except BulkWriteError as error:
            errors = error.details.get("writeErrors", [])
            if any(item.get("code") != 11000 for item in errors):
                raise
            return {str(docs[item["index"]]["_id"]) for item in errors}
        return set()

    async def of_session(self, sid: str, vid: str | None = None) -> list[dict[str, Any]]:
        """A session's chunks in time order; only the session's own visitor's when `vid`.

        The chunk's `sid` comes from the browser; `vid` comes from the signed cookie. Keeping
        the visitor's chunks only means nobody can slip frames into someone else's replay.
        """
        query: dict[str, Any] = {"sid": sid}
        if vid is not None:
            query["vid"] = vid
        cursor = self.chunks.find(query).sort([("first_ts", 1), ("seq", 1)])
        docs: list[dict[str, Any]] = await cursor.to_list()
        return docs


def events_of(docs: Sequence[Mapping[str, Any]]) -> list[dict[str, Any]]:
    """Every rrweb event of these chunks, ordered by timestamp (page views follow each other)."""
    events = [event for doc in docs for event in chunk_events(doc)]
    events.sort(key=lambda event: event["timestamp"])  # stable: ties keep chunk order
    return events


def clock_offset_ms(docs: Sequence[Mapping[str, Any]]) -> int:
    """Estimate server clock minus browser clock from when chunks arrived.

    A chunk leaves the browser within a few seconds of its last event, so the smallest
    `received_at - last_ts` is the clock difference plus the shortest delivery delay.
    Persona changes and exposures carry server times; this puts them on the replay's clock.
    """
    gaps = [
        epoch_ms(doc["received_at"]) - int(doc["last_ts"])
        for doc in docs
        if isinstance(doc.get("received_at"), datetime)
    ]
    return min(gaps) if gaps else 0


def as_utc(moment: datetime) -> datetime:
    """The embedded engine hands back naive datetimes; they are UTC."""
    return moment if moment.tzinfo is not None else moment.replace(tzinfo=UTC)


def epoch_ms(moment: datetime) -> int:
    return int(as_utc(moment).timestamp() * 1000)


def export_lines(
    tracker_chunks: Sequence[Mapping[str, Any]], replay_chunks: Sequence[Mapping[str, Any]]
) -> list[bytes]:
    """A session as NDJSON lines: tracker batches, then rrweb chunks, each in order."""
    lines = []
    for chunk in tracker_chunks:
        line = {"channel": "tracker", **{key: chunk[key] for key in ("pvid", "seq", "t0", "path")}}
        lines.append(orjson.dumps({**line, "events": chunk["events"]}))
    for doc in replay_chunks:
        line = {"channel": "rrweb", "pvid": doc["pvid"], "seq": doc["seq"]}
        lines.append(orjson.dumps({**line, "events": chunk_events(doc)}))
    return lines
