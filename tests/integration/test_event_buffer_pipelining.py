"""RedisEventBuffer shares one pipeline between batches arriving together (make bench's
largest ingest cost): still one atomic append per batch, duplicates still dropped."""

from __future__ import annotations

import asyncio

import redis.asyncio as aioredis

from server.adapters.embedded_valkey import EmbeddedValkey
from server.adapters.redis_buffer import RedisEventBuffer


async def test_concurrent_appends_land_once_each_and_survive_a_script_flush(
    valkey: EmbeddedValkey, unique_name: str
) -> None:
    # Named, so its connections can be told from the other tests' on the shared Valkey.
    client = aioredis.Redis.from_url(valkey.url, client_name=unique_name)
    buffer = RedisEventBuffer(client, f"{unique_name}:", "events", 100_000)
    try:
        calls = [(f"pv{i % 50:08d}", i // 50, b"x%d" % i) for i in range(1000)]
        calls += calls[:200]  # resent batches: dropped
        results = await asyncio.gather(*(buffer.append_once(*call) for call in calls))
        assert results[:1000] == [True] * 1000 and results[1000:] == [False] * 200
        assert await client.xlen(buffer.stream) == 1000
        mine = [c for c in await client.client_list() if c.get("name") == unique_name]
        assert 1 <= len(mine) <= 2  # one pipeline at a time, not a connection per batch

        await client.script_flush()  # as after a Redis restart: the script is loaded again
        again = await asyncio.gather(
            buffer.append_once("pvafter00", 0, b"a"), buffer.append_once("pvafter00", 0, b"a")
        )
        assert sorted(again) == [False, True]
        assert await client.xlen(buffer.stream) == 1001
    finally:
        await client.aclose()


async def test_a_dead_redis_fails_every_waiting_append(unique_name: str) -> None:
    client = aioredis.Redis.from_url("redis://127.0.0.1:1/0", socket_connect_timeout=0.5)
    buffer = RedisEventBuffer(client, f"{unique_name}:", "events", 100_000)
    try:
        results = await asyncio.gather(
            *(buffer.append_once(f"pv{i:08d}", 0, b"x") for i in range(20)),
            return_exceptions=True,
        )
        assert all(isinstance(r, (aioredis.ConnectionError, OSError)) for r in results), results
    finally:
        await client.aclose()
