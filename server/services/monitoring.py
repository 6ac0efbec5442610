"""What the operators see: pipeline health, ingest figures and the admin overview.

/healthz, the admin overview page and its live pushes (server/sockets/admin.py) all read
these, so the figures are computed one way wherever they are shown.
"""

from __future__ import annotations

import time
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime, timedelta
from typing import Any

from server.adapters.dashboard_store import conversion_by_persona, persona_counts
from server.container import Services
from server.domain.frustration_report import page_views, struggle_summary
from server.domain.trends import ACTIVE_WINDOW_S
from server.services.trends import live_tail
from server.workers.health import expected_workers, pipeline_health

ACTIVE_WINDOW = timedelta(seconds=ACTIVE_WINDOW_S)
DAY_CACHE_S = 30.0  # the 24-hour figures move slowly; recompute them at most this often
# The struggling pages follow the flusher's rounds (a few seconds apart): fresh enough to
# watch a bad release land, and the overview's pushes every ~2 s read them from memory.
STRUGGLE_CACHE_S = 10.0
STRUGGLE_ROWS = 10


async def _cached(
    shop: Services, name: str, max_age_s: float, compute: Callable[[], Awaitable[Any]]
) -> Any:
    """A figure computed at most every `max_age_s` per process, whoever asks for it."""
    cached = shop.admin.figures.get(name)
    if cached and time.monotonic() - cached[0] < max_age_s:
        return cached[1]
    value = await compute()
    shop.admin.figures[name] = (time.monotonic(), value)
    return value


async def pipeline_state(shop: Services) -> dict[str, Any]:
    """The workers' heartbeats, the stream's lag and backpressure (any process's workers)."""
    settings = shop.settings
    expected = expected_workers(settings)
    return await pipeline_health(
        shop.pipeline.heartbeat, shop.pipeline.buffer, shop.pipeline.ledger,
        expected=expected, stall_after_s=settings.workers.stall_after_s,
        writes=shop.pipeline.write_buffer,
    )  # fmt: skip


async def _day_figures(shop: Services, now: datetime) -> dict[str, Any]:
    reads = shop.admin.dashboard
    since = now - timedelta(hours=24)
    sessions = await reads.sessions_since(since)
    converted = [s["vid"] for s in sessions if s.get("converted")]
    orders = await reads.orders_since(converted, since)
    return {
        "sessions": len(sessions),
        "personas": persona_counts(sessions),
        "conversion": conversion_by_persona(sessions, orders),
    }


async def _struggle(shop: Services, now: datetime) -> dict[str, Any]:
    """Frustration signals on every page, today and yesterday (UTC): the aggregates' days."""
    today = now.date()
    days = [(today - timedelta(days=1)).isoformat(), today.isoformat()]
    events = shop.pipeline.events
    docs = await events.frustration_documents(None, days, {})
    views = page_views(await events.page_view_counts(None, days, {}))
    return {"days": days, **struggle_summary(docs, views, limit=STRUGGLE_ROWS)}


async def pipeline_figures(shop: Services) -> dict[str, Any]:
    """Ingest rate, stream length, pending entries, flusher and persona worker delays."""
    ingest = shop.pipeline.ingest.snapshot()
    rate = shop.admin.ingest_rate
    figures: dict[str, Any] = {
        "events_per_second": rate.sample(int(ingest["accepted_events"])),
        "accepted_events": ingest["accepted_events"],
        "accepted_batches": ingest["accepted_batches"],
        "rejected": sum(ingest["rejected"].values()),
        "connections": shop.connections.open,
    }
    try:
        health = await pipeline_state(shop)
    except Exception:  # Redis down: the dashboard says so instead of failing
        health = None
    workers = health["workers"] if health else {}
    figures["flusher"] = workers.get("flusher")
    figures["personas"] = workers.get("personas")
    figures["workers"] = workers
    figures["backpressure"] = bool(health and health["backpressure"])
    writer = shop.pipeline.replay_writer
    figures["replay"] = writer.stats.snapshot() if writer is not None else None
    try:
        figures["stream"] = await shop.pipeline.buffer.lag("flusher")
    except Exception:  # Redis down: the dashboard says so instead of failing
        figures["stream"] = None
    return figures


async def overview_snapshot(shop: Services) -> dict[str, Any]:
    """Everything the overview shows; also pushed over /admin every ~2 s."""
    now = datetime.now(UTC)
    reads = shop.admin.dashboard
    active = await reads.sessions_since(now - ACTIVE_WINDOW)
    return {
        "at": now.isoformat(),
        "active": {"shoppers": len({s["vid"] for s in active}), "sessions": len(active)},
        "personas_now": persona_counts(active),
        "last_24h": await _cached(shop, "day", DAY_CACHE_S, lambda: _day_figures(shop, now)),
        "struggle": await _cached(shop, "struggle", STRUGGLE_CACHE_S, lambda: _struggle(shop, now)),
        "pipeline": await pipeline_figures(shop),
        "trends": await _trend_tail(shop),
    }


async def _trend_tail(shop: Services) -> dict[str, Any] | None:
    """The trend charts' newest buckets (server/services/trends.py); None with Redis down."""
    try:
        return await live_tail(shop.admin.trends, shop.settings.trends)
    except Exception:  # Redis down: the rest of the overview still shows
        return None
