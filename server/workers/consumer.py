"""One loop for every background worker: run rounds, survive any error, report health.

Written once, as python-socketio writes its pubsub listen loop once for every backend:
every exception of a round is caught, counted by kind, logged and retried with capped
backoff; only cancellation propagates. A heartbeat in Redis tells `/healthz` (in whichever
process serves it) when the worker last finished a round and whether work is waiting.
"""

from __future__ import annotations

import asyncio
import logging
import os
import socket
import time
from collections import Counter
from dataclasses import dataclass, field
from typing import Any

import orjson
import redis.asyncio as aioredis

from server.adapters.redis_keys import HEARTBEATS, RedisKeys, ttl_of

log = logging.getLogger(__name__)

MAX_BACKOFF_S = 5.0
HEARTBEAT_TTL_S = ttl_of(HEARTBEATS)


def consumer_name(role: str, slot: str | None = None) -> str:
    """A stream consumer's name. A stable slot lets a restarted process resume its own
    pending entries (the same round, so the same frame ids) instead of waiting to claim them."""
    if slot:
        return f"{role}-{slot}"
    return f"{role}-{socket.gethostname()}-{os.getpid()}-{id(object()) % 10_000}"


@dataclass
class WorkerStats:
    rounds: int = 0
    errors: Counter[str] = field(default_factory=Counter)
    last_error: str = ""
    last_round_at: float = 0.0  # epoch seconds of the last finished round
    started_at: float = field(default_factory=time.time)
    waiting: int = 0  # work the worker knows is waiting (entries, dirty documents)

    def snapshot(self) -> dict[str, Any]:
        return {
            "rounds": self.rounds,
            "errors": sum(self.errors.values()),
            "errors_by_kind": dict(self.errors),
            "last_error": self.last_error,
            "last_round_at": self.last_round_at,
            "started_at": self.started_at,
            "waiting": self.waiting,
            "pid": os.getpid(),
        }


class Worker:
    """A background loop of rounds. Subclasses implement `round()` (and may `prepare()`)."""

    name = "worker"

    def __init__(self, *, heartbeat: Heartbeat | None = None, idle_s: float = 0.0) -> None:
        self.stats = WorkerStats()
        self.heartbeat = heartbeat
        self.idle_s = idle_s  # pause between rounds (rounds that block on Redis need none)

    def snapshot(self) -> dict[str, Any]:
        """What the heartbeat reports (subclasses add their own figures)."""
        return self.stats.snapshot()

    async def prepare(self) -> None:
        """Run once before the first round (retried like a round when it fails)."""

    async def round(self) -> None:
        raise NotImplementedError

    async def run(self) -> None:
        """Run rounds until cancelled; any error is counted, logged and retried."""
        backoff = 0.1
        prepared = False
        while True:
            try:
                if not prepared:
                    await self.prepare()
                    prepared = True
                    await self._beat()  # ready: /healthz and the web process see it now
                await self.round()
                self.stats.rounds += 1
                self.stats.last_round_at = time.time()
                backoff = 0.1
                await self._beat()
                if self.idle_s:
                    await asyncio.sleep(self.idle_s)
            except asyncio.CancelledError:
                raise
            except Exception as error:
                kind = type(error).__name__
                self.stats.errors[kind] += 1
                self.stats.last_error = f"{kind}: {error}"[:300]
                log.warning("%s round failed (%s); retrying in %.1fs", self.name, kind, backoff,
                            exc_info=True)  # fmt: skip
                await self._beat()
                await asyncio.sleep(backoff)
                backoff = min(backoff * 2, MAX_BACKOFF_S)

    async def _beat(self) -> None:
        if self.heartbeat is None:
            return
        try:
            await self.heartbeat.beat(self.name, self.snapshot())
        except (aioredis.RedisError, OSError):
            pass  # Redis away: the round failing next will say so


class Heartbeat:
    """Workers' state in Redis, so `/healthz` sees workers of any process."""

    def __init__(self, client: aioredis.Redis, keys: RedisKeys | str) -> None:
        self.redis = client
        self.key = (keys if isinstance(keys, RedisKeys) else RedisKeys(keys)).heartbeats()

    async def beat(self, name: str, state: dict[str, Any]) -> None:
        async with self.redis.pipeline(transaction=False) as pipe:
            pipe.hset(self.key, name, orjson.dumps(state))
            pipe.expire(self.key, HEARTBEAT_TTL_S)
            await pipe.execute()

    async def reachable(self, timeout_s: float = 2.0) -> bool:
        """Whether Redis answers at all (for /healthz), within `timeout_s`."""
        try:
            return bool(await asyncio.wait_for(self.redis.ping(), timeout_s))
        except (aioredis.RedisError, OSError, TimeoutError):
            return False

    async def read(self) -> dict[str, dict[str, Any]]:
        raw = await self.redis.hgetall(self.key)
        return {
            (k.decode() if isinstance(k, bytes) else str(k)): orjson.loads(v)
            for k, v in raw.items()
        }


async def supervise(worker: Worker, restart_after_s: float = 1.0) -> None:
    """Run a worker; if its loop ever ends (a bug: `run` only ends by cancellation), restart it."""
    while True:
        try:
            await worker.run()
        except asyncio.CancelledError:
            raise
        except Exception as error:
            worker.stats.errors[type(error).__name__] += 1
            log.error("%s ended (%r); restarting", worker.name, error, exc_info=True)
        else:
            log.error("%s returned; restarting", worker.name)
        await asyncio.sleep(restart_after_s)
