"""Batch → documents, heatmap binning and projection, ingest idempotency (pure, with fakes)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import orjson

from server.domain.heatmap import (
    Box,
    anchor_cell,
    anchor_key,
    merge_bins,
    merge_scroll,
    page_cell,
    project_anchor_cell,
    project_page_cell,
    scroll_bucket,
    viewport_class,
)
from server.pipeline.aggregate import StreamedBatch, chunk_document, plan_aggregates
from server.pipeline.batch_schema import Limits
from server.pipeline.ingest import Ingest

FIXTURES = Path(__file__).parent.parent / "fixtures" / "streams"
RECEIVED_MS = 1764158401000  # 2025-11-26


def streamed(persona: str = "unknown") -> list[StreamedBatch]:
    batches = json.loads((FIXTURES / "product_visit.json").read_text())["batches"]
    return [
        StreamedBatch(f"1-{i}", batch, RECEIVED_MS + i * 1000, "treatment", persona)
        for i, batch in enumerate(batches)
    ]


def test_chunk_document_is_keyed_by_page_view_and_sequence() -> None:
    doc = chunk_document(streamed()[1])
    assert doc["_id"] == "pageviewAAAA0001:1"
    assert doc["n"] == 4 and doc["sid"] == "sessionAAAA0000" and doc["agg"] is False


def test_session_summary_from_a_visit() -> None:
    plan = plan_aggregates(streamed(), {})
    session = plan.sessions["sessionAAAA0000"]
    doc = session.as_new_document("sessionAAAA0000")
    assert doc["events"] == 8 and doc["clicks"] == 1 and doc["cart_actions"] == 1
    assert doc["page_views"] == 1 and doc["max_depth"] == 0.6 and doc["active_ms"] == 3900
    assert doc["pages"]["pageviewAAAA0001"]["path"] == "/product/p012"
    assert doc["vid"] == "visitorAAAA0000" and doc["arm"] == "treatment"
    assert (doc["last_at"] - doc["started_at"]).total_seconds() == 1.0
    assert plan.events == 8


def test_click_is_binned_both_ways_and_move_page_relative() -> None:
    plan = plan_aggregates(streamed("bargain_hunter"), {})
    click_bin = plan.heatmap_bins["2025-11-26|click|desktop|bargain_hunter|treatment|/product/p012"]
    selector = '[data-product-id="p012"] [data-action="add-to-cart"]'
    key = anchor_key(selector)
    assert click_bin.inc == {"page.54:26": 1, f"anchor.{key}.5:10": 1, "n": 1}
    assert click_bin.set[f"anchors.{key}"] == selector
    move_bin = plan.heatmap_bins["2025-11-26|move|desktop|bargain_hunter|treatment|/product/p012"]
    assert move_bin.inc["n"] == 2


def test_viewport_width_from_an_earlier_batch_is_used() -> None:
    second = streamed()[1:]
    plan = plan_aggregates(second, {"pageviewAAAA0001": 600})
    assert any("|click|mobile|" in key for key in plan.heatmap_bins)


def test_scroll_reach_marks_deepest_bucket_per_view() -> None:
    plan = plan_aggregates(streamed(), {})
    buckets = [bucket for _, _, bucket in plan.scroll_reached]
    assert buckets == [0, 12]


def test_binning_functions() -> None:
    assert [viewport_class(w) for w in (360, 800, 1280)] == ["mobile", "tablet", "desktop"]
    assert page_cell(1279, 39, 1280) == "99:1"
    assert page_cell(5000, 0, 1280) == "99:0"
    assert anchor_cell("#a", 1.0, 0.0).endswith(":19:0")
    assert scroll_bucket(0.0) == 0 and scroll_bucket(0.6) == 12 and scroll_bucket(1.0) == 20


def test_anchor_projection_lands_on_the_same_element_at_two_widths() -> None:
    # The same button is wider and further right at 1920 px than at 1280 px.
    at_1280 = Box(left=900, top=500, width=200, height=40)
    at_1920 = Box(left=1400, top=480, width=260, height=48)
    for box in (at_1280, at_1920):
        x, y = project_anchor_cell(box, 5, 10)
        assert box.left <= x <= box.left + box.width
        assert box.top <= y <= box.top + box.height
        assert x == box.left + 5.5 / 20 * box.width
    assert project_page_cell(50, 10, 1280) == (646.4, 210.0)
    assert project_page_cell(50, 10, 1920)[0] == 969.6


def test_merge_bins_sums_documents() -> None:
    docs = [
        {"n": 2, "page": {"1:2": 2}, "anchor": {"k1": {"3:4": 2}}, "anchors": {"k1": "#buy"}},
        {"n": 1, "page": {"1:2": 1}, "anchor": {"k1": {"3:4": 1}}, "anchors": {"k1": "#buy"}},
    ]
    merged = merge_bins(docs)
    assert merged["total"] == 3
    assert merged["page"] == [[1, 2, 3]]
    assert merged["anchors"] == [{"selector": "#buy", "cells": [[3, 4, 3]]}]
    scroll = merge_scroll([{"reached": {"0": 4, "10": 2}}])
    assert scroll["views"] == 4 and scroll["depths"][10]["share"] == 0.5


class FakeBuffer:
    def __init__(self) -> None:
        self.seen: set[tuple[str, int]] = set()
        self.entries: list[bytes] = []

    async def append_once(self, pvid: str, seq: int, payload: bytes) -> bool:
        if (pvid, seq) in self.seen:
            return False
        self.seen.add((pvid, seq))
        self.entries.append(payload)
        return True


async def test_ingest_appends_once_per_page_view_and_sequence() -> None:
    buffer = FakeBuffer()
    ingest = Ingest(buffer, Limits(), holdout_fraction=0.0)
    batch: dict[str, Any] = json.loads((FIXTURES / "product_visit.json").read_text())["batches"][0]
    assert await ingest.accept(batch, "visitorAAAA0000") == {"ok": True, "seq": 0}
    assert await ingest.accept(batch, "visitorAAAA0000") == {"ok": True, "seq": 0}
    assert len(buffer.entries) == 1 and ingest.duplicate_batches == 1
    stored = orjson.loads(buffer.entries[0])
    assert stored["batch"] == batch and stored["arm"] == "treatment"
    assert await ingest.accept(batch, "intruder0000000") == {
        "ok": False,
        "error": "forbidden_visitor",
    }
    assert ingest.rejected["forbidden_visitor"] == 1


async def test_ingest_reports_unavailable_buffer() -> None:
    class BrokenBuffer:
        async def append_once(self, pvid: str, seq: int, payload: bytes) -> bool:
            raise ConnectionError("redis down")

    ingest = Ingest(BrokenBuffer(), Limits(), 0.1, unavailable_errors=(ConnectionError,))
    batch = json.loads((FIXTURES / "product_visit.json").read_text())["batches"][0]
    assert await ingest.accept(batch, "visitorAAAA0000") == {"ok": False, "error": "unavailable"}


async def test_ingest_rejects_oversized_payload() -> None:
    ingest = Ingest(FakeBuffer(), Limits(max_bytes=300), 0.1)
    batch = json.loads((FIXTURES / "product_visit.json").read_text())["batches"][0]
    assert (await ingest.accept(batch, "visitorAAAA0000"))["error"] == "too_large"
