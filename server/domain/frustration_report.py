"""What the admin console shows of frustration signals, summed from their stored documents.

Pure: the readers hand over pre-aggregated documents (one per day × viewport class ×
persona × arm × page, see server/pipeline/aggregate.py) and these functions sum them.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

from server.domain.frustration import SIGNALS
from server.domain.heatmap import ANCHOR_BINS, PAGE_X_BINS, PAGE_Y_PX

TOP_ANCHORS = 50
# A page needs this many views before its rate of signals ranks it among the pages where
# shoppers struggle most (with fewer, one unlucky visit would top the list).
MIN_VIEWS_TO_RANK = 20


def _cells(cells: Mapping[str, Any]) -> dict[str, int]:
    return {cell: int(n) for cell, n in cells.items()}


def _add(into: dict[str, int], cells: Mapping[str, Any]) -> None:
    for cell, n in cells.items():
        into[cell] = into.get(cell, 0) + int(n)


def _add_signals(into: dict[str, int], doc: Mapping[str, Any]) -> None:
    """Add a document's signal counts (`n`) to `into`, which holds every kind of SIGNALS."""
    for kind, n in doc.get("n", {}).items():
        if kind in into:
            into[kind] += int(n)


def merge_frustration(docs: Iterable[Mapping[str, Any]], views: int) -> dict[str, Any]:
    """One page's signals: totals, the anchors they happened on, and a layer per signal.

    Each layer has the click heatmap's shape (merge_bins): page cells and cells inside the
    anchor's box, so the console draws them with the same projection.
    """
    totals = dict.fromkeys(SIGNALS, 0)
    by_anchor: dict[str, dict[str, int]] = {}
    selectors: dict[str, str] = {}
    page: dict[str, dict[str, int]] = {kind: {} for kind in SIGNALS}
    anchor_cells: dict[str, dict[str, dict[str, int]]] = {kind: {} for kind in SIGNALS}
    error_kinds: dict[str, int] = {}
    origins: dict[str, int] = {}
    origin_names: dict[str, str] = {}
    for doc in docs:
        _add_signals(totals, doc)
        selectors.update(doc.get("anchors", {}))
        for key, counts in doc.get("a", {}).items():
            _add(by_anchor.setdefault(key, {}), counts)
        for kind, cells in doc.get("p", {}).items():
            if kind in page:
                _add(page[kind], cells)
        for kind, per_anchor in doc.get("c", {}).items():
            if kind in anchor_cells:
                for key, cells in per_anchor.items():
                    _add(anchor_cells[kind].setdefault(key, {}), cells)
        _add(error_kinds, doc.get("ek", {}))
        _add(origins, doc.get("eo", {}))
        origin_names.update(doc.get("origins", {}))
    ranked = sorted(
        ((key, counts) for key, counts in by_anchor.items() if key in selectors),
        key=lambda item: (-sum(item[1].values()), selectors[item[0]]),
    )
    anchors = [
        {"selector": selectors[key], "counts": counts, "total": sum(counts.values())}
        for key, counts in ranked
    ]
    return {
        "views": views,
        "totals": totals,
        "per_100_views": {
            kind: round(100 * n / views, 2) if views else None for kind, n in totals.items()
        },
        "anchors": anchors[:TOP_ANCHORS],
        "layers": {
            kind: {
                "page": [[*map(int, cell.split(":")), n] for cell, n in page[kind].items()],
                "anchors": [
                    {
                        "selector": selectors[key],
                        "cells": [[*map(int, cell.split(":")), n] for cell, n in cells.items()],
                    }
                    for key, cells in anchor_cells[kind].items()
                    if key in selectors
                ],
            }
            for kind in SIGNALS
        },
        "errors": {
            "kinds": dict(sorted(error_kinds.items(), key=lambda kv: -kv[1])),
            "origins": sorted(
                ({"origin": origin_names.get(k, "unknown"), "n": n} for k, n in origins.items()),
                key=lambda row: -row["n"],
            ),
        },
        "grid": {"page_x_bins": PAGE_X_BINS, "page_y_px": PAGE_Y_PX, "anchor_bins": ANCHOR_BINS},
    }


def page_views(scroll_docs: Iterable[Mapping[str, Any]]) -> dict[str, int]:
    """Page views per path: every view reaches scroll bucket 0 once (server/domain/heatmap)."""
    views: dict[str, int] = {}
    for doc in scroll_docs:
        path = str(doc.get("path", ""))
        views[path] = views.get(path, 0) + int(doc.get("reached", {}).get("0", 0))
    return views


def struggle_summary(
    docs: Iterable[Mapping[str, Any]], views: Mapping[str, int], limit: int = 20
) -> dict[str, Any]:
    """Every page's signals summed, the page views they came from, and the struggling pages."""
    docs = list(docs)
    totals = dict.fromkeys(SIGNALS, 0)
    for doc in docs:
        _add_signals(totals, doc)
    return {"totals": totals, "views": sum(views.values()),
            "pages": struggle_pages(docs, views, limit)}  # fmt: skip


def struggle_pages(
    docs: Iterable[Mapping[str, Any]], views: Mapping[str, int], limit: int = 20
) -> list[dict[str, Any]]:
    """Pages by signals per page view, the ones with enough views to rank first."""
    totals: dict[str, dict[str, int]] = {}
    for doc in docs:
        _add_signals(totals.setdefault(str(doc.get("path", "")), dict.fromkeys(SIGNALS, 0)), doc)

    def order(path: str) -> tuple[bool, float, int, str]:
        signals, seen = sum(totals[path].values()), views.get(path, 0)
        rate = signals / seen if seen else 0.0
        return (seen < MIN_VIEWS_TO_RANK, -rate, -signals, path)

    rows = []
    for path in sorted(totals, key=order)[:limit]:
        counts, seen = totals[path], views.get(path, 0)
        signals = sum(counts.values())
        rows.append({
            "page": path, "signals": signals, "counts": counts, "views": seen,
            "per_100_views": round(100 * signals / seen, 2) if seen else None,
            "ranked": seen >= MIN_VIEWS_TO_RANK,
        })  # fmt: skip
    return rows
