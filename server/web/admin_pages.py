"""The admin console's pages: overview, heatmaps, sessions and a session's replay.

Pages are shells: their data comes from the JSON APIs (server/web/admin_api.py) and the
/admin Socket.IO namespace, loaded by the modules under client/src/admin/.
"""

from __future__ import annotations

from typing import Any

from quart import Blueprint, abort, redirect, render_template, request

from server.domain.events import ID_PATTERN
from server.domain.frustration_report import MIN_VIEWS_TO_RANK
from server.web.admin_auth import require_admin

blueprint = Blueprint("admin_pages", __name__)

# Drawing widths offered on the heatmap page (CSS pixels of the previewed page).
HEATMAP_WIDTHS = (375, 768, 1024, 1280, 1440, 1920)


@blueprint.get("/admin")
@require_admin()
async def overview() -> str:
    return await render_template("admin/overview.html", min_views=MIN_VIEWS_TO_RANK)


@blueprint.get("/admin/heatmap")
@require_admin()
async def heatmap() -> str:
    return await render_template("admin/heatmap.html", widths=HEATMAP_WIDTHS)


@blueprint.get("/heatmap")
async def heatmap_redirect() -> Any:
    # The seed's address; keep the query (page, kind…) so old links still land right.
    target = "/admin/heatmap" + (
        f"?{request.query_string.decode()}" if request.query_string else ""
    )
    return redirect(target, 301)


@blueprint.get("/admin/sessions")
@require_admin()
async def sessions() -> str:
    return await render_template("admin/sessions.html")


@blueprint.get("/admin/sessions/<session_id>")
@require_admin("admin")
async def replay(session_id: str) -> str:
    if not ID_PATTERN.fullmatch(session_id):
        abort(404)
    return await render_template("admin/replay.html", session_id=session_id)
