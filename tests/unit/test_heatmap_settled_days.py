"""A settled day's bins merged into one document give the same heatmap as the bins."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

from server.adapters.event_store import _settled, merge_bin_documents
from server.domain.heatmap import merge_bins


def _bins() -> list[dict[str, Any]]:
    return [
        {"_id": "a", "n": 3, "page": {"1:2": 2, "5:9": 1},
         "anchor": {"k1": {"1:1": 2}}, "anchors": {"k1": "#buy"}},
        {"_id": "b", "n": 2, "page": {"1:2": 1, "7:7": 1},
         "anchor": {"k1": {"1:1": 1, "2:2": 1}, "k2": {"0:0": 4}},
         "anchors": {"k1": "#buy", "k2": "#sort"}},
        {"_id": "c", "n": 0, "page": {}},
    ]  # fmt: skip


def _canonical(heatmap: dict[str, Any]) -> dict[str, Any]:
    return {
        **heatmap,
        "page": sorted(map(tuple, heatmap["page"])),
        "anchors": sorted(
            (a["selector"], sorted(map(tuple, a["cells"]))) for a in heatmap["anchors"]
        ),
    }


def test_merged_day_gives_the_same_heatmap() -> None:
    merged = merge_bin_documents(
        _bins(), {"path": "/catalog", "kind": "click", "day": "2026-01-01"}
    )
    assert merged["n"] == 5 and merged["page"] == {"1:2": 3, "5:9": 1, "7:7": 1}
    assert _canonical(merge_bins([merged])) == _canonical(merge_bins(_bins()))


def test_only_days_long_over_are_settled() -> None:
    now = datetime(2026, 5, 10, 3, 0, tzinfo=UTC)
    assert _settled("2026-05-08", now)
    assert not _settled("2026-05-09", now)  # ended 3 hours ago: late batches may still land
    assert not _settled("2026-05-10", now)
    assert _settled("2026-05-09", now + timedelta(hours=4))
    assert not _settled("not-a-day", now)
