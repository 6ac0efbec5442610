"""The overview's live trends on a real Valkey and the embedded MongoDB engine.

The app's own sampler records points from real traffic (batches through ingest, stored by
the inline workers); the API buckets them; they are still there after the server restarts.
Then two samplers on one store, as two web processes would run them: one writes each point,
the events of both are counted, and the other takes over when the first is gone.
"""

from __future__ import annotations

import time
from datetime import UTC, datetime, timedelta
from typing import Any

from quart.testing import QuartClient

from server.app import VitrineApp, create_app
from server.domain.trends import TrendPoint
from server.services.trends import TrendSampler
from tests.support.batches import batch, page_event, page_view_id
from tests.support.polling import eventually
from tests.support.shopper import Shopper

ANALYST = ("trend-analyst", "analyst-password-3")
FAST = {"sample_every_s": 1.0}


async def analyst(app: VitrineApp) -> Shopper:
    shopper = Shopper(QuartClient(app.quart))
    await shopper.start()
    form = {"username": ANALYST[0], "password": ANALYST[1], "csrf_token": shopper.csrf}
    assert (await shopper.http.post("/admin/login", form=form)).status_code == 302
    return shopper


async def shop_visit(app: VitrineApp, *, order: bool) -> None:
    """One visitor's batch through POST /record-session-data; with `order`, it converts."""
    shopper = Shopper(app.quart.test_client())
    await shopper.start()
    me = await (await shopper.get("/api/me")).get_json()
    events = [page_event("/cart"), {"k": "cart", "t": 50, "op": "checkout"}]
    if order:
        events.append({"k": "cart", "t": 90, "op": "order"})
    body = batch(me["vid"], me["session_id"], page_view_id(), 0, events, path="/cart")
    response = await shopper.post("/record-session-data", body, csrf=False)
    assert response.status_code == 200, await response.get_data(as_text=True)


async def test_sampled_points_are_bucketed_by_the_api_and_survive_a_restart(
    make_settings: Any,
) -> None:
    settings = make_settings(trends=FAST)
    vitrine = create_app(settings)
    async with vitrine.quart.test_app():
        services = vitrine.services
        assert services.admin.trend_sampler is not None, "the web process runs a sampler"
        await services.admins.create(*ANALYST, "analyst")
        # Its first point is the baseline of the ingest counters: the traffic comes after.
        sampler = services.admin.trend_sampler
        await eventually(lambda: sampler.points >= 1, timeout=15, what="the first point")
        await shop_visit(vitrine, order=True)
        await shop_visit(vitrine, order=False)
        # A shopper the persona worker has already placed (written as the checkpointer would).
        await services.store["sessions"].insert_many(
            [{"_id": "sessionTrendsExpl01", "vid": "visitorTrendsExpl1", "persona": "explorer",
              "arm": "treatment", "started_at": datetime.now(UTC) - timedelta(minutes=2),
              "last_at": datetime.now(UTC), "converted": False}]
        )  # fmt: skip

        async def sampled_the_traffic() -> bool:
            # The events are counted when ingested, the sessions once the workers stored them.
            points = await services.admin.trends.since(time.time() - 60)
            events = sum(p.events or 0 for p in points)
            return events >= 4 and any(p.shoppers == 3 and p.converted == 1 for p in points)

        await eventually(sampled_the_traffic, timeout=30, what="points with the traffic")

        client = await analyst(vitrine)
        status, hour = await client.json("GET", "/admin/api/trends?window=1h")
        assert status == 200
        assert hour["window"] == "1h" and hour["bucket_s"] == 60 and hour["span_s"] == 3600
        assert hour["sample_every_s"] == 1.0 and hour["to"] - hour["from"] == 3_600_000
        assert hour["from"] <= hour["now"] < hour["to"]
        assert hour["buckets"], hour
        assert all(hour["from"] <= b["t"] < hour["to"] for b in hour["buckets"])
        busiest = max(hour["buckets"], key=lambda b: b["shoppers_max"])
        assert busiest["shoppers_max"] == 3
        assert busiest["mix"] is not None and busiest["mix"]["explorer"] > 0
        assert abs(sum(busiest["mix"].values()) - 1) < 1e-3
        assert busiest["conversion"] is not None and 0 < busiest["conversion"] <= 0.5
        assert busiest["lag"] is not None and busiest["lag"] >= 0
        assert any(b["eps"] for b in hour["buckets"]), "the 4 events ingested show as a rate"
        status, day = await client.json("GET", "/admin/api/trends?window=1d")
        assert status == 200 and day["bucket_s"] == 300 and day["buckets"]
        assert max(b["shoppers_max"] for b in day["buckets"]) == 3

        for bad in ("window=2h", "window=", "window=1H", "window=1h%00"):
            status, body = await client.json("GET", f"/admin/api/trends?{bad}")
            assert (status, body["error"]) == (400, "bad_window"), bad
        status, default = await client.json("GET", "/admin/api/trends")
        assert status == 200 and default["window"] == "1h"
        stranger = Shopper(vitrine.quart.test_client())
        await stranger.start()
        assert (await stranger.get("/admin/api/trends?window=1h")).status_code == 401

        # The overview snapshot (API and socket pushes) carries the newest buckets.
        status, overview = await client.json("GET", "/admin/api/overview")
        tail = overview["trends"]
        assert tail["at"] is not None and tail["at"] <= overview_ms(overview)
        assert set(tail["windows"]) == {"1h", "1d"}
        assert 1 <= len(tail["windows"]["1h"]["buckets"]) <= 2
        assert tail["windows"]["1h"]["to"] >= hour["to"]
        stored = len(await services.admin.trends.since(0))
        before_restart = hour["buckets"]

    # A restart within the day: the points are where the new process reads them.
    again = create_app(settings)
    async with again.quart.test_app():
        client = await analyst(again)
        status, hour = await client.json("GET", "/admin/api/trends?window=1h")
        assert status == 200
        kept = {b["t"]: b for b in hour["buckets"]}
        for old in before_restart:
            assert old["t"] in kept, "a bucket from before the restart is gone"
            assert kept[old["t"]]["n"] >= old["n"]
        # ... and the new process samples on (it takes the lease the old one released).
        await eventually(
            lambda: _more_points(again, stored), timeout=15, what="a point after the restart"
        )


