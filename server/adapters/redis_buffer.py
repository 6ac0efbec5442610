"""RedisEventBuffer: the Redis Stream between ingest and the workers (one entry per batch)."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import redis.asyncio as aioredis
from redis.exceptions import ResponseError

# Deduplicate by (page view, sequence) and append in one atomic round trip.
_APPEND_ONCE = """
if redis.call('SADD', KEYS[1], ARGV[1]) == 0 then return 0 end
redis.call('EXPIRE', KEYS[1], ARGV[2])
redis.call('XADD', KEYS[2], 'MAXLEN', '~', ARGV[3], '*', 'b', ARGV[4])
return 1
"""

# Raise a page view's deepest scroll bucket; return the previous one (-1 when none).
_RAISE_REACH = """
local old = tonumber(redis.call('GET', KEYS[1]) or '-1')
local new = tonumber(ARGV[1])
if new > old then redis.call('SET', KEYS[1], new, 'EX', ARGV[2]) end
return old
"""

SEEN_TTL_S = 6 * 3600  # long enough for a resend after a reload or a reconnect


@dataclass(frozen=True)
class StreamEntry:
    entry_id: str
    payload: bytes


class RedisEventBuffer:
    def __init__(self, client: aioredis.Redis, prefix: str, stream: str, maxlen: int) -> None:
        self.redis = client
        self.prefix = prefix
        self.stream = prefix + stream
        self.maxlen = maxlen
        self._append = client.register_script(_APPEND_ONCE)
        self._raise_reach = client.register_script(_RAISE_REACH)

    async def append_once(self, pvid: str, seq: int, payload: bytes) -> bool:
        """Append a batch unless (pvid, seq) was accepted before; True when appended."""
        keys = [f"{self.prefix}seen:{pvid}", self.stream]
        added = await self._append(keys=keys, args=[seq, SEEN_TTL_S, self.maxlen, payload])
        return bool(added)

    async def ensure_group(self, group: str) -> None:
        try:
            await self.redis.xgroup_create(self.stream, group, id="0", mkstream=True)
        except ResponseError as error:
            if "BUSYGROUP" not in str(error):
                raise

    async def read(
        self, group: str, consumer: str, count: int, block_ms: int, *, own_pending: bool = False
    ) -> list[StreamEntry]:
        """Read new entries for this consumer (they stay pending until acknowledged).

        With `own_pending`, read instead the entries this consumer read and never acknowledged.
        """
        reply = await self.redis.xreadgroup(
            group, consumer, {self.stream: "0" if own_pending else ">"}, count=count,
            block=None if own_pending else block_ms,
        )  # fmt: skip
        # An entry trimmed from the stream while pending comes back without fields.
        return [
            StreamEntry(_text(i), f[b"b"]) for _, entries in reply or () for i, f in entries if f
        ]

    async def claim_stale(
        self, group: str, consumer: str, min_idle_ms: int, count: int
    ) -> list[StreamEntry]:
        """Take over entries another consumer read but never acknowledged (it crashed)."""
        claimed: list[StreamEntry] = []
        cursor = "0-0"
        while True:
            reply = await self.redis.xautoclaim(
                self.stream, group, consumer, min_idle_ms, start_id=cursor, count=count
            )
            cursor, entries = _text(reply[0]), reply[1]
            claimed.extend(StreamEntry(_text(i), f[b"b"]) for i, f in entries if f)
            if cursor == "0-0" or len(claimed) >= count:
                return claimed

    async def ack(self, group: str, entry_ids: Sequence[str]) -> None:
        if entry_ids:
            await self.redis.xack(self.stream, group, *entry_ids)

    async def raise_reach(self, marks: Sequence[tuple[str, int]]) -> list[int]:
        """For each (page view, bucket), record the new maximum; return the old maxima."""
        if not marks:
            return []
        async with self.redis.pipeline(transaction=False) as pipe:
            for pvid, bucket in marks:
                await self._raise_reach(
                    keys=[f"{self.prefix}reach:{pvid}"], args=[bucket, 86_400], client=pipe
                )
            return [int(value) for value in await pipe.execute()]

    async def lag(self, group: str) -> dict[str, Any]:
        """Stream length and what the group has yet to read or acknowledge."""
        length = await self.redis.xlen(self.stream)
        try:
            groups = await self.redis.xinfo_groups(self.stream)
        except ResponseError:
            groups = []
        for info in groups:
            if _text(info["name"]) == group:
                return {
                    "stream_length": length,
                    "pending": int(info.get("pending", 0)),
                    "lag": int(info.get("lag") or 0),
                }
        return {"stream_length": length, "pending": 0, "lag": length}


def _text(value: Any) -> str:
    return value.decode() if isinstance(value, bytes) else str(value)
