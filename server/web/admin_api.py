"""The admin console's JSON APIs: overview, heatmaps, sessions, replay, export and audit.

Roles are declared on each route with `require_admin`: analysts read dashboards and
heatmaps; replays, exports and the audit log are for the admin role only.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from datetime import UTC, date, datetime, timedelta
from typing import Any

from quart import Blueprint, Response, request

from personas_engine.vocabulary import PERSONAS, UNKNOWN
from server.adapters.audit_store import REPLAY_VIEW, SESSION_EXPORT, AuditStore
from server.adapters.dashboard_store import (
    DashboardReads,
    SessionFilter,
)
from server.adapters.event_store import session_chunks
from server.adapters.replay_store import (
    ReplayStore,
    as_utc,
    clock_offset_ms,
    epoch_ms,
    events_of,
    export_lines,
)
from server.domain.errors import InvalidInput, NotFound
from server.domain.events import ID_PATTERN
from server.domain.frustration import SIGNALS, Signal, session_signals
from server.services.monitoring import overview_snapshot
from server.services.trends import trend_window, trend_windows
from server.web.admin_auth import current_admin, require_admin
from server.web.aggregate_query import day_range, heatmap_data, query_args, read_heatmap_query
from server.web.common import json_response, services

blueprint = Blueprint("admin_api", __name__)

PAGE_SIZE = 25
MAX_PAGE = 10_000
LIVE_WINDOW_S = 60  # a session whose last replay chunk is this recent can be watched live
PERSONA_FILTER = (*PERSONAS, UNKNOWN)


def _reads() -> DashboardReads:
    return services().admin.dashboard


def _replays() -> ReplayStore:
    return services().admin.replays


def _audit() -> AuditStore:
    return services().privacy.audit


def iso(moment: datetime | None) -> str | None:
    return as_utc(moment).isoformat() if isinstance(moment, datetime) else None


@blueprint.get("/admin/api/overview")
@require_admin()
async def overview() -> Any:
    return json_response(await overview_snapshot(services()))


@blueprint.get("/admin/api/trends")
@require_admin()
async def trends() -> Any:
    """The overview's trend buckets over one window: `?window=1h` (the default) or `1d`."""
    shop = services()
    name = request.args.get("window", "1h")
    if name not in trend_windows(shop.settings.trends):
        raise InvalidInput("bad_window", "window is 1h or 1d")
    return json_response(await trend_window(shop.admin.trends, shop.settings.trends, name))


@blueprint.get("/admin/api/heatmap")
@require_admin()
async def heatmap() -> Any:
    """Heatmap bins or scroll depth for a page; the query string as /get-movement-data's body."""
    query = read_heatmap_query(query_args())
    return json_response(await heatmap_data(query))


@blueprint.get("/admin/api/heatmap/pages")
@require_admin()
async def heatmap_pages() -> Any:
    days = day_range(request.args.get("from") or None, request.args.get("to") or None)
    return json_response({"pages": await _reads().heatmap_pages(days)})


def session_filter(args: Any) -> tuple[SessionFilter, int]:
    """Read the sessions list's query string (every field optional) and the page number."""
    days = day_range(args.get("from") or None, args.get("to") or None)
    since = datetime.combine(date.fromisoformat(days[0]), datetime.min.time(), UTC)
    until = datetime.combine(date.fromisoformat(days[-1]), datetime.min.time(), UTC)
    persona, arm = args.get("persona") or None, args.get("arm") or None
    if persona is not None and persona not in PERSONA_FILTER:
        raise InvalidInput("invalid_field", "unknown persona")
    if arm is not None and arm not in ("treatment", "control"):
        raise InvalidInput("invalid_field", "arm is treatment or control")
    converted_arg = args.get("converted") or ""
    if converted_arg not in ("", "1", "0"):
        raise InvalidInput("invalid_field", "converted is 1 or 0")
    converted = None if converted_arg == "" else converted_arg == "1"
    vid = args.get("vid") or None
    if vid is not None and not ID_PATTERN.fullmatch(vid):
        raise InvalidInput("invalid_field", "vid is a visitor id")
    signal = args.get("signal") or None
    if signal is not None and signal not in (*SIGNALS, "any"):
        raise InvalidInput("invalid_field", f"signal is one of {', '.join(SIGNALS)} or any")
    page = args.get("page") or "1"
    if not page.isdigit() or not 1 <= int(page) <= MAX_PAGE:
        raise InvalidInput("invalid_field", f"page is 1..{MAX_PAGE}")
    filters = SessionFilter(since, until + timedelta(days=1), persona, arm, converted, vid, signal)
    return filters, int(page)


def shown_persona(change: dict[str, Any]) -> str:
    """The persona a change put on screen (the worker records the prediction and the shown one)."""
    return str(change.get("shown") or change.get("persona") or "unknown")


def session_row(
    doc: dict[str, Any],
    changes: list[dict[str, Any]],
    exposures: list[dict[str, Any]],
    order_cents: int | None,
) -> dict[str, Any]:
    started, last = doc.get("started_at"), doc.get("last_at")
    pages = sorted(doc.get("pages", {}).items(), key=lambda kv: kv[1].get("t0", 0))
    return {
        "session_id": doc["_id"],
        "vid": doc.get("vid"),
        "arm": doc.get("arm"),
        "persona": doc.get("persona", "unknown"),
        "started_at": iso(started),
        "last_at": iso(last),
        "duration_s": round((last - started).total_seconds(), 1) if started and last else 0,
        "page_views": doc.get("page_views", 0),
        "pages": [page.get("path", "") for _, page in pages],
        "events": doc.get("events", 0),
        "clicks": doc.get("clicks", 0),
        "converted": bool(doc.get("converted", False)),
        "frustration": {k: int(n) for k, n in doc.get("fx", {}).items() if k in SIGNALS and n},
        "order_cents": order_cents,
        "persona_timeline": [
            {"at": iso(c["at"]), "persona": shown_persona(c), "confidence": c.get("confidence")}
            for c in changes
        ],
        "exposures": sum(1 for e in exposures if not e.get("counterfactual")),  # shown only
    }


