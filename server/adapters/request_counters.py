"""RequestCounters: the fixed-window counters in Redis behind the abuse limits.

Per route and visitor or client address (server/web/rate_limits.py), and per admin user
name for the growing delays after failed logins (server/web/admin_auth.py). Both families
expire by themselves (server/adapters/redis_keys.py); Redis errors propagate, and the
callers let requests through when Redis is away.
"""

from __future__ import annotations

from collections.abc import Sequence

import redis.asyncio as aioredis

from server.adapters.redis_keys import LOGIN_FAILURES, RedisKeys, ttl_of

LOGIN_FAILURE_WINDOW_S = ttl_of(LOGIN_FAILURES)  # a failure counts this long


class RequestCounters:
    def __init__(self, client: aioredis.Redis, keys: RedisKeys) -> None:
        self.redis = client
        self.keys = keys

    async def count(
        self, rule: str, subjects: Sequence[tuple[str, str]], slot: int, window_s: int
    ) -> list[int]:
        """Count one request of `rule` for each (by, subject) in window `slot`; the totals."""
        async with self.redis.pipeline(transaction=False) as pipe:
            for by, subject in subjects:
                key = self.keys.rate_limit(rule, by, subject, slot)
                pipe.incr(key)
                pipe.expire(key, window_s * 2)
            replies = await pipe.execute()
        return [int(count) for count in replies[0::2]]

    async def login_failures(self, username: str) -> int:
        return int(await self.redis.get(self.keys.login_failures(username)) or 0)

    async def record_login_failure(self, username: str) -> None:
        key = self.keys.login_failures(username)
        async with self.redis.pipeline(transaction=False) as pipe:
            pipe.incr(key)
            pipe.expire(key, LOGIN_FAILURE_WINDOW_S)
            await pipe.execute()

    async def clear_login_failures(self, username: str) -> None:
        await self.redis.delete(self.keys.login_failures(username))
