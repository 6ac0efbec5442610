"""The /admin namespace: live overview, heatmap deltas, replays watched live.

A connection must carry the admin session cookie (`vitrine_admin`, Quart's signed cookie
session); it is checked once at connect with the app's own session serializer. Rooms:
`overview` (a snapshot every ~2 s), `heatmap` (the bins each flush round added) and
`replay:<sid>` (rrweb chunks as they are stored; admin role only, audited).
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Mapping
from http.cookies import SimpleCookie
from typing import Any

import socketio
from itsdangerous import BadSignature
from quart import Quart

from server.adapters.admin_store import ROLES
from server.adapters.audit_store import REPLAY_WATCH, AuditStore
from server.adapters.dashboard_store import DashboardReads
from server.adapters.replay_store import ReplayStore
from server.bootstrap import Services
from server.domain.events import ID_PATTERN
from server.domain.heatmap import merge_bins
from server.pipeline.aggregate import FlushPlan, Update
from server.sockets.track import TrackNamespace
from server.web.admin_api import overview_snapshot
from server.workers.replay_writer import ReplayWriter, replay_room

log = logging.getLogger(__name__)

NAMESPACE = "/admin"
OVERVIEW_ROOM = "overview"
HEATMAP_ROOM = "heatmap"
OVERVIEW_EVERY_S = 2.0


def admin_from_cookie(app: Quart, cookie_header: str | None) -> dict[str, str] | None:
    """Read the logged-in admin from a raw Cookie header, as Quart's session would."""
    if not cookie_header:
        return None
    jar: SimpleCookie = SimpleCookie()
    try:
        jar.load(cookie_header)
    except Exception:  # a malformed header is just "not logged in"
        return None
    morsel = jar.get(app.config["SESSION_COOKIE_NAME"])
    serializer = app.session_interface.get_signing_serializer(app)
    if morsel is None or serializer is None:
        return None
    try:
        data = serializer.loads(
            morsel.value, max_age=int(app.permanent_session_lifetime.total_seconds())
        )
    except BadSignature:  # also covers an expired signature
        return None
    admin = data.get("admin") if isinstance(data, dict) else None
    if not isinstance(admin, dict) or admin.get("role") not in ROLES:
        return None
    return {"username": str(admin.get("username", "")), "role": str(admin["role"])}


class AdminNamespace(socketio.AsyncNamespace):
    def __init__(self, app: Quart) -> None:
        super().__init__(NAMESPACE)
        self.app = app

    async def on_connect(self, sid: str, environ: dict[str, Any], auth: Any = None) -> None:
        admin = admin_from_cookie(self.app, environ.get("HTTP_COOKIE"))
        if admin is None:
            raise socketio.exceptions.ConnectionRefusedError("unauthenticated")
        await self.save_session(sid, {"admin": admin})

    async def on_subscribe(self, sid: str, data: Any) -> dict[str, Any]:
        """Join a channel: {channel: overview|heatmap} or {channel: replay, sid: <session>}."""
        channel = data.get("channel") if isinstance(data, dict) else None
        if channel == OVERVIEW_ROOM:
            await self.enter_room(sid, OVERVIEW_ROOM)
            services: Services = self.app.extensions["vitrine"]
            await self.emit("overview", await overview_snapshot(services), to=sid)
            return {"ok": True}
        if channel == HEATMAP_ROOM:
            await self.enter_room(sid, HEATMAP_ROOM)
            return {"ok": True}
        if channel == "replay":
            return await self._watch(sid, data.get("sid"))
        return {"ok": False, "error": "unknown_channel"}

    async def _watch(self, sid: str, session_id: Any) -> dict[str, Any]:
        admin = (await self.get_session(sid))["admin"]
        if admin["role"] != "admin":
            return {"ok": False, "error": "forbidden_role"}
        if not isinstance(session_id, str) or not ID_PATTERN.fullmatch(session_id):
            return {"ok": False, "error": "invalid_session"}
        services: Services = self.app.extensions["vitrine"]
        audit: AuditStore = services.extras["audit"]
        await audit.record(admin, REPLAY_WATCH, session_id)
        await self.enter_room(sid, replay_room(session_id))
        return {"ok": True}

    async def on_unsubscribe(self, sid: str, data: Any) -> dict[str, Any]:
        channel = data.get("channel") if isinstance(data, dict) else None
        if channel in (OVERVIEW_ROOM, HEATMAP_ROOM):
            await self.leave_room(sid, channel)
        elif channel == "replay" and isinstance(data.get("sid"), str):
            await self.leave_room(sid, replay_room(data["sid"]))
        return {"ok": True}


