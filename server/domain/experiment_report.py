"""The experiment report: rows, tests, sample-ratio checks, corrections and verdict states.

Input: the summary document the periodic fold writes (server/adapters/experiment_store.py)
and the analysis plan from the settings. Output: the JSON answer of
GET /admin/api/experiments, which the page renders as it is (docs/experiments.md).

Rows, in order: one per persona as fixed when the visitor first qualified for an
adaptation (the triggered analysis), then "not_qualified" (visitors who never qualified,
reported apart: no adaptation could have touched them), then "all" (intention to treat:
every visitor by arm).

Each row gets one state:
  srm        its split differs from the configured one: no verdict, whatever the
             intervals say (the overall split is the "all" row's, shown as a banner);
  too_small  an arm has under 30 visitors or 5 converters;
  not_yet    fixed horizon: fewer visitors than planned; sequential: no metric's
             corrected test rejects yet (the always-valid interval may be read again);
  verdict    the row may be read: each metric says higher, lower or no difference.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, Literal

from statsmodels.stats.multitest import multipletests

from server.domain import srm
from server.domain.uplift import (
    ALPHA,
    CONFIDENCE,
    METRICS,
    MIN_BUYERS_FOR_MEANS,
    MIN_CONVERSIONS,
    MIN_VISITORS,
    ArmTotals,
    Difference,
    Estimate,
    arm_report,
    differences,
    readable,
    too_small,
)

ARMS = ("treatment", "control")
NOT_QUALIFIED = "not_qualified"
ALL = "all"
CORRECTION_METHODS = {"holm": "holm", "bh": "fdr_bh"}
Analysis = Literal["sequential", "fixed"]


@dataclass(frozen=True)
class AnalysisPlan:
    """How the report reads the data (from [experiments] in the settings)."""

    holdout_fraction: float = 0.10
    mode: Literal["ab", "aa"] = "ab"
    analysis: Analysis = "sequential"
    planned_visitors: int = 2000
    tuning_visitors: int = 2000
    correction: Literal["holm", "bh", "none"] = "holm"
    srm_p: float = 0.001


@dataclass(frozen=True)
class Labels:
    """Display names by row key: {key: {"en": ..., "fr": ...}}, and the persona order."""

    names: dict[str, dict[str, str]]
    personas: tuple[str, ...]


def interval_and_p(diff: Difference, n: int, plan: AnalysisPlan) -> tuple[Estimate, float | None]:
    """The interval and p-value in force under the plan's analysis."""
    if plan.analysis == "sequential":
        return diff.always_valid(n, plan.tuning_visitors)
    return diff.fixed()


def _metric(estimate: Estimate, p: float | None, can_read: bool) -> dict[str, Any]:
    # An unreadable test keeps its interval (to watch it grow) but gets no p-value, so it
    # never enters the correction's family nor gives a verdict.
    p = p if can_read else None
    return {
        **estimate.to_dict(),
        "readable": can_read,
        "p": p,
        "significant": p is not None and p < ALPHA,
        "p_adjusted": None,
        "significant_adjusted": False,
    }


def _row(
    key: str, group: str, cells: dict[str, dict[str, Any]], plan: AnalysisPlan, labels: Labels
) -> dict[str, Any]:  # fmt: skip
    arms = {arm: ArmTotals.from_dict(cells.get(arm, {})) for arm in ARMS}
    treatment, control = arms["treatment"], arms["control"]
    visitors = treatment.visitors + control.visitors
    uplift = {
        metric: _metric(*interval_and_p(diff, visitors, plan), readable(metric, treatment, control))
        for metric, diff in differences(treatment, control).items()
    }
    ratio = srm.check(treatment.visitors, control.visitors, plan.holdout_fraction, plan.srm_p)
    if ratio.mismatch:
        state = "srm"
    elif too_small(treatment, control):
        state = "too_small"
    elif plan.analysis == "fixed" and visitors < plan.planned_visitors:
        state = "not_yet"
    else:
        state = "pending"  # decided once the corrected p-values are known
    report_arms = {arm: arm_report(arms[arm]) for arm in ARMS}
    for arm in ARMS:
        report_arms[arm]["exposures"] = int(cells.get(arm, {}).get("exposures", 0))
    names = labels.names.get(key, {"en": key, "fr": key})
    return {
        "persona": key,
        "label": names["en"],
        "label_fr": names["fr"],
        "group": group,
        "visitors": visitors,
        "arms": report_arms,
        "uplift": uplift,
        "srm": ratio.to_dict(),
        "state": state,
        "too_small": state == "too_small",
    }


def correct(rows: list[dict[str, Any]], method: str) -> None:
    """Adjust the p-values of every readable row × metric together (Holm or BH), in place.

    The family is every test the page could call: rows not voided by a sample-ratio
    mismatch, a small sample or (fixed horizon) a sample short of the plan.
    """
    family = [
        row["uplift"][metric]
        for row in rows
        if row["state"] == "pending"
        for metric in METRICS
        if row["uplift"][metric]["p"] is not None
    ]
    if not family:
        return
    if method == "none":
        adjusted = [test["p"] for test in family]
    else:
        _, adjusted_array, _, _ = multipletests(
            [test["p"] for test in family], alpha=ALPHA, method=CORRECTION_METHODS[method]
        )
        adjusted = [float(p) for p in adjusted_array]
    for test, p in zip(family, adjusted, strict=True):
        test["p_adjusted"] = p
        test["significant_adjusted"] = p < ALPHA


def _settle(row: dict[str, Any], plan: AnalysisPlan) -> None:
    if row["state"] != "pending":
        return
    decided = any(row["uplift"][m]["significant_adjusted"] for m in METRICS)
    row["state"] = "verdict" if decided or plan.analysis == "fixed" else "not_yet"


