"""RedisTrendStore: the overview's trend points, the web processes' ingest counters, the lease.

Points live in one sorted set (`trends`, scored by their time), trimmed to the last day at
each write, so a reload of the overview or a restart of the server within the day finds
them (the embedded Valkey keeps its data in an append-only file). A point holds counts and
no visitor's data (server/domain/trends.py); nothing here is erased per visitor
(server/adapters/redis_keys.py says so for the three keys).

Events per second must cover every web process, and each counts only what it accepted:
each process writes its counter into the `trends:ingest` hash under a name of its own, and
the sampler sums the differences. One process samples at a time: it holds `trends:lock`,
a lease it renews at each point (a second process takes over once it expires).
"""

from __future__ import annotations

from typing import Any

import orjson
import redis.asyncio as aioredis

from server.adapters.redis_keys import TRENDS, TRENDS_INGEST, RedisKeys, ttl_of
from server.domain.trends import TrendPoint

STALE_AFTER_S = 60.0  # a process that has not reported its counter for this long is gone

# Take the lease when free, or renew it when this holder has it already.
_HOLD = """
local held = redis.call('GET', KEYS[1])
if held == ARGV[1] then
  redis.call('PEXPIRE', KEYS[1], ARGV[2])
  return 1
end
if held then return 0 end
redis.call('SET', KEYS[1], ARGV[1], 'PX', ARGV[2])
return 1
"""
_RELEASE = """
if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('DEL', KEYS[1]) end
return 0
"""


class RedisTrendStore:
    def __init__(self, client: aioredis.Redis, keys: RedisKeys, keep_s: float) -> None:
        self.redis = client
        self.key = keys.trends()
        self.ingest_key = keys.trends_ingest()
        self.lock_key = keys.trends_lock()
        self.keep_s = keep_s  # points older than this, before the newest, are trimmed
        self._hold = client.register_script(_HOLD)
        self._release = client.register_script(_RELEASE)

    async def add(self, point: TrendPoint) -> None:
        """Store one point and trim what is older than `keep_s` before it."""
        member = orjson.dumps(point.to_json())
        async with self.redis.pipeline(transaction=True) as pipe:
            pipe.zadd(self.key, {member: point.at})
            pipe.zremrangebyscore(self.key, "-inf", f"({point.at - self.keep_s}")
            pipe.expire(self.key, ttl_of(TRENDS))
            await pipe.execute()

    async def since(self, start_s: float) -> list[TrendPoint]:
        """The points from `start_s` (epoch seconds) on, oldest first."""
        raw: list[Any] = await self.redis.zrangebyscore(self.key, start_s, "+inf")
        return [TrendPoint.from_json(orjson.loads(member)) for member in raw]

    async def report_ingest(self, process: str, accepted_events: int, now_s: float) -> None:
        """This process's accepted-events counter, as of `now_s`."""
        async with self.redis.pipeline(transaction=False) as pipe:
            pipe.hset(self.ingest_key, process, f"{accepted_events}:{now_s:.3f}")
            pipe.expire(self.ingest_key, ttl_of(TRENDS_INGEST))
            await pipe.execute()

    async def ingest_counts(self, now_s: float) -> dict[str, int]:
        """Every live web process's counter; the ones silent for a minute are dropped."""
        raw: dict[Any, Any] = await self.redis.hgetall(self.ingest_key)
        counts: dict[str, int] = {}
        stale: list[Any] = []
        for name, value in raw.items():
            count, _, at = _text(value).partition(":")
            try:
                if now_s - float(at) > STALE_AFTER_S:
                    stale.append(name)
                    continue
                counts[_text(name)] = int(count)
            except ValueError:
                stale.append(name)
        if stale:
            await self.redis.hdel(self.ingest_key, *stale)
        return counts

    async def hold_lease(self, token: str, lease_ms: int) -> bool:
        """Take the sampler's lease, or renew it when `token` holds it; False if another does."""
        return bool(await self._hold(keys=[self.lock_key], args=[token, lease_ms]))

    async def release_lease(self, token: str) -> None:
        await self._release(keys=[self.lock_key], args=[token])


def _text(value: Any) -> str:
    return value.decode() if isinstance(value, bytes) else str(value)
