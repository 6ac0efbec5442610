"""Heatmap API response time for one page with 1,000,000 events aggregated.

The events are seeded through the flusher's own code: `plan_aggregates` bins them, the
aggregate ledger applies the round (the same Lua commit, without stream entries to
acknowledge) and the checkpointer writes the documents, exactly as the pipeline does. Only
the raw frames are left out (the API never reads them), and the events are folded in one
round per day.
"""

from __future__ import annotations

import random
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import redis.asyncio as aioredis

from server.adapters.aggregate_ledger import RedisAggregateLedger
from server.adapters.event_store import EVENT_INDEXES, MongoEventStore
from server.adapters.mongo_store import MongoStore
from server.pipeline.aggregate import StreamedBatch, plan_aggregates
from server.pipeline.ledger import round_ops
from server.workers.checkpointer import Checkpointer
from tests.bench.load import percentile
from tests.bench.traffic import ShopperTraffic, load_page_views
from tests.support.admin_client import AdminClient

PAGE = "/catalog"
DAYS = 7
PERSONAS = ("unknown", "explorer", "hurried", "bargain_hunter")


async def seed(
    var_dir: Path, redis_url: str, prefix: str, events: int, seed: int = 3
) -> dict[str, Any]:
    """Bin `events` tracker events on PAGE over the last 7 days into the store under var_dir."""
    started = time.perf_counter()
    rng = random.Random(seed)
    views = load_page_views()
    shoppers = [ShopperTraffic(f"vbench{i:08d}", f"sbench{i:08d}", views, i) for i in range(200)]
    today = datetime.now(UTC).replace(hour=12, minute=0, second=0, microsecond=0)
    by_day: list[list[StreamedBatch]] = [[] for _ in range(DAYS)]
    made = 0
    while made < events:
        shopper = rng.choice(shoppers)
        batch = shopper.next_batch()
        batch["path"] = PAGE
        take = min(len(batch["events"]), events - made)
        batch["events"] = batch["events"][:take]
        made += take
        day = rng.randrange(DAYS)
        received = today - timedelta(days=day, minutes=rng.randrange(600))
        by_day[day].append(StreamedBatch(
            f"0-{made}", batch, int(received.timestamp() * 1000),
            "control" if rng.random() < 0.1 else "treatment", rng.choice(PERSONAS),
        ))  # fmt: skip
    store = await MongoStore.open("embedded", "vitrine", var_dir)
    client = aioredis.Redis.from_url(redis_url)
    bins = 0
    try:
        await store.ensure_indexes(EVENT_INDEXES)
        events_store = MongoEventStore(store)
        ledger = RedisAggregateLedger(client, prefix, stream=prefix + "seed")
        checkpointer = Checkpointer(ledger, events_store, max_documents=100_000)
        viewports: dict[str, int] = {}
        for items in by_day:
            plan = plan_aggregates(items, viewports)
            plan.sessions.clear()  # heatmap and scroll only: the API under test reads those
            plan.visitors.clear()
            ops = round_ops(plan, items)
            viewports.update(ops.viewports)
            await ledger.commit("seed", "seed", [], ops)
            bins += len(plan.heatmap_bins)
        while await checkpointer.checkpoint():
            pass
    finally:
        await client.aclose()
        await store.close()
    return {"events": made, "bin_documents": bins,
            "seed_s": round(time.perf_counter() - started, 1)}  # fmt: skip


async def time_api(url: str, user: str, password: str, repeat: int) -> dict[str, Any]:
    """POST /get-movement-data for the seeded page, `repeat` times per kind (after one warm-up)."""
    out: dict[str, Any] = {}
    async with AdminClient(url, user, password) as admin:
        for kind in ("move", "click", "scroll"):
            started = time.perf_counter()
            first = await admin.movement(PAGE, kind)
            cold_ms = round((time.perf_counter() - started) * 1000, 2)
            samples = []
            for _ in range(repeat):
                started = time.perf_counter()
                await admin.movement(PAGE, kind)
                samples.append((time.perf_counter() - started) * 1000)
            total = first.get("total", first.get("views", 0))
            out[kind] = {
                "p50_ms": percentile(samples, 50),
                "p99_ms": percentile(samples, 99),
                "first_ms": cold_ms,
                "count": total,
            }  # fmt: skip
    return out