def _plural(count: int, noun: str) -> str:
    return f"{count} {noun}{'' if count == 1 else 's'}"


def _note(row: dict[str, Any], plan: AnalysisPlan) -> str | None:
    state = row["state"]
    arms = row["arms"]
    if state == "srm":
        ratio = row["srm"]
        return (
            f"Sample ratio mismatch: {ratio['observed_control_share']:.1%} of these visitors are "
            f"in control where {ratio['expected_control_share']:.1%} is configured "
            f"(chi-square p = {ratio['p']:.2g}). Assignment or tracking is broken for this "
            "group; no verdict until it is fixed."
        )
    if state == "too_small":
        counts = "; ".join(
            f"{arm}: {_plural(arms[arm]['visitors'], 'visitor')}, "
            f"{_plural(arms[arm]['converters'], 'converter')}"
            for arm in ARMS
        )
        return (
            f"Sample too small to say anything: each arm needs at least {MIN_VISITORS} "
            f"visitors and {MIN_CONVERSIONS} converters ({counts})."
        )
    if state == "not_yet":
        if plan.analysis == "fixed":
            return (
                f"Not yet: {row['visitors']} of the {plan.planned_visitors} planned visitors. "
                "A fixed-horizon interval is read once, at the planned size."
            )
        return (
            "Not yet: every always-valid interval still includes zero (after correction). "
            "It is safe to keep reading as data comes in."
        )
    return None


def _series_points(
    snapshots: dict[str, list[tuple[int, dict[str, dict[str, Any]]]]], plan: AnalysisPlan
) -> list[dict[str, Any]]:
    points = []
    for at_ms, cells in snapshots.get("points", []):
        treatment = ArmTotals.from_dict(cells.get("treatment", {}))
        control = ArmTotals.from_dict(cells.get("control", {}))
        visitors = treatment.visitors + control.visitors
        point: dict[str, Any] = {
            "at": datetime.fromtimestamp(at_ms / 1000, UTC).isoformat(),
            "visitors": visitors,
        }
        for metric, diff in differences(treatment, control).items():
            point[metric] = interval_and_p(diff, visitors, plan)[0].to_dict()
        points.append(point)
    return points


def build(summary: dict[str, Any] | None, plan: AnalysisPlan, labels: Labels) -> dict[str, Any]:
    """Turn the stored summary into the API's answer."""
    base: dict[str, Any] = {
        "confidence": CONFIDENCE,
        "mode": plan.mode,
        "analysis": plan.analysis,
        "correction": plan.correction,
        "holdout_fraction": plan.holdout_fraction,
        "planned_visitors": plan.planned_visitors,
        "rules": {
            "min_visitors": MIN_VISITORS,
            "min_conversions": MIN_CONVERSIONS,
            "min_buyers_for_means": MIN_BUYERS_FOR_MEANS,
            "srm_p": plan.srm_p,
        },
    }
    if summary is None or summary.get("version") != SUMMARY_VERSION:
        return base | {
            "computed_at": None, "srm": None, "personas": [], "series": [], "exposures": [],
            "unattributed_orders": 0, "triggers_without_visitor": 0,
        }  # fmt: skip
    cells: dict[str, dict[str, dict[str, Any]]] = {}
    for cell in summary.get("cells", []):
        cells.setdefault(cell["row"], {})[cell["arm"]] = cell
    everyone = cells.get(ALL, {})
    triggered = [*labels.personas, *sorted(set(cells) - {*labels.personas, NOT_QUALIFIED, ALL})]
    rows = [_row(key, "triggered", cells.get(key, {}), plan, labels) for key in triggered]
    rows.append(_row(NOT_QUALIFIED, NOT_QUALIFIED, cells.get(NOT_QUALIFIED, {}), plan, labels))
    rows.append(_row(ALL, "itt", everyone, plan, labels))
    correct(rows, plan.correction)
    for row in rows:
        _settle(row, plan)
        row["note"] = _note(row, plan)
    series_by_row: dict[str, dict[str, list[Any]]] = {}
    for item in summary.get("series", []):
        series_by_row.setdefault(item["row"], {"points": []})["points"].append(
            (int(item["at_ms"]), item["arms"])
        )
    series = [
        {"persona": key, "points": _series_points(series_by_row[key], plan)}
        for key in [*triggered, ALL]
        if key in series_by_row
    ]
    return base | {
        "computed_at": _iso(summary.get("computed_at")),
        "srm": rows[-1]["srm"],  # the overall split: every visitor, the intention-to-treat row
        "personas": rows,
        "series": series,
        "exposures": _exposures(summary.get("exposures", [])),
        "unattributed_orders": int(summary.get("unattributed_orders", 0)),
        "triggers_without_visitor": int(summary.get("triggers_without_visitor", 0)),
    }


SUMMARY_VERSION = 2  # cells keyed by row (triggered persona, not_qualified, all)


def _exposures(items: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Per adaptation: shown (treatment) and would-have-been-shown (control, A/A) counts."""
    by_name: dict[str, dict[str, Any]] = {}
    for item in items:
        counts = by_name.setdefault(item["adaptation"], {
            "adaptation": item["adaptation"], "treatment": 0, "control": 0,
            "treatment_counterfactual": 0, "control_counterfactual": 0,
        })  # fmt: skip
        suffix = "_counterfactual" if item.get("counterfactual") else ""
        counts[item["arm"] + suffix] += int(item["count"])
    return sorted(by_name.values(), key=lambda counts: str(counts["adaptation"]))


def _iso(value: Any) -> str | None:
    if not isinstance(value, datetime):
        return None
    return (value if value.tzinfo else value.replace(tzinfo=UTC)).isoformat()
