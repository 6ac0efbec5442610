"""Tracking over HTTP: the beacon fallback, and the seed's admin read endpoints."""

from __future__ import annotations

import re
from datetime import UTC, date, datetime, timedelta
from typing import Any

import orjson
from quart import Blueprint, Response, abort

from personas_engine.vocabulary import PERSONAS, UNKNOWN
from server.adapters.event_store import session_chunks
from server.domain.errors import InvalidInput, NotFound
from server.domain.events import ID_PATTERN, PATH_PATTERN
from server.domain.heatmap import DEVICE_CLASSES_FOR_FILTER, merge_bins, merge_scroll
from server.domain.validation import read_str, require_object
from server.web.admin_auth import require_admin
from server.web.common import json_response, read_json, services, visitor

blueprint = Blueprint("tracking", __name__)

SESSIONS_PAGE_SIZE = 20
MAX_RANGE_DAYS = 92
ACK_STATUS = {
    "invalid_json": 400, "invalid_batch": 400, "invalid_event": 400, "unknown_kind": 400,
    "too_many_events": 400, "too_large": 413, "forbidden_visitor": 403,
    "rate_limited": 429, "unavailable": 503, "busy": 503,
}  # fmt: skip
DAY = re.compile(r"^\d{4}-\d{2}-\d{2}$")


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


def day_range(start: str | None, end: str | None) -> list[str]:
    """Expand an inclusive YYYY-MM-DD range (default: the last 7 days) into day keys."""
    today = datetime.now(UTC).date()
    try:
        last = date.fromisoformat(end) if end else today
        first = date.fromisoformat(start) if start else last - timedelta(days=6)
    except ValueError:
        raise InvalidInput("invalid_field", "from and to are YYYY-MM-DD dates") from None
    if last >= date.max - timedelta(days=1) or first <= date.min + timedelta(days=7):
        # Readers add a day to the end (and take days off the start): keep both in range.
        raise InvalidInput("invalid_field", "from and to are dates between years 1 and 9999")
    if first > last or (last - first).days >= MAX_RANGE_DAYS:
        raise InvalidInput("invalid_field", f"a range of 1..{MAX_RANGE_DAYS} days")
    return [(first + timedelta(days=i)).isoformat() for i in range((last - first).days + 1)]


def read_heatmap_query(body: Any) -> dict[str, Any]:
    data = require_object(body)
    path = read_str(data, "page", pattern=PATH_PATTERN, max_len=200)
    kind = read_str(data, "kind", max_len=10)
    if kind not in ("click", "move", "scroll"):
        raise InvalidInput("invalid_field", "kind is click, move or scroll")
    days, filters = read_aggregate_filters(data)
    return {"path": path, "kind": kind, "days": days, "filters": filters}


def read_aggregate_filters(data: dict[str, Any]) -> tuple[list[str], dict[str, str]]:
    """The days and the filters (viewport class, persona, arm) of a read of aggregates."""
    filters: dict[str, str] = {}
    viewport = read_str(data, "viewport_class", max_len=10, required=False)
    if viewport is not None:
        if viewport not in DEVICE_CLASSES_FOR_FILTER:
            raise InvalidInput("invalid_field", "viewport_class is mobile, tablet or desktop")
        filters["vc"] = viewport
    persona = read_str(data, "persona", max_len=20, required=False)
    if persona is not None:
        if persona not in (*PERSONAS, UNKNOWN):
            raise InvalidInput("invalid_field", "unknown persona")
        filters["persona"] = persona
    arm = read_str(data, "arm", max_len=10, required=False)
    if arm is not None:
        if arm not in ("treatment", "control"):
            raise InvalidInput("invalid_field", "arm is treatment or control")
        filters["arm"] = arm
    days = day_range(
        read_str(data, "from", pattern=DAY, max_len=10, required=False),
        read_str(data, "to", pattern=DAY, max_len=10, required=False),
    )
    return days, filters


async def heatmap_data(query: dict[str, Any]) -> dict[str, Any]:
    """Read pre-aggregated bins only: one indexed query, summed in memory."""
    events = services().pipeline.events
    if query["kind"] == "scroll":
        docs = await events.scroll_documents(query["path"], query["days"], query["filters"])
        return {"page": query["path"], "kind": "scroll", **merge_scroll(docs)}
    docs = await events.heatmap_documents(
        query["path"], query["kind"], query["days"], query["filters"]
    )
    return {"page": query["path"], "kind": query["kind"], **merge_bins(docs)}


@blueprint.post("/get-movement-data")
@require_admin()
async def get_movement_data() -> Any:
    return json_response(await heatmap_data(read_heatmap_query(await read_json())))
