"""The /admin namespace: live overview, heatmap deltas, replays watched live.

A connection must carry the admin session cookie (`vitrine_admin`, Quart's signed cookie
session); it is checked once at connect with the app's own session serializer. Rooms:
`overview` (a snapshot every ~2 s), `heatmap` (the bins each flush round added) and
`replay:<sid>` (rrweb chunks as they are stored; admin role only, audited).
"""

from __future__ import annotations

import asyncio
import logging
from typing import Any

import socketio
from itsdangerous import BadSignature
from quart import Quart

from server.adapters.admin_store import ROLES
from server.adapters.audit_store import REPLAY_WATCH
from server.container import Services
from server.domain.events import ID_PATTERN
from server.domain.rooms import ADMIN_NAMESPACE, HEATMAP_ROOM, OVERVIEW_ROOM, replay_room
from server.services.identity import cookie_from_header
from server.services.monitoring import overview_snapshot
from server.workers.replay_writer import ReplayWriter

log = logging.getLogger(__name__)

NAMESPACE = ADMIN_NAMESPACE
OVERVIEW_EVERY_S = 2.0


def admin_from_cookie(app: Quart, cookie_header: str | None) -> dict[str, str] | None:
    """Read the logged-in admin from a raw Cookie header, as Quart's session would."""
    value = cookie_from_header(cookie_header, app.config["SESSION_COOKIE_NAME"])
    serializer = app.session_interface.get_signing_serializer(app)
    if value is None or serializer is None:
        return None
    try:
        data = serializer.loads(value, max_age=int(app.permanent_session_lifetime.total_seconds()))
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
        await services.privacy.audit.record(admin, REPLAY_WATCH, session_id)
        await self.enter_room(sid, replay_room(session_id))
        return {"ok": True}

    async def on_unsubscribe(self, sid: str, data: Any) -> dict[str, Any]:
        channel = data.get("channel") if isinstance(data, dict) else None
        if channel in (OVERVIEW_ROOM, HEATMAP_ROOM):
            await self.leave_room(sid, channel)
        elif channel == "replay" and isinstance(data.get("sid"), str):
            await self.leave_room(sid, replay_room(data["sid"]))
        return {"ok": True}


class OverviewPublisher:
    """Pushes the overview snapshot to this process's watchers every ~2 s."""

    def __init__(self, sio: socketio.AsyncServer, services: Services) -> None:
        self.sio = sio
        self.services = services

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


def start_admin_side(services: Services, sio: socketio.AsyncServer) -> ReplayWriter | None:
    """Start the overview pushes; build the replay writer (the rrweb channel) when enabled."""
    settings = services.settings
    writer = None
    if settings.replay.enabled:
        writer = ReplayWriter(
            services.pipeline.write_queue,
            sio,
            max_bytes=settings.replay.max_chunk_bytes,
            chunks_per_second=settings.replay.chunks_per_second,
        )
        services.pipeline.replay_writer = writer
    publisher = OverviewPublisher(sio, services)
    services.tasks.append(asyncio.create_task(publisher.overview_loop(), name="admin-overview"))
    return writer
