"""The overview's live trends: the sampler that records them, and what the console reads.

`TrendSampler` runs in every web process (bootstrap's `start_trends`). At each tick, on
multiples of `trends.sample_every_s` of the wall clock, every process reports its ingest
counter; the one holding the lease then waits a moment for the others' reports, reads the
active sessions, the counters and the stream's lag, and stores one point
(server/adapters/trend_store.py). A process that loses the lease (or never had it) drops
its baseline: the first point after a handover has no event count (None), never a wrong one.

The console reads whole windows (`GET /admin/api/trends?window=1h|1d`) once, then the last
two buckets of each window with every overview push (`live_tail`), which the page merges
into what it has: the bucket being filled and the one just closed.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import math
import time
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

from server.adapters.dashboard_store import DashboardReads
from server.adapters.redis_buffer import RedisEventBuffer
from server.adapters.trend_store import RedisTrendStore
from server.domain.trends import (
    ACTIVE_WINDOW_S,
    TrendPoint,
    Window,
    active_figures,
    bucketize,
    events_in_interval,
    windows,
)
from server.settings import TrendSettings

log = logging.getLogger(__name__)

FLUSHER_GROUP = "flusher"  # the lag charted is the flusher's: what is not stored yet


def trend_windows(settings: TrendSettings) -> dict[str, Window]:
    return windows(settings.hour_bucket_s, settings.day_bucket_s)


def keep_seconds(settings: TrendSettings) -> float:
    """How long points are kept: a day, plus one day bucket so the oldest one is whole."""
    return float(trend_windows(settings)["1d"].span_s + settings.day_bucket_s)


class TrendSampler:
    """Records one trend point per `every_s`, in whichever web process holds the lease."""

    def __init__(
        self,
        store: RedisTrendStore,
        sessions: DashboardReads,
        stream: RedisEventBuffer,
        accepted_events: Callable[[], int],
        *,
        every_s: float,
        process: str,
        settle_s: float | None = None,
    ) -> None:
        self.store = store
        self.sessions = sessions
        self.stream = stream
        self.accepted_events = accepted_events
        self.every_s = every_s
        self.process = process  # this process's name: its counter's field, its lease token
        # The others report at the same tick: give them this long before reading the counters.
        self.settle_s = min(1.0, every_s / 10) if settle_s is None else settle_s
        self.lease_ms = int(every_s * 3 * 1000)
        self.points = 0
        self._previous: tuple[float, dict[str, int]] | None = None

    async def tick(self, now: float) -> TrendPoint | None:
        """Report this process's counter; sample and store a point when holding the lease."""
        await self.store.report_ingest(self.process, self.accepted_events(), now)
        if not await self.store.hold_lease(self.process, self.lease_ms):
            self._previous = None  # another process samples; our baseline goes stale
            return None
        if self.settle_s:
            await asyncio.sleep(self.settle_s)
        point = await self.sample(now)
        await self.store.add(point)
        self.points += 1
        return point

    async def sample(self, now: float) -> TrendPoint:
        counts = await self.store.ingest_counts(now)
        counts[self.process] = self.accepted_events()
        previous = self._previous
        events = events_in_interval(previous[1] if previous else None, counts)
        interval = now - previous[0] if previous else 0.0
        self._previous = (now, counts)
        since = datetime.fromtimestamp(now - ACTIVE_WINDOW_S, UTC)
        active = active_figures(await self.sessions.sessions_since(since))
        lag: int | None = None
        pending: int | None = None
        with contextlib.suppress(Exception):  # the stream unreadable: the point says None
            state = await self.stream.lag(FLUSHER_GROUP)
            lag, pending = int(state["lag"]), int(state["pending"])
        return TrendPoint(
            at=now, interval_s=round(interval, 3), events=events if interval > 0 else None,
            shoppers=active["shoppers"], personas=active["personas"],
            sessions=active["sessions"], converted=active["converted"], lag=lag, pending=pending,
        )  # fmt: skip

    def _next_tick(self, now: float) -> float:
        return float(math.floor(now / self.every_s + 1) * self.every_s)

    async def run(self) -> None:
        """Tick on multiples of `every_s`; log and go on after any error but cancellation."""
        target = self._next_tick(time.time())
        try:
            while True:
                await asyncio.sleep(max(0.0, target - time.time()))
                try:
                    await self.tick(target)
                except asyncio.CancelledError:
                    raise
                except Exception:
                    self._previous = None
                    log.warning("trend sample failed", exc_info=True)
                # Never the same tick twice; ticks missed while this one ran are skipped.
                target = max(target + self.every_s, self._next_tick(time.time()))
        finally:
            with contextlib.suppress(Exception):
                await asyncio.shield(self.store.release_lease(self.process))


async def trend_window(
    store: RedisTrendStore, settings: TrendSettings, name: str, now: float | None = None
) -> dict[str, Any]:
    """A whole window for the charts: its bounds and its non-empty buckets."""
    window = trend_windows(settings)[name]
    now = time.time() if now is None else now
    start, end = window.bounds(now)
    return {
        "window": name, "span_s": window.span_s, "bucket_s": window.bucket_s,
        "sample_every_s": settings.sample_every_s, "from": int(start * 1000),
        "to": int(end * 1000), "now": int(now * 1000),
        "buckets": bucketize(await store.since(start), window, now),
    }  # fmt: skip


async def live_tail(
    store: RedisTrendStore, settings: TrendSettings, now: float | None = None
) -> dict[str, Any]:
    """The last two buckets of each window and the newest point's time (an overview push)."""
    now = time.time() if now is None else now
    by_name = trend_windows(settings)
    points = await store.since(min(w.tail_start(now) for w in by_name.values()))
    tail: dict[str, Any] = {}
    for name, window in by_name.items():
        start, end = window.bounds(now)
        recent = [p for p in points if p.at >= window.tail_start(now)]
        tail[name] = {
            "from": int(start * 1000), "to": int(end * 1000), "bucket_s": window.bucket_s,
            "buckets": bucketize(recent, window, now),
        }  # fmt: skip
    newest = max((p.at for p in points), default=None)
    return {"at": None if newest is None else int(newest * 1000), "windows": tail}
