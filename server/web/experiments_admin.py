"""The experiment read side: /admin/experiments and its JSON API, per persona × arm.

Both read only the summary document the periodic job writes (server/adapters/
experiment_store.py); the statistics come from server/domain/uplift.py.
"""

from __future__ import annotations

from dataclasses import asdict
from datetime import UTC, datetime
from typing import Any

from quart import Blueprint, Response, redirect, render_template, request

from personas_engine.vocabulary import LABELS, PERSONAS, UNKNOWN
from server.adapters.experiment_store import ExperimentSummaries
from server.domain import uplift
from server.domain.experiments import ARMS
from server.domain.uplift import ArmTotals
from server.web.admin_auth import require_admin
from server.web.common import json_response, services

blueprint = Blueprint("experiments_admin", __name__)

ALL = "all"
PERSONA_ORDER = (*PERSONAS, UNKNOWN)


def summaries() -> ExperimentSummaries:
    return services().extras["experiments"]  # type: ignore[no-any-return]


def _plural(count: int, noun: str) -> str:
    return f"{count} {noun}{'' if count == 1 else 's'}"


def _warning(treatment: ArmTotals, control: ArmTotals) -> str:
    counts = "; ".join(
        f"{name}: {_plural(arm.visitors, 'visitor')}, {_plural(arm.converters, 'converter')}"
        for name, arm in (("treatment", treatment), ("control", control))
    )
    return (
        f"Sample too small to say anything: each arm needs at least {uplift.MIN_VISITORS} "
        f"visitors and {uplift.MIN_CONVERSIONS} converters ({counts})."
    )


def _row(persona: str, cells: dict[str, dict[str, Any]]) -> dict[str, Any]:
    arms = {arm: ArmTotals.from_dict(cells.get(arm, {})) for arm in ARMS}
    row = uplift.comparison(arms["treatment"], arms["control"])
    for arm, block in row["arms"].items():
        block["exposures"] = int(cells.get(arm, {}).get("exposures", 0))
    labels = LABELS.get(persona, {"en": "All visitors", "fr": "Tous les visiteurs"})
    row.update(persona=persona, label=labels["en"], label_fr=labels["fr"])
    row["warning"] = _warning(arms["treatment"], arms["control"]) if row["too_small"] else None
    return row


def _pooled(by_persona: dict[str, dict[str, dict[str, Any]]]) -> dict[str, dict[str, Any]]:
    pooled: dict[str, dict[str, Any]] = {}
    for arm in ARMS:
        cells = [
            persona_cells[arm] for persona_cells in by_persona.values() if arm in persona_cells
        ]
        totals = uplift.combine([ArmTotals.from_dict(cell) for cell in cells])
        exposures = sum(int(cell.get("exposures", 0)) for cell in cells)
        pooled[arm] = {**asdict(totals), "exposures": exposures}
    return pooled


def _iso(value: Any) -> str | None:
    if not isinstance(value, datetime):
        return None
    # The embedded engine hands back naive datetimes; everything is stored in UTC.
    return (value if value.tzinfo else value.replace(tzinfo=UTC)).isoformat()


def report(summary: dict[str, Any] | None) -> dict[str, Any]:
    """Turn the stored summary into the API's answer: one row per persona, then all."""
    base: dict[str, Any] = {
        "confidence": uplift.CONFIDENCE,
        "rules": {"min_visitors": uplift.MIN_VISITORS, "min_conversions": uplift.MIN_CONVERSIONS},
    }
    if summary is None:
        return base | {"computed_at": None, "personas": [], "exposures": [],
                       "unattributed_orders": 0}  # fmt: skip
    by_persona: dict[str, dict[str, dict[str, Any]]] = {p: {} for p in PERSONA_ORDER}
    for cell in summary.get("cells", []):
        by_persona.setdefault(cell["persona"], {})[cell["arm"]] = cell
    rows = [_row(persona, cells) for persona, cells in by_persona.items()]
    exposures: dict[str, dict[str, int]] = {}
    for item in summary.get("exposures", []):
        counts = exposures.setdefault(item["adaptation"], {"treatment": 0, "control": 0})
        counts[item["arm"]] = int(item["count"])
    return base | {
        "computed_at": _iso(summary.get("computed_at")),
        "personas": [*rows, _row(ALL, _pooled(by_persona))],
        "exposures": [{"adaptation": name, **counts} for name, counts in exposures.items()],
        "unattributed_orders": int(summary.get("unattributed_orders", 0)),
    }


@blueprint.get("/admin/experiments")
@require_admin()
async def experiments_page() -> str:
    return await render_template(
        "admin/experiments.html", report=report(await summaries().current())
    )


@blueprint.get("/admin/api/experiments")
@require_admin()
async def experiments_api() -> Response:
    return json_response(report(await summaries().current()))


@blueprint.post("/admin/api/experiments/refresh")
@require_admin("admin")
async def refresh() -> Any:
    """Recompute now; the page's form comes back to the page, API callers get the report."""
    summary = await summaries().refresh()
    if request.mimetype in ("application/x-www-form-urlencoded", "multipart/form-data"):
        return redirect("/admin/experiments")
    return json_response(report(summary))
