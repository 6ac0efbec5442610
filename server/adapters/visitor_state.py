"""VisitorState: a visitor's small state in Redis that the shop's requests read and write.

The visit id, the adaptations opt-out, the experiment-trigger mark and the exposure marks:
each a key family of server/adapters/redis_keys.py, so erasure finds them. Redis errors
propagate; the callers decide what a missing answer means (server/services/adaptation.py).
"""

from __future__ import annotations

from collections.abc import Sequence

import redis.asyncio as aioredis

from server.adapters.redis_keys import EXPOSED, RedisKeys, ttl_of

EXPOSURE_MARK_TTL_S = ttl_of(EXPOSED)


class VisitorState:
    def __init__(self, client: aioredis.Redis, keys: RedisKeys) -> None:
        self.redis = client
        self.keys = keys

    async def continue_visit(self, vid: str, candidate: str, idle_s: int) -> str:
        """The visitor's visit id, kept alive `idle_s` more; `candidate` when none is running."""
        key = self.keys.visit(vid)
        async with self.redis.pipeline(transaction=False) as pipe:
            pipe.set(key, candidate, nx=True, ex=idle_s, get=True)
            pipe.expire(key, idle_s)
            existing, _ = await pipe.execute()
        return _text(existing) if existing else candidate

    async def opted_out(self, vid: str) -> bool:
        return bool(await self.redis.exists(self.keys.optout(vid)))

    async def set_opted_out(self, vid: str, value: bool) -> None:
        if value:
            await self.redis.set(self.keys.optout(vid), "1")
        else:
            await self.redis.delete(self.keys.optout(vid))

    async def mark_triggered(self, vid: str, ttl_s: int) -> bool:
        """Mark the visitor's first qualification; False when it was marked before."""
        return bool(await self.redis.set(self.keys.triggered(vid), "1", nx=True, ex=ttl_s))

    async def unmark_triggered(self, vid: str) -> None:
        await self.redis.delete(self.keys.triggered(vid))

    async def mark_exposed(self, sid: str, names: Sequence[str]) -> list[bool]:
        """Mark the visit exposed to each adaptation; True for those marked only now."""
        async with self.redis.pipeline(transaction=False) as pipe:
            for name in names:
                pipe.set(self.keys.exposed(sid, name), "1", nx=True, ex=EXPOSURE_MARK_TTL_S)
            return [bool(new) for new in await pipe.execute()]


def _text(value: bytes | str) -> str:
    return value.decode() if isinstance(value, bytes) else value