def heatmap_delta(plan: FlushPlan, scroll: Mapping[str, Mapping[int, int]]) -> dict[str, Any]:
    """What one flush round added to the heatmap bins and scroll depths, for live heatmaps."""
    bins = []
    for bin_id, update in plan.heatmap_bins.items():
        doc = update.as_new_document(bin_id)
        meta = {key: doc.get(key) for key in ("day", "kind", "vc", "persona", "arm", "path")}
        bins.append({**meta, **merge_bins([doc])})
    depths = [
        {**plan.scroll_meta[doc_id], "reached": {str(b): n for b, n in buckets.items()}}
        for doc_id, buckets in scroll.items()
        if doc_id in plan.scroll_meta
    ]
    return {"bins": bins, "scroll": depths}


class AdminPublisher:
    """Pushes to the /admin rooms: heatmap deltas after each flush, the overview every ~2 s."""

    def __init__(self, sio: Any, services: Services, *, coalesce_s: float = 0.0) -> None:
        self.sio = sio
        self.services = services
        # From the workers' process, every commit's delta would be one more pubsub message
        # to encode: with `coalesce_s`, deltas are summed and sent at most that often.
        self.coalesce_s = coalesce_s
        self._pending = FlushPlan()
        self._pending_scroll: dict[str, dict[int, int]] = {}
        self._sender: asyncio.Task[None] | None = None

    async def on_flushed(self, plan: FlushPlan, scroll: Mapping[str, Mapping[int, int]]) -> None:
        if self.coalesce_s:
            self._add(plan, scroll)
            if self._sender is None or self._sender.done():
                self._sender = asyncio.create_task(self._send_later())
            return
        await self._emit(plan, scroll)

    async def _emit(self, plan: FlushPlan, scroll: Mapping[str, Mapping[int, int]]) -> None:
        delta = heatmap_delta(plan, scroll)
        if delta["bins"] or delta["scroll"]:
            await self.sio.emit("heatmap", delta, room=HEATMAP_ROOM, namespace=NAMESPACE)

    def _add(self, plan: FlushPlan, scroll: Mapping[str, Mapping[int, int]]) -> None:
        for bin_id, update in plan.heatmap_bins.items():
            into = self._pending.heatmap_bins.setdefault(bin_id, Update())
            for path, amount in update.inc.items():
                into.add(path, amount)
            into.set.update(update.set)
            into.on_insert.update(update.on_insert)
        self._pending.scroll_meta.update(plan.scroll_meta)
        for doc_id, buckets in scroll.items():
            counts = self._pending_scroll.setdefault(doc_id, {})
            for bucket, n in buckets.items():
                counts[bucket] = counts.get(bucket, 0) + n

    async def _send_later(self) -> None:
        await asyncio.sleep(self.coalesce_s)
        plan, scroll = self._pending, self._pending_scroll
        self._pending, self._pending_scroll = FlushPlan(), {}
        try:
            await self._emit(plan, scroll)
        except Exception:  # live views are best effort; the data is stored
            log.warning("heatmap push failed", exc_info=True)

    async def on_persona_change(self, vid: str, sid: str, payload: dict[str, Any]) -> None:
        marker = {"kind": "persona", "label": payload.get("persona"), "at": payload.get("at")}
        marker.update(confidence=payload.get("confidence"), reasons=payload.get("reasons", []))
        await self.sio.emit("marker", marker, room=replay_room(sid), namespace=NAMESPACE)

    def _has_local_watchers(self) -> bool:
        participants = self.sio.manager.get_participants(NAMESPACE, OVERVIEW_ROOM)
        return next(iter(participants), None) is not None

    async def overview_loop(self) -> None:
        """Each process serves its own watchers (ignore_queue): no duplicates across processes."""
        while True:
            try:
                if self._has_local_watchers():
                    snapshot = await overview_snapshot(self.services)
                    await self.sio.emit(
                        "overview",
                        snapshot,
                        room=OVERVIEW_ROOM,
                        namespace=NAMESPACE,
                        ignore_queue=True,
                    )
            except asyncio.CancelledError:
                raise
            except Exception:
                log.warning("overview push failed", exc_info=True)
            await asyncio.sleep(OVERVIEW_EVERY_S)


def start_admin_side(services: Services, sio: socketio.AsyncServer, track: TrackNamespace) -> None:
    """Build the admin stores, the replay writer and the live publishers; start their tasks."""
    settings = services.settings
    replays = ReplayStore(services.store)
    services.extras.update(
        replays=replays,
        audit=AuditStore(services.store),
        dashboard=DashboardReads(services.store),
    )
    if settings.replay.enabled:
        writer = ReplayWriter(
            services.extras["write_queue"],
            sio,
            max_bytes=settings.replay.max_chunk_bytes,
            chunks_per_second=settings.replay.chunks_per_second,
        )
        services.extras["replay_writer"] = writer
        track.replay = writer
    publisher = AdminPublisher(sio, services)
    flusher = services.extras.get("flusher")
    if flusher is not None:
        flusher.on_flushed = publisher.on_flushed
    worker = services.extras.get("persona_worker")
    if worker is not None and worker.on_change is None:
        worker.on_change = publisher.on_persona_change
    services.tasks.append(asyncio.create_task(publisher.overview_loop(), name="admin-overview"))
