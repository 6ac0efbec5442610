"""Replay intake: check rrweb chunks from /track, queue them for the workers, forward live.

The web process only validates, compresses and appends each chunk to the write queue
(Redis); the document writer (server/workers/document_writer.py) inserts them with one
insert_many per round in the workers' process. The ack means "durable in Redis", as for
tracker batches. A lost ack leads to a resend, which the `pvid:seq` dedupe set answers as
a duplicate (and the `pvid:seq` id would turn into a harmless duplicate key anyway).
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, Protocol

import orjson
import redis.asyncio as aioredis

from server.adapters.replay_store import REPLAY_CHUNKS, chunk_document
from server.adapters.write_queue import RedisWriteQueue
from server.domain.events import ID_PATTERN
from server.domain.rooms import replay_room
from server.pipeline.rate_limit import TokenBucket

log = logging.getLogger(__name__)

CHUNK_FIELDS = frozenset({"sid", "pvid", "seq", "events"})
MAX_SEQ = 1_000_000
MAX_EVENTS = 5000
MAX_EVENT_TYPE = 100  # rrweb's EventType is 0..6; room for future kinds, not for junk
MIN_TIMESTAMP, MAX_TIMESTAMP = 10**12, 10**13  # epoch milliseconds, as in tracker batches
BURST = 20


class ReplayRejected(ValueError):
    """A chunk that is refused; `code` goes back in the ack."""

    def __init__(self, code: str) -> None:
        super().__init__(code)
        self.code = code


class Notifier(Protocol):
    async def emit(self, event: str, data: Any, *, room: str, namespace: str) -> Any: ...


def _is_int(value: Any, low: int, high: int) -> bool:
    return type(value) is int and low <= value <= high  # bool is not an int here


def validate_chunk(data: Any, max_bytes: int) -> tuple[dict[str, Any], bytes]:
    """Check a `replay` payload's structure; return it and its events as JSON.

    Only the envelope is checked deeply: rrweb events are the recorder's own vocabulary,
    replayed in a sandboxed iframe, so each must just be an object with an integer `type`
    and `timestamp`.
    """
    if not isinstance(data, dict) or set(data) != CHUNK_FIELDS:
        raise ReplayRejected("invalid_replay")
    sid, pvid, seq, events = data["sid"], data["pvid"], data["seq"], data["events"]
    if not (isinstance(sid, str) and ID_PATTERN.fullmatch(sid)):
        raise ReplayRejected("invalid_replay")
    if not (isinstance(pvid, str) and ID_PATTERN.fullmatch(pvid)):
        raise ReplayRejected("invalid_replay")
    if not _is_int(seq, 0, MAX_SEQ):
        raise ReplayRejected("invalid_replay")
    if not isinstance(events, list) or not events:
        raise ReplayRejected("invalid_replay")
    if len(events) > MAX_EVENTS:
        raise ReplayRejected("too_many_events")
    for event in events:
        if not (
            isinstance(event, dict)
            and _is_int(event.get("type"), 0, MAX_EVENT_TYPE)
            and _is_int(event.get("timestamp"), MIN_TIMESTAMP, MAX_TIMESTAMP)
        ):
            raise ReplayRejected("invalid_event")
    try:
        raw = orjson.dumps(events)
    except (TypeError, orjson.JSONEncodeError):
        raise ReplayRejected("invalid_event") from None
    if len(raw) > max_bytes:
        raise ReplayRejected("too_large")
    return data, raw


@dataclass
class ReplayStats:
    accepted: int = 0
    duplicates: int = 0
    bytes_in: int = 0
    rejected: dict[str, int] = field(default_factory=dict)

    def snapshot(self) -> dict[str, Any]:
        return {
            "accepted": self.accepted,
            "duplicates": self.duplicates,
            "bytes_in": self.bytes_in,
            "rejected": dict(self.rejected),
        }


class ReplayWriter:
    def __init__(
        self,
        queue: RedisWriteQueue,
        notifier: Notifier | None,
        *,
        max_bytes: int,
        chunks_per_second: float,
    ) -> None:
        self.queue = queue
        self.notifier = notifier
        self.max_bytes = max_bytes
        self.chunks_per_second = chunks_per_second
        self.stats = ReplayStats()

    def new_bucket(self) -> TokenBucket:
        """A per-connection budget: a page's recorder sends a chunk every ~2 s."""
        return TokenBucket(self.chunks_per_second, BURST)

    def reject(self, code: str) -> dict[str, Any]:
        self.stats.rejected[code] = self.stats.rejected.get(code, 0) + 1
        return {"ok": False, "error": code}

    async def accept(self, vid: str, data: Any) -> dict[str, Any]:
        """Validate, queue for storage, forward to live watchers; return the ack."""
        try:
            chunk, raw = validate_chunk(data, self.max_bytes)
        except ReplayRejected as error:
            return self.reject(error.code)
        doc = chunk_document(vid, chunk, raw, datetime.now(UTC))
        try:
            queued = await self.queue.append(
                REPLAY_CHUNKS, doc, dedupe=(chunk["pvid"], str(chunk["seq"]))
            )
        except (aioredis.RedisError, OSError):
            return self.reject("unavailable")
        if queued < 0:
            return self.reject("busy")
        if queued:
            self.stats.accepted += 1
            self.stats.bytes_in += len(raw)
            await self._forward(chunk)
        else:
            self.stats.duplicates += 1
        return {"ok": True, "seq": chunk["seq"]}

    async def _forward(self, chunk: dict[str, Any]) -> None:
        if self.notifier is None:
            return
        try:
            await self.notifier.emit(
                "replay", chunk, room=replay_room(chunk["sid"]), namespace="/admin"
            )
        except Exception:  # live watching is best effort; the chunk is stored
            log.warning("could not forward a replay chunk", exc_info=True)
