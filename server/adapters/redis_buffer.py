"""RedisEventBuffer: the Redis Stream between ingest and the workers (one entry per batch)."""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, cast

import redis.asyncio as aioredis
from redis.exceptions import NoScriptError, ResponseError

from server.adapters.redis_keys import SEEN, RedisKeys, ttl_of

# Deduplicate by (page view, sequence) and append in one atomic round trip. 1: appended,
# 0: accepted before, -1: refused because the unwritten backlog is at its bound (the client
# keeps the batch and sends it again; nothing is marked seen, so the resend is appended).
# No MAXLEN: the stream is trimmed only below what every group acknowledged.
_APPEND_ONCE = """
if redis.call('SISMEMBER', KEYS[1], ARGV[1]) == 1 then return 0 end
if redis.call('XLEN', KEYS[2]) >= tonumber(ARGV[3]) then return -1 end
redis.call('SADD', KEYS[1], ARGV[1])
redis.call('EXPIRE', KEYS[1], ARGV[2])
redis.call('XADD', KEYS[2], '*', 'b', ARGV[4])
return 1
"""

SEEN_TTL_S = ttl_of(SEEN)  # long enough for a resend after a reload or a reconnect

# XREADGROUP as redis-py parses it for our clients (RESP2, no decode_responses):
# [[stream, [(entry id, fields)]]]; fields are empty for an entry trimmed while pending,
# and (None, None) stands for a nil entry.
_ReadReply = list[tuple[bytes, list[tuple[bytes | None, dict[bytes, bytes] | None]]]]


@dataclass(frozen=True)
class StreamEntry:
    entry_id: str
    payload: bytes


class RedisEventBuffer:
    def __init__(
        self, client: aioredis.Redis, keys: RedisKeys | str, stream: str, max_backlog: int
    ) -> None:
        self.redis = client
        self.keys = keys if isinstance(keys, RedisKeys) else RedisKeys(keys)
        self.stream = self.keys.stream(stream)
        self.max_backlog = max_backlog
        self._append = client.register_script(_APPEND_ONCE)
        # Appends waiting for the next pipeline, and the task sending them (see append_once).
        self._waiting: list[tuple[tuple[Any, ...], asyncio.Future[Any]]] = []
        self._sender: asyncio.Task[None] | None = None

    async def append_once(self, pvid: str, seq: int, payload: bytes) -> int:
        """Append a batch unless (pvid, seq) was accepted before.

        Returns 1 when appended, 0 for a batch accepted before, -1 when the backlog is full.

        Each batch is still its own atomic script call, but the calls of batches arriving
        together share one pipeline (one write, one read): while a pipeline is in flight,
        the next one fills up, so under load a round trip carries many batches.
        """
        args = (2, self.keys.seen(pvid), self.stream, seq, SEEN_TTL_S, self.max_backlog,
                payload)  # fmt: skip
        done: asyncio.Future[Any] = asyncio.get_running_loop().create_future()
        self._waiting.append((args, done))
        if self._sender is None:
            self._sender = asyncio.create_task(self._send_waiting())
        return int(await done)

    async def _send_waiting(self) -> None:
        try:
            while self._waiting:
                calls, self._waiting = self._waiting, []
                try:
                    results = await self._evalsha_all([args for args, _ in calls])
                except BaseException as error:
                    for _, done in calls:
                        if not done.done():
                            done.set_exception(error)
                    if isinstance(error, asyncio.CancelledError):
                        raise
                    continue
                for (_, done), result in zip(calls, results, strict=True):
                    if done.done():
                        continue
                    if isinstance(result, BaseException):
                        done.set_exception(result)
                    else:
                        done.set_result(result)
        finally:
            self._sender = None
            for _, done in self._waiting:  # only left here when this task was cancelled
                if not done.done():
                    done.set_exception(aioredis.ConnectionError("event buffer closed"))
            self._waiting = []

    async def _evalsha_all(self, calls: list[tuple[Any, ...]]) -> list[Any]:
        """Run the append script once per call in one pipeline; load it if Redis lost it."""
        results = await self._pipeline(calls)
        missing = [i for i, result in enumerate(results) if isinstance(result, NoScriptError)]
        if missing:  # after a Redis restart or SCRIPT FLUSH; a NOSCRIPT call did nothing
            await self.redis.script_load(_APPEND_ONCE)
            retried = await self._pipeline([calls[i] for i in missing])
            for i, result in zip(missing, retried, strict=True):
                results[i] = result
        return results

    async def _pipeline(self, calls: list[tuple[Any, ...]]) -> list[Any]:
        async with self.redis.pipeline(transaction=False) as pipe:
            for args in calls:
                pipe.evalsha(self._append.sha, *args)
            return list(await pipe.execute(raise_on_error=False))

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
        reply = cast(_ReadReply, await self.redis.xreadgroup(
            group, consumer, {self.stream: "0" if own_pending else ">"}, count=count,
            block=None if own_pending else block_ms,
        ))  # fmt: skip
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

    async def trim_acknowledged(
        self, best_effort: frozenset[str] = frozenset(), best_effort_lag: int = 0
    ) -> str | None:
        """Trim the stream below the oldest entry some group has not acknowledged.

        Returns the MINID used (None when nothing is safe to trim). An entry is removed only
        when every group that stores it has read and acknowledged it: never one still to be
        written. A `best_effort` group (the persona worker: what it derives can be derived
        again, the raw events are stored) holds the trim back only while it is at most
        `best_effort_lag` entries behind; past that it is left behind, so a stopped persona
        worker cannot make ingest push back.
        """
        try:
            groups = await self.redis.xinfo_groups(self.stream)
        except ResponseError:
            return None
        if not groups:
            return None
        bounds: list[tuple[int, int]] = []
        for info in groups:
            name = _text(info["name"])
            behind = int(info.get("lag") or 0) + int(info.get("pending", 0))
            if name in best_effort and behind > best_effort_lag:
                continue
            summary = await self.redis.xpending(self.stream, name) if info.get("pending") else None
            if summary and summary.get("min") is not None:
                bounds.append(_stream_id(_text(summary["min"])))
            else:
                # Nothing pending (or all of it acknowledged since XINFO): everything up to
                # the last delivered entry is acknowledged.
                ms, seq = _stream_id(_text(info["last-delivered-id"]))
                bounds.append((ms, seq + 1))
        if not bounds:
            return None
        ms, seq = min(bounds)
        if (ms, seq) <= (0, 1):
            return None
        minid = f"{ms}-{seq}"
        # Exact, not "~": an approximate trim removes whole stream nodes only (100 entries
        # each), so a small backlog bound would never free up.
        await self.redis.xtrim(self.stream, minid=minid, approximate=False)
        return minid

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


def _stream_id(value: str) -> tuple[int, int]:
    ms, _, seq = value.partition("-")
    return int(ms), int(seq or 0)


def _text(value: Any) -> str:
    return value.decode() if isinstance(value, bytes) else str(value)
