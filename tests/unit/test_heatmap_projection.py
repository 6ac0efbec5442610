"""Heatmap placement: clicks recorded at one width, binned, merged, drawn at two others.

The browser does the drawing (client/src/admin/projection.js, mirrored by
client/test/admin_projection.test.js with the same numbers); these tests pin the server's
half of the contract: what a stored bin means in page pixels.
"""

from __future__ import annotations

from typing import Any

import pytest

from server.domain.heatmap import (
    ANCHOR_BINS,
    Box,
    merge_bins,
    project_anchor_cell,
    project_page_cell,
)
from server.pipeline.aggregate import StreamedBatch, plan_aggregates

BUTTON = '[data-product-id="p012"] [data-action="add-to-cart"]'
# The same add-to-cart button laid out at two widths (page pixels, as getBoundingClientRect
# plus scroll would report in the heatmap's iframe).
AT_1280 = Box(left=812, top=436, width=180, height=44)
AT_1920 = Box(left=1290, top=402, width=220, height=48)
T0 = 1_764_158_400_000


def clicks_recorded_at(width: int, clicks: list[dict[str, Any]]) -> dict[str, Any]:
    """Run clicks through the flusher's planning and the API's merge, as the server does."""
    batch = {
        "v": 1, "vid": "visitor_0000000001", "sid": "session_000000001",
        "pvid": "pageview_00000001", "seq": 0, "t0": T0, "path": "/product/p012",
        "events": [
            {"k": "page", "t": 0, "path": "/product/p012", "title": "", "ref": "",
             "vw": width, "vh": 900, "dh": 2400, "dev": "desktop"},
            *({"k": "click", "t": 100 + i, **click} for i, click in enumerate(clicks)),
        ],
    }  # fmt: skip
    plan = plan_aggregates([StreamedBatch("1-0", batch, T0, "treatment")], {})
    docs = [update.as_new_document(bin_id) for bin_id, update in plan.heatmap_bins.items()]
    return merge_bins(docs)


def inside(box: Box, x: float, y: float) -> bool:
    return box.left <= x <= box.left + box.width and box.top <= y <= box.top + box.height


def test_a_click_recorded_at_1920_lands_on_the_same_button_at_1280_and_1920() -> None:
    # Clicked at 30 % across and 60 % down the button, on a 1920 px wide screen.
    x = AT_1920.left + 0.3 * AT_1920.width
    y = AT_1920.top + 0.6 * AT_1920.height
    merged = clicks_recorded_at(
        1920, [{"x": round(x), "y": round(y), "a": BUTTON, "rx": 0.3, "ry": 0.6}]
    )
    [anchor] = merged["anchors"]
    assert anchor["selector"] == BUTTON
    [[column, row, count]] = anchor["cells"]
    assert (column, row, count) == (6, 12, 1)

    for box in (AT_1280, AT_1920):
        px, py = project_anchor_cell(box, column, row)
        assert inside(box, px, py)
        # The relative position survives within one cell (1/20 of the box each way).
        assert abs((px - box.left) / box.width - 0.3) <= 1 / ANCHOR_BINS
        assert abs((py - box.top) / box.height - 0.6) <= 1 / ANCHOR_BINS
    assert project_anchor_cell(AT_1280, column, row) == pytest.approx((870.5, 463.5))
    assert project_anchor_cell(AT_1920, column, row) == pytest.approx((1361.5, 432.0))


def test_box_edges_stay_inside_the_box() -> None:
    merged = clicks_recorded_at(1280, [
        {"x": 812, "y": 436, "a": BUTTON, "rx": 0.0, "ry": 0.0},
        {"x": 992, "y": 480, "a": BUTTON, "rx": 1.0, "ry": 1.0},
    ])  # fmt: skip
    cells = sorted(tuple(cell) for cell in merged["anchors"][0]["cells"])
    assert cells == [(0, 0, 1), (19, 19, 1)]
    for box in (AT_1280, AT_1920):
        for column, row, _ in cells:
            assert inside(box, *project_anchor_cell(box, column, row))


def test_page_relative_fallback_scales_x_with_the_width_and_keeps_y() -> None:
    # No anchor on the drawn page: the page cell keeps x as a share of the width.
    merged = clicks_recorded_at(1920, [{"x": 960, "y": 410, "a": "#gone", "rx": 0.5, "ry": 0.5}])
    [[column, row, _]] = merged["page"]
    assert (column, row) == (50, 20)
    assert project_page_cell(column, row, 1280) == pytest.approx((646.4, 410.0))
    assert project_page_cell(column, row, 1920) == pytest.approx((969.6, 410.0))


def test_many_clicks_sum_per_cell() -> None:
    click = {"x": 900, "y": 450, "a": BUTTON, "rx": 0.52, "ry": 0.5}
    merged = clicks_recorded_at(1280, [click, click, click])
    assert merged["total"] == 3
    assert merged["anchors"][0]["cells"] == [[10, 10, 3]]
    x, y = project_anchor_cell(AT_1920, 10, 10)
    assert (x, y) == pytest.approx((AT_1920.left + 10.5 / 20 * 220, AT_1920.top + 10.5 / 20 * 48))
