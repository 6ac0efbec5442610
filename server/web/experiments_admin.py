"""The experiment read side: /admin/experiments and its JSON API, per persona × arm.

Both read only the summary document the periodic job writes (server/adapters/
experiment_store.py); the report and its statistics come from server/domain/
(experiment_report.py, uplift.py, sequential.py, srm.py).
"""

from __future__ import annotations

from typing import Any

from quart import Blueprint, Response, redirect, render_template, request

from personas_engine.vocabulary import LABELS as LABELS_BY_PERSONA
from personas_engine.vocabulary import PERSONAS
from server.adapters.experiment_store import ExperimentSummaries
from server.domain import experiment_report
from server.domain.experiment_report import AnalysisPlan, Labels
from server.settings import ExperimentSettings
from server.web.admin_auth import require_admin
from server.web.common import json_response, services

blueprint = Blueprint("experiments_admin", __name__)

LABELS = Labels(
    names={
        **LABELS_BY_PERSONA,
        "not_qualified": {"en": "Never qualified", "fr": "Jamais qualifiés"},
        "all": {"en": "All visitors", "fr": "Tous les visiteurs"},
    },
    personas=PERSONAS,
)


def summaries() -> ExperimentSummaries:
    return services().admin.experiments


def plan(settings: ExperimentSettings) -> AnalysisPlan:
    return AnalysisPlan(
        holdout_fraction=settings.holdout_fraction,
        mode=settings.mode,
        analysis=settings.analysis,
        planned_visitors=settings.planned_visitors,
        tuning_visitors=settings.sequential_tuning_visitors,
        correction=settings.correction,
        srm_p=settings.srm_p,
    )


def report(summary: dict[str, Any] | None) -> dict[str, Any]:
    """The API's answer for the stored summary, read under the configured plan."""
    return experiment_report.build(summary, plan(services().settings.experiments), LABELS)


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
