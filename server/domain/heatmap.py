"""Heatmap binning: where a point goes in the pre-aggregated bins, and back onto a page.

Every click is kept two ways: relative to its anchor element's box (so it lands on the
same button at any screen width) and relative to the page (the fallback when the anchor
is missing). Movement has no anchor and is kept page-relative only.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from typing import Any

PAGE_X_BINS = 100  # x as a fraction of the viewport width, in 1 % steps
PAGE_Y_PX = 20  # y in 20 px rows of the document
ANCHOR_BINS = 20  # a 20 × 20 grid inside the anchor's box
SCROLL_BUCKETS = 20  # depth in 5 % steps; bucket b means "reached b/20 of the page"
DEVICE_CLASSES_FOR_FILTER = ("mobile", "tablet", "desktop")


def viewport_class(width: int) -> str:
    """Classify a viewport width as mobile, tablet or desktop."""
    if width < 768:
        return "mobile"
    if width < 1024:
        return "tablet"
    return "desktop"


def anchor_key(selector: str) -> str:
    """Return a short, field-name-safe key for an anchor selector."""
    return hashlib.sha1(selector.encode(), usedforsecurity=False).hexdigest()[:12]


def page_cell(x: int, y: int, viewport_width: int) -> str:
    """Bin a page-space point: x as a share of the viewport width, y in fixed rows."""
    column = min(PAGE_X_BINS - 1, max(0, x * PAGE_X_BINS // max(viewport_width, 1)))
    return f"{column}:{y // PAGE_Y_PX}"


def anchor_cell(selector: str, rx: float, ry: float) -> str:
    """Bin a point inside an anchor's box (rx, ry in 0..1)."""
    column = min(ANCHOR_BINS - 1, int(rx * ANCHOR_BINS))
    row = min(ANCHOR_BINS - 1, int(ry * ANCHOR_BINS))
    return f"{anchor_key(selector)}:{column}:{row}"


def scroll_bucket(depth: float) -> int:
    """Return the deepest 5 % bucket a depth fraction reaches."""
    return min(SCROLL_BUCKETS, max(0, int(depth * SCROLL_BUCKETS + 1e-9)))


@dataclass(frozen=True)
class Box:
    """An element's box in page coordinates (CSS pixels) at the width being drawn."""

    left: float
    top: float
    width: float
    height: float


def project_anchor_cell(box: Box, column: int, row: int) -> tuple[float, float]:
    """Place an anchor-relative bin at the centre of its sub-cell of `box`."""
    return (
        box.left + (column + 0.5) / ANCHOR_BINS * box.width,
        box.top + (row + 0.5) / ANCHOR_BINS * box.height,
    )


def project_page_cell(column: int, row: int, viewport_width: int) -> tuple[float, float]:
    """Place a page-relative bin at a given drawing width."""
    return ((column + 0.5) / PAGE_X_BINS * viewport_width, (row + 0.5) * PAGE_Y_PX)


def merge_bins(documents: list[dict[str, Any]]) -> dict[str, Any]:
    """Sum stored bin documents into page cells and per-anchor cells for drawing."""
    page: dict[str, int] = {}
    anchors: dict[str, dict[str, int]] = {}
    selectors: dict[str, str] = {}
    total = 0
    for doc in documents:
        total += int(doc.get("n", 0))
        for cell, count in doc.get("page", {}).items():
            page[cell] = page.get(cell, 0) + int(count)
        selectors.update(doc.get("anchors", {}))
        for key, cells in doc.get("anchor", {}).items():
            merged = anchors.setdefault(key, {})
            for cell, count in cells.items():
                merged[cell] = merged.get(cell, 0) + int(count)
    return {
        "total": total,
        "page": [[*map(int, cell.split(":")), count] for cell, count in page.items()],
        "anchors": [
            {
                "selector": selectors.get(key, ""),
                "cells": [[*map(int, cell.split(":")), n] for cell, n in cells.items()],
            }
            for key, cells in anchors.items()
            if key in selectors
        ],
        "grid": {"page_x_bins": PAGE_X_BINS, "page_y_px": PAGE_Y_PX, "anchor_bins": ANCHOR_BINS},
    }


def merge_scroll(documents: list[dict[str, Any]]) -> dict[str, Any]:
    """Sum scroll-depth documents into the share of page views reaching each 5 % step."""
    reached = [0] * (SCROLL_BUCKETS + 1)
    for doc in documents:
        for bucket, count in doc.get("reached", {}).items():
            reached[int(bucket)] += int(count)
    views = reached[0]
    return {
        "views": views,
        "depths": [
            {"depth": b / SCROLL_BUCKETS, "reached": n, "share": (n / views) if views else 0.0}
            for b, n in enumerate(reached)
        ],
    }
