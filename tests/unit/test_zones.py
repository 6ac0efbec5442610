"""Zones in the flush plan: views, clicks, and revenue attributed to the zones a visit clicked
the ordered products in (server/domain/zones.py)."""

from __future__ import annotations

from typing import Any

import orjson

from server.domain.zones import ZoneClicks, merge_zones, order_event
from server.pipeline.aggregate import StreamedBatch, plan_aggregates
from server.pipeline.ledger import ZONES, merge_ops, round_ops

RT = 1_760_000_000_500  # 2025-10-09
DAY = "2025-10-09"
PAGE = {"k": "page", "t": 0, "path": "/", "title": "", "ref": "", "vw": 390, "vh": 800,
        "dh": 2000, "dev": "mobile"}  # fmt: skip


def item(seq: int, events: list[dict[str, Any]], *, pvid: str = "pv00000001", path: str = "/", persona: str = "bargain_hunter", arm: str = "treatment") -> StreamedBatch:  # fmt: skip
    batch = {"vid": "visitor01", "sid": "session01", "pvid": pvid, "seq": seq,
             "t0": 1_760_000_000_000, "path": path, "events": events}  # fmt: skip
    return StreamedBatch(f"1-{seq}", batch, RT + seq, arm, persona)


def tile_click(t: int, pid: str, zone: str = "deals") -> dict[str, Any]:
    return {"k": "click", "t": t, "x": 10, "y": 10, "a": f'[data-product-id="{pid}"]',
            "rx": 0.5, "ry": 0.5, "pid": pid, "z": zone}  # fmt: skip


def order(oid: str, *lines: tuple[str, int]) -> StreamedBatch:
    record = order_event({"_id": oid, "lines": [
        {"product_id": pid, "line_total_cents": cents} for pid, cents in lines]})  # fmt: skip
    return item(0, [record], pvid=f"order-{oid}", path="/checkout")


def docs(plan: Any) -> dict[str, dict[str, Any]]:
    return {doc_id: update.inc for doc_id, update in plan.zones.items()}


def test_views_and_clicks_count_per_page_and_zone() -> None:
    plan = plan_aggregates([item(0, [PAGE, {"k": "zone", "t": 1200, "z": "deals"},
                                     {"k": "zone", "t": 1300, "z": "featured"},
                                     tile_click(2000, "p007")])], {})  # fmt: skip
    assert docs(plan) == {
        f"{DAY}|mobile|bargain_hunter|treatment|/|deals": {"views": 1, "clicks": 1},
        f"{DAY}|mobile|bargain_hunter|treatment|/|featured": {"views": 1},
    }
    meta = plan.zones[f"{DAY}|mobile|bargain_hunter|treatment|/|deals"].on_insert
    assert meta == {"day": DAY, "vc": "mobile", "persona": "bargain_hunter",
                    "arm": "treatment", "path": "/", "zone": "deals"}  # fmt: skip


def test_an_order_credits_the_zone_its_product_was_clicked_in_in_an_earlier_round() -> None:
    first = plan_aggregates([item(0, [PAGE, tile_click(2000, "p007")])], {})
    carried = orjson.loads(orjson.dumps(first.carry))  # as carry:<sid> keeps it
    later = plan_aggregates([order("o1", ("p007", 4599), ("p020", 1000))], {}, carried)
    assert docs(later) == {
        f"{DAY}|mobile|bargain_hunter|treatment|/|deals": {"revenue_cents": 4599, "orders": 1}
    }
    assert later.sessions == {} and later.heatmap_bins == {}  # no page view, no events


def test_an_order_without_a_zone_click_credits_nothing() -> None:
    plan = plan_aggregates([item(0, [PAGE, {**tile_click(10, "p001"), "z": "featured"}]),
                            order("o2", ("p007", 4599))], {})  # fmt: skip
    assert docs(plan) == {f"{DAY}|mobile|bargain_hunter|treatment|/|featured": {"clicks": 1}}


def test_a_product_clicked_in_two_zones_credits_both_and_each_order_counts_once() -> None:
    zones = ZoneClicks()
    zones.click("p007", "/", "deals", "mobile")
    zones.click("p007", "/catalog", "grid", "mobile")
    zones.click("p007", "/", "deals", "mobile")  # again: no second credit
    credited = zones.attribute([("p007", 100)])
    assert [(c.path, c.zone, c.revenue_cents) for c in credited] == [
        ("/", "deals", 100), ("/catalog", "grid", 100),
    ]  # fmt: skip
    plan = plan_aggregates([item(0, [PAGE, tile_click(1, "p007"), tile_click(2, "p009")]),
                            order("o3", ("p007", 100), ("p009", 50))], {})  # fmt: skip
    assert docs(plan)[f"{DAY}|mobile|bargain_hunter|treatment|/|deals"] == {
        "clicks": 2, "revenue_cents": 150, "orders": 1,
    }  # fmt: skip


def test_the_visit_memory_is_bounded() -> None:
    zones = ZoneClicks()
    for n in range(500):
        zones.click(f"p{n % 1000:03d}", "/", "deals", "desktop")
    assert len(zones.products) == 200 and "p499" in zones.products and "p000" not in zones.products


def test_zone_documents_become_ledger_ops_and_fold_back_as_counts() -> None:
    items = [item(0, [PAGE, tile_click(5, "p001")])]
    ops = round_ops(plan_aggregates(items, {}), items)
    assert ZONES in {k.kind for k in ops.keys}
    stored = {"_id": "x", "zone": "deals", "views": 3, "clicks": 1, "revenue_cents": 500,
              "orders": 1, "gen": 2}  # fmt: skip
    assert {f: op for op, f, _ in merge_ops(ZONES, stored)} == {
        "zone": "O", "views": "I", "clicks": "I", "revenue_cents": "I", "orders": "I",
    }  # fmt: skip


def test_merged_zones_rank_by_revenue_with_click_rates() -> None:
    rows = merge_zones([
        {"zone": "deals", "views": 10, "clicks": 4, "orders": 1, "revenue_cents": 4599},
        {"zone": "deals", "views": 10, "clicks": 1},
        {"zone": "nav", "views": 0, "clicks": 3},
    ])  # fmt: skip
    assert rows == [
        {"zone": "deals", "views": 20, "clicks": 5, "click_rate": 0.25, "orders": 1,
         "revenue_cents": 4599},
        {"zone": "nav", "views": 0, "clicks": 3, "click_rate": None, "orders": 0,
         "revenue_cents": 0},
    ]  # fmt: skip
