"""The admin console's pages (overview; heatmaps, sessions and experiments build on it)."""

from __future__ import annotations

from typing import Any

from quart import Blueprint, redirect, render_template

from server.web.admin_auth import require_admin

blueprint = Blueprint("admin_pages", __name__)


@blueprint.get("/admin")
@require_admin()
async def overview() -> str:
    return await render_template("admin/overview.html")


@blueprint.get("/heatmap")
async def heatmap_redirect() -> Any:
    return redirect("/admin/heatmap", 301)
