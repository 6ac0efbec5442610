"""Frustration signals through the real pipeline: socket → stream → flusher → checkpoint →
the admin APIs (page signals, struggling pages, sessions filter, replay markers)."""

from __future__ import annotations

from typing import Any

import orjson

from server.adapters.event_store import MongoEventStore
from tests.support.admin_client import AdminClient
from tests.support.batches import batch, page_event, page_view_id
from tests.support.live_server import running_app, visitor_cookie
from tests.support.polling import eventually
from tests.support.settings import UNLIMITED
from tests.support.sockets import connect

ADMIN = ("fx-admin", "frustration-password-1")


def tile_click(t: int, x: int = 300, y: int = 420) -> dict[str, Any]:
    return {"k": "click", "t": t, "x": x, "y": y, "a": "[data-product-id=\"p001\"]",
            "rx": 0.5, "ry": 0.5, "ia": 1}  # fmt: skip


def dead_outcome(ct: int) -> dict[str, Any]:
    return {"k": "outcome", "t": ct + 2000, "ct": ct, "a": "#hero-image", "x": 640, "y": 200,
            "rx": 0.1, "ry": 0.9, "ia": 0}  # fmt: skip


def visit_batches(vid: str, sid: str) -> list[dict[str, Any]]:
    """A rage click split over two batches and a dead click on /catalog, then a product
    left after 2 s back to the catalog (a quick back on /product/p001)."""
    t0 = 1_760_000_000_000
    catalog, product, back = page_view_id(), page_view_id(), page_view_id()
    return [
        batch(vid, sid, catalog, 0, [page_event("/catalog"), tile_click(1000), tile_click(1200)],
              "/catalog", t0),
        batch(vid, sid, catalog, 1, [tile_click(1400, 310), dead_outcome(3000)], "/catalog", t0),
        batch(vid, sid, product, 0, [page_event("/product/p001")], "/product/p001", t0 + 9000),
        batch(vid, sid, back, 0, [page_event("/catalog")], "/catalog", t0 + 11_000),
    ]  # fmt: skip


async def _signals_stored(events: MongoEventStore) -> dict[str, dict[str, int]]:
    found: dict[str, dict[str, int]] = {}
    async for doc in events.frustration.find({}):
        counts = found.setdefault(doc["path"], {})
        for kind, n in doc.get("n", {}).items():
            counts[kind] = counts.get(kind, 0) + n
    return found


async def test_signals_are_counted_once_and_read_back_through_the_admin_apis(
    make_settings: Any,
) -> None:
    async with running_app(make_settings(tracking=UNLIMITED)) as (app, url):
        await app.services.admins.create(*ADMIN, "admin")
        cookie, me = await visitor_cookie(url)
        client = await connect(url, cookie)
        for item in visit_batches(me["vid"], me["session_id"]):
            assert await client.call("batch", item, namespace="/track") == {
                "ok": True, "seq": item["seq"],
            }  # fmt: skip
            # A resend after a lost ack is dropped at ingest: it must not count again.
            await client.call("batch", item, namespace="/track")
        await client.disconnect()
        expected = {"/catalog": {"rage": 1, "dead": 1}, "/product/p001": {"quick_back": 1}}
        events = app.services.pipeline.events

        async def stored() -> bool:
            return await _signals_stored(events) == expected

        await eventually(stored, timeout=60)

        async with AdminClient(url, *ADMIN) as admin:
            status, body = await admin._get("/admin/api/frustration?page=/catalog")
            assert status == 200, body
            page = orjson.loads(body)
            assert page["totals"] == {"rage": 1, "dead": 1, "error": 0, "quick_back": 0,
                                      "thrash": 0}  # fmt: skip
            assert page["views"] == 2  # two page views of /catalog
            assert page["per_100_views"]["rage"] == 50.0
            anchors = {row["selector"]: row["counts"] for row in page["anchors"]}
            assert anchors == {'[data-product-id="p001"]': {"rage": 1}, "#hero-image": {"dead": 1}}
            [dead_layer] = page["layers"]["dead"]["anchors"]
            assert dead_layer == {"selector": "#hero-image", "cells": [[2, 18, 1]]}
            assert page["layers"]["rage"]["page"] == [[24, 21, 1]]  # 310 px of 1280, y 420

            status, body = await admin._get("/admin/api/frustration/pages")
            assert status == 200, body
            summary = orjson.loads(body)
            pages = {row["page"]: row for row in summary["pages"]}
            assert pages["/catalog"]["signals"] == 2 and pages["/catalog"]["views"] == 2
            assert pages["/product/p001"]["counts"]["quick_back"] == 1
            everywhere = {"rage": 1, "dead": 1, "error": 0, "quick_back": 1, "thrash": 0}
            assert summary["totals"] == everywhere and summary["views"] == 3

            # The overview lists them: both under 20 views, so by rate (1 per view), then
            # by signals (the catalog's 2 first).
            status, body = await admin._get("/admin/api/overview")
            assert status == 200, body
            struggle = orjson.loads(body)["struggle"]
            assert struggle["totals"] == everywhere
            assert [(row["page"], row["signals"], row["ranked"]) for row in struggle["pages"]] == [
                ("/catalog", 2, False), ("/product/p001", 1, False),
            ]  # fmt: skip

            sid = me["session_id"]

            async def session_with_signals() -> list[dict[str, Any]]:
                status, body = await admin._get("/admin/api/sessions?signal=rage")
                assert status == 200, body
                return [s for s in orjson.loads(body)["sessions"] if s["session_id"] == sid]

            [row] = await eventually(session_with_signals, timeout=30)
            assert row["frustration"] == {"rage": 1, "dead": 1, "quick_back": 1}
            status, body = await admin._get("/admin/api/sessions?signal=thrash")
            assert [s["session_id"] for s in orjson.loads(body)["sessions"]] == []

            status, body = await admin._get(f"/admin/api/sessions/{sid}/replay")
            assert status == 200, body
            markers = [m for m in orjson.loads(body)["markers"] if m["kind"] == "frustration"]
            assert [(m["label"], m["t"], m["page"]) for m in markers] == [
                ("rage", 1_760_000_001_400, "/catalog"),
                ("dead", 1_760_000_003_000, "/catalog"),
                ("quick_back", 1_760_000_009_000, "/product/p001"),
            ]


async def test_bad_queries_get_a_stable_error_and_change_nothing(make_settings: Any) -> None:
    async with running_app(make_settings()) as (app, url):
        await app.services.admins.create(*ADMIN, "admin")
        async with AdminClient(url, *ADMIN) as admin:
            for path in (
                "/admin/api/frustration",  # no page
                "/admin/api/frustration?page=no-slash",
                "/admin/api/frustration?page=/&persona=$ne",
                "/admin/api/frustration/pages?from=yesterday",
                "/admin/api/frustration/pages?viewport_class=watch",
                "/admin/api/sessions?signal=sadness",
            ):
                status, body = await admin._get(path)
                assert status == 400, (path, body)
                assert orjson.loads(body)["error"] in ("invalid_field", "missing_field"), path
        assert await app.services.pipeline.events.frustration.count_documents({}) == 0
