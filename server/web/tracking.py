"""Tracking over HTTP: the beacon fallback, and the seed's admin read endpoints."""

from __future__ import annotations

from typing import Any

import orjson
from quart import Blueprint, Response, abort

from server.adapters.event_store import session_chunks
from server.domain.errors import InvalidInput, NotFound
from server.domain.events import ID_PATTERN
from server.web.admin_auth import require_admin
from server.web.aggregate_query import heatmap_data, read_heatmap_query
from server.web.common import json_response, read_json, services, visitor

blueprint = Blueprint("tracking", __name__)

SESSIONS_PAGE_SIZE = 20
ACK_STATUS = {
    "invalid_json": 400, "invalid_batch": 400, "invalid_event": 400, "unknown_kind": 400,
    "too_many_events": 400, "too_large": 413, "forbidden_visitor": 403,
    "rate_limited": 429, "unavailable": 503, "busy": 503,
}  # fmt: skip


@blueprint.post("/record-session-data")
async def record_session_data() -> Any:
    """The sendBeacon fallback: same batch format and validator as the /track socket."""
    ingest = services().pipeline.ingest
    try:
        body = await read_json(ingest.limits.max_bytes)
    except InvalidInput as error:
        ack = ingest.reject(error.code)
    else:
        ack = await ingest.accept(body, visitor().vid)
    return json_response(ack, 200 if ack["ok"] else ACK_STATUS.get(ack["error"], 400))


def _session_view(doc: dict[str, Any]) -> dict[str, Any]:
    started, last = doc.get("started_at"), doc.get("last_at")
    return {
        "session_id": doc["_id"],
        "vid": doc.get("vid"),
        "arm": doc.get("arm"),
        "persona": doc.get("persona", "unknown"),
        "started_at": started.isoformat() if started else None,
        "last_at": last.isoformat() if last else None,
        "duration_s": (last - started).total_seconds() if started and last else 0,
        "events": doc.get("events", 0),
        "page_views": doc.get("page_views", 0),
        "clicks": doc.get("clicks", 0),
        "cart_actions": doc.get("cart_actions", 0),
        "max_depth": doc.get("max_depth", 0),
        "active_ms": doc.get("active_ms", 0),
        "converted": bool(doc.get("converted", False)),
        "pages": [
            {"pvid": pvid, **page}
            for pvid, page in sorted(
                doc.get("pages", {}).items(), key=lambda kv: kv[1].get("t0", 0)
            )
        ],
    }


@blueprint.get("/get-user-sessions/<user>/<int:page>")
@require_admin()
async def get_user_sessions(user: str, page: int) -> Any:
    if not ID_PATTERN.fullmatch(user) or not 1 <= page <= 10_000:
        raise InvalidInput("invalid_field", "user must be a visitor id and page 1..10000")
    docs = await services().pipeline.events.sessions_of(
        user, SESSIONS_PAGE_SIZE, (page - 1) * SESSIONS_PAGE_SIZE
    )
    return json_response(
        {"user": user, "page": page, "sessions": [_session_view(doc) for doc in docs]}
    )


@blueprint.get("/api/sessions/<session_id>")
@require_admin()
async def get_session(session_id: str) -> Any:
    if not ID_PATTERN.fullmatch(session_id):
        abort(404)
    doc = await services().pipeline.events.session(session_id)
    if doc is None:
        raise NotFound("unknown_session", "no such session")
    return json_response(_session_view(doc))


@blueprint.get("/admin/api/sessions/<session_id>/events")
@require_admin("admin")
async def export_session_events(session_id: str) -> Any:
    """The session's tracker events as NDJSON: one line per batch, in order."""
    if not ID_PATTERN.fullmatch(session_id):
        abort(404)
    chunks = await session_chunks(services().pipeline.events, session_id)
    if not chunks:
        raise NotFound("unknown_session", "no events for this session")
    lines = [
        orjson.dumps({key: chunk[key] for key in ("pvid", "seq", "t0", "path", "events")})
        for chunk in chunks
    ]
    return Response(b"\n".join(lines) + b"\n", mimetype="application/x-ndjson")


@blueprint.post("/get-movement-data")
@require_admin()
async def get_movement_data() -> Any:
    return json_response(await heatmap_data(read_heatmap_query(await read_json())))
