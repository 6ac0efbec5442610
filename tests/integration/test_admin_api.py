"""The admin JSON APIs over stored summaries: sessions list, heatmaps, overview.

Documents are written the way their writers write them (session summaries, orders,
persona history, exposures, bins from the flusher's plan), then read back through the API.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from quart.testing import QuartClient

from server.adapters.embedded_valkey import EmbeddedValkey
from server.app import VitrineApp, create_app
from server.pipeline.aggregate import StreamedBatch, plan_aggregates
from tests.support.batches import batch, click, page_event
from tests.support.settings import build_settings, unique_name
from tests.support.shopper import Shopper

ANALYST = ("api-analyst", "analyst-password-2")
NOW = datetime.now(UTC)
PERSONAS = ("explorer", "hurried", "bargain_hunter", "unknown")


def session_doc(i: int) -> dict[str, Any]:
    started = NOW - timedelta(minutes=2 * i + 3)
    return {
        "_id": f"session{i:012d}",
        "vid": f"visitor{i % 7:010d}",
        "arm": "control" if i % 5 == 0 else "treatment",
        "persona": PERSONAS[i % 4],
        "started_at": started,
        "last_at": started + timedelta(minutes=1, seconds=i),
        "events": 10 + i,
        "page_views": 1 + i % 3,
        "clicks": i,
        "converted": i % 6 == 0,
        "pages": {f"pv{i}a": {"path": "/", "t0": 1}, f"pv{i}b": {"path": "/product/p001", "t0": 2}},
    }


@pytest.fixture(scope="module")
async def api_app(
    valkey: EmbeddedValkey, models_dir: Path, tmp_path_factory: pytest.TempPathFactory
) -> AsyncIterator[VitrineApp]:
    name = unique_name()
    settings = build_settings(name, tmp_path_factory.mktemp(name), models_dir, valkey.url)
    global NOW  # "now" is when the data is written: the run may reach this module minutes late
    NOW = datetime.now(UTC)
    vitrine = create_app(settings)
    async with vitrine.quart.test_app_class(vitrine.quart, startup_timeout=120):
        store = vitrine.services.store
        await vitrine.services.admins.create(*ANALYST, "analyst")
        sessions = [session_doc(i) for i in range(30)]
        sessions.append({**session_doc(99), "last_at": NOW - timedelta(days=10)})
        await store["sessions"].insert_many(sessions)
        await store["orders"].insert_many(
            [{"_id": f"o{i}", "vid": s["vid"], "session_id": s["_id"], "idempotency_key": f"k{i}",
              "total_cents": 1250 * (i + 1), "persona": s["persona"], "arm": s["arm"],
              "created_at": s["last_at"]}
             for i, s in enumerate(s for s in sessions[:30] if s["converted"])]
        )  # fmt: skip
        await store["persona_history"].insert_many(
            [{"vid": "visitor0000000001", "sid": "session000000000001", "at": NOW - timedelta(minutes=4),
              "persona": p, "shown": p, "confidence": 0.8, "changed": True}
             for p in ("hurried", "explorer")]
        )  # fmt: skip
        await store["exposures"].insert_many(
            [{"vid": "visitor0000000001", "sid": "session000000000001", "at": NOW,
              "adaptation": "tutorial", "persona": "explorer", "arm": "treatment"}]
        )  # fmt: skip
        yield vitrine


async def analyst(app: VitrineApp) -> Shopper:
    shopper = Shopper(QuartClient(app.quart))
    await shopper.start()
    form = {"username": ANALYST[0], "password": ANALYST[1], "csrf_token": shopper.csrf}
    assert (await shopper.http.post("/admin/login", form=form)).status_code == 302
    return shopper


async def test_sessions_list_pages_filters_and_joins(api_app: VitrineApp) -> None:
    client = await analyst(api_app)
    status, first = await client.json("GET", "/admin/api/sessions")
    assert status == 200
    assert first["page_size"] == 25 and first["has_more"] is True and len(first["sessions"]) == 25
    last_at = [row["last_at"] for row in first["sessions"]]
    assert last_at == sorted(last_at, reverse=True)
    status, second = await client.json("GET", "/admin/api/sessions?page=2")
    assert len(second["sessions"]) == 5 and second["has_more"] is False  # the 10-day-old one is out
    status, older = await client.json(
        "GET", f"/admin/api/sessions?from={(NOW - timedelta(days=11)).date()}&page=2"
    )
    assert len(older["sessions"]) == 6

    row = next(r for r in first["sessions"] if r["session_id"] == "session000000000001")
    assert [step["persona"] for step in row["persona_timeline"]] == ["hurried", "explorer"]
    assert row["exposures"] == 1 and row["pages"] == ["/", "/product/p001"]
    assert row["duration_s"] == 61.0 and row["started_at"].endswith("+00:00")
    converted = [r for r in first["sessions"] + second["sessions"] if r["converted"]]
    assert converted and all(r["order_cents"] for r in converted)
    assert all(r["order_cents"] is None for r in first["sessions"] if not r["converted"])

    for query, check in (
        ("persona=hurried", lambda r: r["persona"] == "hurried"),
        ("arm=control", lambda r: r["arm"] == "control"),
        ("converted=1", lambda r: r["converted"]),
        ("converted=0", lambda r: not r["converted"]),
        ("vid=visitor0000000003", lambda r: r["vid"] == "visitor0000000003"),
    ):
        status, body = await client.json("GET", f"/admin/api/sessions?{query}")
        assert status == 200 and body["sessions"], query
        assert all(check(r) for r in body["sessions"]), query
    for bad in ("persona=wizard", "arm=x", "converted=yes", "page=0", "vid=%24gt", "from=tomorrow"):
        status, body = await client.json("GET", f"/admin/api/sessions?{bad}")
        assert status == 400 and body["error"] == "invalid_field", bad


async def test_heatmap_api_reads_the_flushed_bins(api_app: VitrineApp) -> None:
    events = [page_event("/product/p001", 1920), click(10, "#buy"), click(20, "#buy")]
    events += [
        {"k": "move", "t": 30, "x": 960, "y": 400},
        {"k": "scroll", "t": 40, "y": 900, "d": 0.75},
    ]
    item = StreamedBatch(
        "1-0", batch("visitor0000000001", "session000000000001", "pageview00000001", 0, events),
        int(NOW.timestamp() * 1000), "treatment", "explorer",
    )  # fmt: skip
    plan = plan_aggregates([item], {})
    store = api_app.services.pipeline.events
    await store.heatmap_bins.insert_many(
        [update.as_new_document(bin_id) for bin_id, update in plan.heatmap_bins.items()]
    )
    scroll_id, _, bucket = plan.scroll_reached[-1]
    await store.scroll_depth.insert_many(
        [{"_id": scroll_id, **plan.scroll_meta[scroll_id],
          "reached": {str(b): 1 for b in range(bucket + 1)}}]
    )  # fmt: skip
    client = await analyst(api_app)
    status, clicks = await client.json("GET", "/admin/api/heatmap?page=/product/p001&kind=click")
    assert status == 200
    assert clicks["total"] == 2
    assert clicks["anchors"] == [{"selector": "#buy", "cells": [[10, 10, 2]]}]
    status, moves = await client.json(
        "GET", "/admin/api/heatmap?page=/product/p001&kind=move&viewport_class=desktop"
        "&persona=explorer&arm=treatment&from=&to="
    )  # fmt: skip
    assert moves["total"] == 1 and moves["page"] == [[50, 20, 1]]
    status, none = await client.json(
        "GET", "/admin/api/heatmap?page=/product/p001&kind=click&persona=hurried"
    )
    assert none["total"] == 0
    status, scroll = await client.json("GET", "/admin/api/heatmap?page=/product/p001&kind=scroll")
    assert scroll["views"] == 1 and scroll["depths"][15]["share"] == 1.0
    assert scroll["depths"][16]["share"] == 0.0
    status, pages = await client.json("GET", "/admin/api/heatmap/pages")
    assert "/product/p001" in pages["pages"]
    for bad in ("kind=click", "page=/x&kind=heat", "page=nopath&kind=click"):
        status, _ = await client.json("GET", f"/admin/api/heatmap?{bad}")
        assert status == 400, bad


async def test_overview_counts_active_shoppers_personas_and_conversion(
    api_app: VitrineApp,
) -> None:
    client = await analyst(api_app)
    status, overview = await client.json("GET", "/admin/api/overview")
    assert status == 200
    # Active = last seen within 5 minutes: sessions 0 and 1 (last_at 2 min and ~4 min ago).
    assert overview["active"]["sessions"] == 2
    assert sum(overview["personas_now"].values()) == 2
    day = overview["last_24h"]
    assert day["sessions"] == 30
    assert sum(day["personas"].values()) == 30
    # Session i shows PERSONAS[i % 4] and converted when i % 6 == 0.
    explorer = day["conversion"]["explorer"]  # i = 0, 4 … 28; converted 0, 12, 24
    assert explorer["sessions"] == 8 and explorer["converted"] == 3 and explorer["rate"] == 0.375
    hunter = day["conversion"]["bargain_hunter"]  # i = 2, 6 … 26; converted 6, 18
    assert hunter["converted"] == 2 and hunter["rate"] == round(2 / 7, 4)
    assert hunter["revenue_cents"] > 0
    pipeline = overview["pipeline"]
    assert {"events_per_second", "stream", "flusher", "personas", "replay"} <= set(pipeline)