@blueprint.get("/admin/api/sessions")
@require_admin()
async def sessions_list() -> Any:
    """Sessions, most recently active first, PAGE_SIZE per page, with filters."""
    filters, page = session_filter(request.args)
    reads = _reads()
    docs = await reads.session_page(filters, (page - 1) * PAGE_SIZE, PAGE_SIZE + 1)
    has_more, docs = len(docs) > PAGE_SIZE, docs[:PAGE_SIZE]
    sids, vids = [d["_id"] for d in docs], [d["vid"] for d in docs if d.get("vid")]
    changes = await reads.persona_changes(sids)
    exposures = await reads.exposures_of(sids)
    totals = await reads.order_totals(vids, sids)
    live_after = datetime.now(UTC) - timedelta(seconds=LIVE_WINDOW_S)
    rows = []
    for doc in docs:
        row = session_row(
            doc, changes.get(doc["_id"], []), exposures.get(doc["_id"], []), totals.get(doc["_id"])
        )
        row["live"] = bool(doc.get("last_at")) and as_utc(doc["last_at"]) >= live_after
        rows.append(row)
    return json_response(
        {"page": page, "page_size": PAGE_SIZE, "has_more": has_more, "sessions": rows}
    )


async def _session_or_404(session_id: str) -> dict[str, Any]:
    doc = (
        await services().pipeline.events.session(session_id)
        if ID_PATTERN.fullmatch(session_id)
        else None
    )
    if doc is None:
        raise NotFound("unknown_session", "no such session")
    return doc  # type: ignore[no-any-return]


def _markers(
    changes: list[dict[str, Any]],
    exposures: list[dict[str, Any]],
    offset_ms: int,
    signals: Sequence[Signal] = (),
) -> list[dict[str, Any]]:
    """Persona changes, exposures and frustration signals on the replay's clock (browser
    time: a signal's time is the browser's already)."""
    markers = [
        {
            "kind": "persona",
            "t": epoch_ms(c["at"]) - offset_ms,
            "at": iso(c["at"]),
            "label": shown_persona(c),
            "confidence": c.get("confidence"),
            "reasons": c.get("reasons", []),
        }
        for c in changes
    ]
    markers += [
        {
            "kind": "exposure",
            "t": epoch_ms(e["at"]) - offset_ms,
            "at": iso(e["at"]),
            "label": e.get("adaptation", "?"),
            "persona": e.get("persona"),
        }
        for e in exposures
        if not e.get("counterfactual")  # "would have shown": nothing happened on the page
    ]
    markers += [
        {
            "kind": "frustration",
            "t": s.at_ms,
            "at": datetime.fromtimestamp(s.at_ms / 1000, UTC).isoformat(),
            "label": s.kind,
            "page": s.path,
            "anchor": s.anchor,
            **({"error": {"kind": s.error_kind, "origin": s.error_origin}} if s.error_kind else {}),
        }
        for s in signals
    ]
    return sorted(markers, key=lambda marker: marker["t"])


@blueprint.get("/admin/api/sessions/<session_id>/replay")
@require_admin("admin")
async def replay(session_id: str) -> Any:
    """The session's rrweb events and its markers; recorded in the audit log."""
    doc = await _session_or_404(session_id)
    admin = current_admin() or {}
    await _audit().record(admin, REPLAY_VIEW, session_id, ip=request.remote_addr)
    chunks = await _replays().of_session(session_id, doc.get("vid"))
    reads = _reads()
    changes = (await reads.persona_changes([session_id])).get(session_id, [])
    exposures = (await reads.exposures_of([session_id])).get(session_id, [])
    offset = clock_offset_ms(chunks)
    events = events_of(chunks)
    batches = await session_chunks(services().pipeline.events, session_id)
    signals = session_signals(batches, services().settings.frustration.rules())
    last_received = max((epoch_ms(c["received_at"]) for c in chunks), default=0)
    return json_response(
        {
            "session": session_row(doc, changes, exposures, None),
            "events": events,
            "chunks": [c["_id"] for c in chunks],
            "markers": _markers(changes, exposures, offset, signals),
            "clock_offset_ms": offset,
            "live": time.time() * 1000 - last_received < LIVE_WINDOW_S * 1000,
        }
    )


@blueprint.get("/admin/api/sessions/<session_id>/export")
@require_admin("admin")
async def export(session_id: str) -> Any:
    """The session's tracker batches and rrweb chunks as NDJSON (see docs/admin.md)."""
    doc = await _session_or_404(session_id)
    await _audit().record(current_admin() or {}, SESSION_EXPORT, session_id, ip=request.remote_addr)
    tracker = await session_chunks(services().pipeline.events, session_id)
    rrweb = await _replays().of_session(session_id, doc.get("vid"))
    response = Response(
        b"".join(line + b"\n" for line in export_lines(tracker, rrweb)),
        mimetype="application/x-ndjson",
    )
    response.headers["Content-Disposition"] = f'attachment; filename="{session_id}.ndjson"'
    return response


@blueprint.get("/admin/api/audit")
@require_admin("admin")
async def audit() -> Any:
    target = request.args.get("target") or None
    if target is not None and not ID_PATTERN.fullmatch(target):
        raise InvalidInput("invalid_field", "target is a session id")
    entries = await _audit().recent(200, target)
    return json_response({"entries": [{**e, "at": iso(e["at"])} for e in entries]})