def overview_ms(overview: dict[str, Any]) -> int:
    return int(datetime.fromisoformat(overview["at"]).timestamp() * 1000)


async def _more_points(app: VitrineApp, stored: int) -> bool:
    return len(await app.services.admin.trends.since(0)) > stored


async def test_one_of_two_processes_samples_counting_the_events_of_both(
    make_settings: Any,
) -> None:
    # The app's own sampler is off: the two below stand for two web processes.
    vitrine = create_app(make_settings(trends={"enabled": False}))
    async with vitrine.quart.test_app():
        services = vitrine.services
        assert services.admin.trend_sampler is None
        store = services.admin.trends
        accepted = {"a": 0, "b": 0}

        def sampler(name: str) -> TrendSampler:
            return TrendSampler(
                store, services.admin.dashboard, services.pipeline.buffer,
                lambda: accepted[name], every_s=10.0, process=f"host:{name}", settle_s=0.0,
            )  # fmt: skip

        a, b = sampler("a"), sampler("b")
        t0 = float(int(time.time() // 10 * 10))
        first = await a.tick(t0)
        assert first is not None and first.events is None  # no baseline yet: unknown, not 0
        assert await b.tick(t0) is None  # a holds the lease
        assert 0 < await services.redis.pttl(services.keys.trends_lock()) <= 30_000

        accepted.update(a=30, b=12)
        assert await b.tick(t0 + 10) is None  # b reports its counter, a samples
        second = await a.tick(t0 + 10)
        assert second is not None and second.events == 42 and second.interval_s == 10.0

        # a stops (its lease released, as its task's cancellation does): b takes over.
        await store.release_lease(a.process)
        accepted.update(a=35, b=20)
        third = await b.tick(t0 + 20)
        assert third is not None and third.events is None  # b had no baseline of its own
        assert await a.tick(t0 + 20) is None  # a restarted: b holds the lease now
        accepted.update(b=26)
        fourth = await b.tick(t0 + 30)
        # b's baseline read a's report of t0 + 10 (30); a reported 35 since, b 6 more.
        assert fourth is not None and fourth.events == 11

        stored = await store.since(t0)
        assert [p.at for p in stored] == [t0, t0 + 10, t0 + 20, t0 + 30]
        assert all(p.lag is not None and p.pending is not None for p in stored)

        # A process silent for a minute is dropped from the counters.
        await store.report_ingest("host:gone", 999, t0 - 120)
        counts = await store.ingest_counts(t0 + 30)
        assert "host:gone" not in counts and counts["host:b"] == 26
        assert "host:gone" not in await store.ingest_counts(t0 + 30)

        # Points older than a day (and one day bucket) are trimmed at the next write.
        keep = store.keep_s
        await store.add(TrendPoint(at=t0 - keep - 5, interval_s=10, events=1, shoppers=0))
        await store.add(TrendPoint(at=t0 + 40, interval_s=10, events=1, shoppers=0))
        assert [p.at for p in await store.since(0)] == [t0, t0 + 10, t0 + 20, t0 + 30, t0 + 40]
        assert 0 < await services.redis.ttl(services.keys.trends()) <= 2 * 86_400
