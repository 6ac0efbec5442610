"""Replay writer: check rrweb chunks from /track, store them in small group commits, forward live.

Why a batching writer rather than a second Redis stream: a chunk is stored exactly as it
came (no aggregation to do later), so one hop fewer is simpler. Every `replay` emit waits
for the insert_many that carries it, so the ack means "stored"; chunks arriving within a
few milliseconds of each other, from any shopper, share one insert. A lost ack leads to a
resend, which the `pvid:seq` id turns into a harmless duplicate.
"""

from __future__ import annotations

import asyncio
import logging
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, Protocol

import orjson
from pymongo.errors import PyMongoError

from server.adapters.replay_store import ReplayStore, chunk_document
from server.domain.events import ID_PATTERN
from server.pipeline.rate_limit import TokenBucket

log = logging.getLogger(__name__)

CHUNK_FIELDS = frozenset({"sid", "pvid", "seq", "events"})
MAX_SEQ = 1_000_000
MAX_EVENTS = 5000
MAX_EVENT_TYPE = 100  # rrweb's EventType is 0..6; room for future kinds, not for junk
MIN_TIMESTAMP, MAX_TIMESTAMP = 10**12, 10**13  # epoch milliseconds, as in tracker batches
GROUP_WAIT_S = 0.02
MAX_GROUP = 200
BURST = 20


class ReplayRejected(ValueError):
    """A chunk that is refused; `code` goes back in the ack."""

    def __init__(self, code: str) -> None:
        super().__init__(code)
        self.code = code


class Notifier(Protocol):
    async def emit(self, event: str, data: Any, *, room: str, namespace: str) -> Any: ...


def replay_room(sid: str) -> str:
    """The /admin room of admins watching one session live."""
    return f"replay:{sid}"


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
    writes: int = 0
    rejected: dict[str, int] = field(default_factory=dict)

    def snapshot(self) -> dict[str, Any]:
        return {
            "accepted": self.accepted,
            "duplicates": self.duplicates,
            "bytes_in": self.bytes_in,
            "writes": self.writes,
            "rejected": dict(self.rejected),
        }


class ReplayWriter:
    def __init__(
        self,
        store: ReplayStore,
        notifier: Notifier | None,
        *,
        max_bytes: int,
        chunks_per_second: float,
    ) -> None:
        self.store = store
        self.notifier = notifier
        self.max_bytes = max_bytes
        self.chunks_per_second = chunks_per_second
        self.stats = ReplayStats()
        self._queue: list[tuple[dict[str, Any], asyncio.Future[bool]]] = []
        self._wake = asyncio.Event()

    def new_bucket(self) -> TokenBucket:
        """A per-connection budget: a page's recorder sends a chunk every ~2 s."""
        return TokenBucket(self.chunks_per_second, BURST)

    def reject(self, code: str) -> dict[str, Any]:
        self.stats.rejected[code] = self.stats.rejected.get(code, 0) + 1
        return {"ok": False, "error": code}

    async def accept(self, vid: str, data: Any) -> dict[str, Any]:
        """Validate, store (waiting for the write), forward to live watchers; return the ack."""
        try:
            chunk, raw = validate_chunk(data, self.max_bytes)
        except ReplayRejected as error:
            return self.reject(error.code)
        doc = chunk_document(vid, chunk, raw, datetime.now(UTC))
        future: asyncio.Future[bool] = asyncio.get_running_loop().create_future()
        self._queue.append((doc, future))
        self._wake.set()
        try:
            is_new = await future
        except PyMongoError:
            return self.reject("unavailable")
        if is_new:
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

    async def run(self) -> None:
        """Write queued chunks until cancelled: one insert_many per short window."""
        while True:
            await self._wake.wait()
            await asyncio.sleep(GROUP_WAIT_S)  # let concurrent emits join this write
            group, self._queue = self._queue[:MAX_GROUP], self._queue[MAX_GROUP:]
            if not self._queue:
                self._wake.clear()
            if group:
                await self._write(group)

    async def _write(self, group: list[tuple[dict[str, Any], asyncio.Future[bool]]]) -> None:
        unique: dict[str, dict[str, Any]] = {}
        for doc, _ in group:
            unique.setdefault(doc["_id"], doc)  # a resend in the same window: one insert
        try:
            duplicates = await self.store.insert(list(unique.values()))
            self.stats.writes += 1
        except asyncio.CancelledError:
            for _, future in group:
                future.cancel()
            raise
        except PyMongoError as error:
            log.warning("replay write failed", exc_info=True)
            for _, future in group:
                if not future.done():
                    future.set_exception(error)
            return
        for doc, future in group:
            if not future.done():
                first = unique.get(doc["_id"]) is doc
                future.set_result(first and doc["_id"] not in duplicates)
