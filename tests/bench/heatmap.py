"""Heatmap, frustration and zone API response times for one page with 1,000,000 events.

The events are seeded through the flusher's own code: `plan_aggregates` bins them, the
aggregate ledger applies the round (the same Lua commit, without stream entries to
acknowledge) and the checkpointer writes the documents, exactly as the pipeline does. Only
the raw frames are left out (the API never reads them), and the events are folded in one
round per day. The simulated traffic gets the tracker's newer facts mixed in (zones named on
clicks, zone views, rage bursts, dead clicks) and now and then an order: every document kind
the console reads is as full as the traffic makes it.
"""

from __future__ import annotations

import random
import time
import zlib
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import orjson
import redis.asyncio as aioredis

from server.adapters.aggregate_ledger import RedisAggregateLedger
from server.adapters.event_store import EVENT_INDEXES, MongoEventStore
from server.adapters.mongo_store import MongoStore
from server.domain.zones import order_record
from server.pipeline.aggregate import StreamedBatch, plan_aggregates
from server.pipeline.ledger import round_ops
from server.workers.checkpointer import Checkpointer
from tests.bench.load import percentile
from tests.bench.traffic import ShopperTraffic, load_page_views
from tests.support.admin_client import AdminClient

PAGE = "/catalog"
DAYS = 7
PERSONAS = ("unknown", "explorer", "hurried", "bargain_hunter")
ZONES = ("results", "filters", "nav", "search", "cart", "deals")


def _with_newer_facts(batch: dict[str, Any], rng: random.Random) -> list[dict[str, Any]]:
    """The batch's events with zone names, a zone view, rage bursts and dead clicks."""
    events: list[dict[str, Any]] = []
    for event in batch["events"]:
        events.append(event)
        if event["k"] != "click":
            continue
        event["z"] = ZONES[zlib.crc32(event["a"].encode()) % len(ZONES)]
        if rng.random() < 0.05:  # a rage burst on the same spot
            events.extend({**event, "t": event["t"] + dt} for dt in (120, 240))
        if rng.random() < 0.1:  # a dead click: the tracker's report of what followed
            events.append({"k": "outcome", "t": event["t"] + 2000, "ct": event["t"],
                           "a": event["a"], "x": event["x"], "y": event["y"],
                           "rx": event["rx"], "ry": event["ry"], "ia": 0})  # fmt: skip
    if rng.random() < 0.2:
        events.append({"k": "zone", "t": events[-1]["t"], "z": rng.choice(ZONES)})
    return events


def _order(batch: dict[str, Any], n: int) -> dict[str, Any]:
    """The server's record of an order of a product this shopper's batch clicked."""
    pid = next((e["pid"] for e in batch["events"] if e["k"] == "click" and "pid" in e), "p001")
    order = {"_id": f"obench{n:08d}", "lines": [{"product_id": pid, "line_total_cents": 4599}]}
    return order_record(order, batch["vid"], batch["sid"], batch["t0"])


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
        batch["events"] = _with_newer_facts(batch, rng)
        take = min(len(batch["events"]), events - made)
        batch["events"] = batch["events"][:take]
        made += take
        day = rng.randrange(DAYS)
        received = today - timedelta(days=day, minutes=rng.randrange(600))
        arm = "control" if rng.random() < 0.1 else "treatment"
        persona = rng.choice(PERSONAS)
        rt = int(received.timestamp() * 1000)
        by_day[day].append(StreamedBatch(f"0-{made}", batch, rt, arm, persona))
        if rng.random() < 0.01:
            record = _order(batch, made)
            by_day[day].append(StreamedBatch(f"1-{made}", record, rt, arm, persona))
    store = await MongoStore.open("embedded", "vitrine", var_dir)
    client = aioredis.Redis.from_url(redis_url)
    bins = signal_docs = zone_docs = 0
    try:
        await store.ensure_indexes(EVENT_INDEXES)
        events_store = MongoEventStore(store)
        ledger = RedisAggregateLedger(client, prefix, stream=prefix + "seed")
        checkpointer = Checkpointer(ledger, events_store, max_documents=100_000)
        viewports: dict[str, int] = {}
        carry: dict[str, dict[str, Any]] = {}
        for items in by_day:
            plan = plan_aggregates(items, viewports, carry)
            carry.update(plan.carry)
            plan.sessions.clear()  # the APIs under test read bins, scroll, signals and zones
            plan.visitors.clear()
            plan.carry.clear()
            ops = round_ops(plan, items)
            viewports.update(ops.viewports)
            await ledger.commit("seed", "seed", [], ops)
            bins += len(plan.heatmap_bins)
            signal_docs += len(plan.frustration)
            zone_docs += len(plan.zones)
        while await checkpointer.checkpoint():
            pass
    finally:
        await client.aclose()
        await store.close()
    return {"events": made, "bin_documents": bins, "frustration_documents": signal_docs,
            "zone_documents": zone_docs,
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
        reads = {
            "frustration": f"/admin/api/frustration?page={PAGE}",
            "frustration_pages": "/admin/api/frustration/pages",
            "zones": f"/admin/api/zones?page={PAGE}",
        }
        for name, path in reads.items():
            samples = []
            for _ in range(repeat + 1):  # the first is the warm-up
                started = time.perf_counter()
                status, body = await admin._get(path)
                samples.append((time.perf_counter() - started) * 1000)
                assert status == 200, (path, status, body[:200])
            answer = orjson.loads(body)
            count = (sum(answer["totals"].values()) if name == "frustration"
                     else len(answer.get("pages", answer.get("zones", []))))  # fmt: skip
            out[name] = {"p50_ms": percentile(samples[1:], 50),
                         "p99_ms": percentile(samples[1:], 99),
                         "first_ms": round(samples[0], 2), "count": count}  # fmt: skip
    return out
