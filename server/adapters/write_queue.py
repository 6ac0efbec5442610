"""RedisWriteQueue: documents the web process hands to the workers to insert into MongoDB.

Why: the process that answers shoppers must not also pay for MongoDB writes (DESIGN.md §1).
Replay chunks and exposures are appended here as BSON (bytes and datetimes survive as they
are) and inserted by the document writer (server/workers/document_writer.py) with one
`insert_many` per collection per round. Every document carries a deterministic `_id`, so a
retried round turns into duplicate keys, never into copies.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, cast

import bson
import redis.asyncio as aioredis

from server.adapters.redis_keys import REPLAY_SEEN, RedisKeys, ttl_of

# 1: appended, 0: seen before (same dedupe member), -1: the backlog is at its bound.
_APPEND = """
if KEYS[2] ~= '' and redis.call('SISMEMBER', KEYS[2], ARGV[1]) == 1 then return 0 end
if redis.call('XLEN', KEYS[1]) >= tonumber(ARGV[3]) then return -1 end
if KEYS[2] ~= '' then
  redis.call('SADD', KEYS[2], ARGV[1])
  redis.call('EXPIRE', KEYS[2], ARGV[2])
end
redis.call('XADD', KEYS[1], '*', 'c', ARGV[4], 'd', ARGV[5])
return 1
"""
SEEN_TTL_S = ttl_of(REPLAY_SEEN)
CODEC: bson.CodecOptions[dict[str, Any]] = bson.CodecOptions(tz_aware=True)

# XREADGROUP as redis-py parses it for our clients (RESP2, no decode_responses):
# [[stream, [(entry id, fields)]]]; fields are empty for an entry trimmed while pending,
# and (None, None) stands for a nil entry.
_ReadReply = list[tuple[bytes, list[tuple[bytes | None, dict[bytes, bytes] | None]]]]


@dataclass(frozen=True)
class QueuedDocument:
    entry_id: str
    collection: str
    document: dict[str, Any]


class RedisWriteQueue:
    def __init__(
        self, client: aioredis.Redis, keys: RedisKeys | str, stream: str, max_backlog: int
    ) -> None:
        self.redis = client
        self.keys = keys if isinstance(keys, RedisKeys) else RedisKeys(keys)
        self.stream = self.keys.stream(stream)
        self.max_backlog = max_backlog
        self._append = client.register_script(_APPEND)

    async def append(
        self, collection: str, document: Mapping[str, Any], *, dedupe: tuple[str, str] | None = None
    ) -> int:
        """Queue one document; `dedupe` = (page view id, member) drops a resend here already.

        Returns 1 when queued, 0 for a resend, -1 when the backlog is full (retry later).
        """
        if "_id" not in document:
            raise ValueError("queued documents need a deterministic _id (retries must not copy)")
        seen_key, member = (self.keys.replay_seen(dedupe[0]), dedupe[1]) if dedupe else ("", "")
        result = await self._append(
            keys=[self.stream, seen_key],
            args=[member, SEEN_TTL_S, self.max_backlog, collection, bson.encode(document)],
        )
        return int(result)

    async def read(
        self, group: str, consumer: str, count: int, block_ms: int, *, own: bool = False
    ) -> list[QueuedDocument]:
        """New entries for this consumer, or (`own`) those it read and never acknowledged."""
        reply = cast(_ReadReply, await self.redis.xreadgroup(
            group, consumer, {self.stream: "0" if own else ">"}, count=count,
            block=None if own else block_ms,
        ))  # fmt: skip
        return [self.decode(_text(i), f) for _, entries in reply or () for i, f in entries if f]

    async def claim(
        self, group: str, consumer: str, min_idle_ms: int, count: int
    ) -> list[QueuedDocument]:
        """Take over entries a crashed consumer read and never acknowledged."""
        reply = await self.redis.xautoclaim(
            self.stream, group, consumer, min_idle_ms, start_id="0-0", count=count
        )
        return [self.decode(_text(i), f) for i, f in reply[1] if f]

    @staticmethod
    def decode(entry_id: str, fields: Mapping[bytes, bytes]) -> QueuedDocument:
        return QueuedDocument(
            entry_id, fields[b"c"].decode(), bson.decode(fields[b"d"], codec_options=CODEC)
        )


def _text(value: Any) -> str:
    return value.decode() if isinstance(value, bytes) else str(value)
