"""Corrections across personas × metrics against the published example and statsmodels.

The p-values are the fifteen of Benjamini & Hochberg (1995, §4, "Example"): there the
Bonferroni-type step-down procedure (Holm's) rejects the three smallest at 0.05, and the
false-discovery-rate procedure rejects four.
"""

from __future__ import annotations

from typing import Any

import pytest
from statsmodels.stats.multitest import multipletests

from server.domain.experiment_report import correct
from server.domain.uplift import METRICS

PUBLISHED = [0.0001, 0.0004, 0.0019, 0.0095, 0.0201, 0.0278, 0.0298, 0.0344, 0.0459,
             0.3240, 0.4262, 0.5719, 0.6528, 0.7590, 1.000]  # fmt: skip


def rows_with(p_values: list[float]) -> list[dict[str, Any]]:
    """Five readable rows × three metrics carrying the p-values in order."""
    it = iter(p_values)
    return [
        {"state": "pending", "uplift": {metric: {"p": next(it)} for metric in METRICS}}
        for _ in range(5)
    ]


def adjusted(rows: list[dict[str, Any]]) -> list[float | None]:
    return [row["uplift"][metric].get("p_adjusted") for row in rows for metric in METRICS]


def holm_by_hand(p: list[float]) -> list[float]:
    # Step down: the i-th smallest (from 0) times (m − i), running maximum, capped at 1.
    order = sorted(range(len(p)), key=p.__getitem__)
    out, running = [0.0] * len(p), 0.0
    for rank, index in enumerate(order):
        running = max(running, (len(p) - rank) * p[index])
        out[index] = min(1.0, running)
    return out


def bh_by_hand(p: list[float]) -> list[float]:
    # Step up: the i-th smallest (from 1) times m / i, running minimum from the top.
    order = sorted(range(len(p)), key=p.__getitem__)
    out, running = [0.0] * len(p), 1.0
    for rank in range(len(p), 0, -1):
        index = order[rank - 1]
        running = min(running, len(p) / rank * p[index])
        out[index] = running
    return out


@pytest.mark.parametrize(("method", "by_hand", "rejected"), [
    ("holm", holm_by_hand, 3), ("bh", bh_by_hand, 4),
])  # fmt: skip
def test_the_published_example(method: str, by_hand: Any, rejected: int) -> None:
    rows = rows_with(PUBLISHED)
    correct(rows, method)
    assert adjusted(rows) == pytest.approx(by_hand(PUBLISHED), abs=1e-9)
    reference = multipletests(
        PUBLISHED, alpha=0.05, method={"holm": "holm", "bh": "fdr_bh"}[method]
    )
    assert adjusted(rows) == pytest.approx(list(reference[1]), abs=1e-9)
    calls = [row["uplift"][m]["significant_adjusted"] for row in rows for m in METRICS]
    assert sum(calls) == rejected


def test_the_family_is_only_the_readable_tests() -> None:
    rows = rows_with(PUBLISHED)
    rows[0]["state"] = "srm"  # voided: its three tests leave the family
    rows[1]["uplift"]["aov_cents"]["p"] = None  # not readable: no p-value
    correct(rows, "holm")
    family = [p for row in rows[1:] for m, p in ((m, row["uplift"][m]["p"]) for m in METRICS)
              if p is not None]  # fmt: skip
    assert [rows[1]["uplift"][m].get("p_adjusted") for m in METRICS][1] is None
    assert all("p_adjusted" not in rows[0]["uplift"][m] for m in METRICS)
    assert sorted(p for p in adjusted(rows[1:]) if p is not None) == pytest.approx(
        sorted(holm_by_hand(family)), abs=1e-9
    )


def test_no_correction_keeps_the_raw_p_values() -> None:
    rows = rows_with(PUBLISHED)
    correct(rows, "none")
    assert adjusted(rows) == PUBLISHED
