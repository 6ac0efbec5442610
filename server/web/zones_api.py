"""Zones for the admin console: views, clicks, click rate and attributed revenue per zone of
a page (server/domain/zones.py), from pre-aggregated documents only."""

from __future__ import annotations

from typing import Any

from quart import Blueprint

from server.domain.zones import merge_zones
from server.web.admin_auth import require_admin
from server.web.aggregate_query import query_args, read_page_query
from server.web.common import json_response, services

blueprint = Blueprint("zones_api", __name__)


@blueprint.get("/admin/api/zones")
@require_admin()
async def page_zones() -> Any:
    """A page's zones, best earners first (filters: days, viewport class, persona, arm)."""
    path, days, filters = read_page_query(query_args())
    docs = await services().pipeline.events.zone_documents(path, days, filters)
    return json_response({"page": path, "days": [days[0], days[-1]], "zones": merge_zones(docs)})
