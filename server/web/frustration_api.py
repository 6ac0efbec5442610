"""Frustration signals for the admin console: a page's signals, and the pages that struggle.

Reads pre-aggregated documents only (one per day × viewport class × persona × arm × page),
never raw events; the replay's markers are the exception (one session's batches).
"""

from __future__ import annotations

from typing import Any

from quart import Blueprint

from server.domain.frustration_report import merge_frustration, page_views, struggle_summary
from server.web.admin_auth import require_admin
from server.web.aggregate_query import query_args, read_aggregate_filters, read_page_query
from server.web.common import json_response, services

blueprint = Blueprint("frustration_api", __name__)


@blueprint.get("/admin/api/frustration")
@require_admin()
async def page_signals() -> Any:
    """One page's signals: totals, per anchor, a heatmap layer per signal, error kinds."""
    path, days, filters = read_page_query(query_args())
    events = services().pipeline.events
    docs = await events.frustration_documents(path, days, filters)
    views = page_views(await events.page_view_counts(path, days, filters)).get(path, 0)
    return json_response({"page": path, "days": [days[0], days[-1]],
                          **merge_frustration(docs, views)})  # fmt: skip


@blueprint.get("/admin/api/frustration/pages")
@require_admin()
async def pages() -> Any:
    """Pages where shoppers struggle most (signals per page view), and every page's counts."""
    days, filters = read_aggregate_filters(query_args())
    events = services().pipeline.events
    docs = await events.frustration_documents(None, days, filters)
    views = page_views(await events.page_view_counts(None, days, filters))
    return json_response({"days": [days[0], days[-1]], **struggle_summary(docs, views)})
