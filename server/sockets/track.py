"""The /track namespace: shoppers stream batches here; persona and adaptations go back."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING, Any

import redis.asyncio as aioredis
import socketio
from pymongo.errors import PyMongoError

from server.container import Connections
from server.domain.rooms import TRACK_NAMESPACE, visitor_room
from server.pipeline.ingest import Ingest
from server.pipeline.rate_limit import TokenBucket
from server.services.identity import VisitorIdentity
from server.settings import TrackingSettings

if TYPE_CHECKING:
    from server.services.privacy import ConsentGate
    from server.workers.replay_writer import ReplayWriter

log = logging.getLogger(__name__)

# (vid, persona the page shows, personalization allowed) -> the (event, data) pushes it missed
CatchUp = Callable[[str, str, bool], Awaitable[list[tuple[str, dict[str, Any]]]]]


class TrackNamespace(socketio.AsyncNamespace):
    def __init__(
        self,
        identity: VisitorIdentity,
        limits: TrackingSettings,
        *,
        ingest: Ingest,
        consent: ConsentGate,
        replay: ReplayWriter | None,
        connections: Connections,
        catch_up: CatchUp | None = None,
    ) -> None:
        super().__init__(TRACK_NAMESPACE)
        self.identity = identity
        self.limits = limits
        self.ingest = ingest
        self.consent = consent  # analytics consent, DNT and GPC (privacy_api)
        self.replay = replay  # the rrweb channel (None when replays are off)
        self.connections = connections
        self.catch_up = catch_up
        self._catching_up: set[asyncio.Task[None]] = set()

    async def on_connect(self, sid: str, environ: dict[str, Any], auth: Any = None) -> bool:
        vid = self.identity.vid_from_cookie_header(environ.get("HTTP_COOKIE"))
        if vid is None:
            # No signed visitor cookie: nobody to attribute events to.
            return False
        consent = await self.consent.at_connect(environ, vid)
        if not consent.analytics:
            # No analytics consent, or Do-Not-Track / Global Privacy Control: nothing is taken.
            raise socketio.exceptions.ConnectionRefusedError("no_consent")
        await self.save_session(
            sid,
            {
                "vid": vid,
                "batches": TokenBucket(
                    self.limits.rate_limit_batches_per_second, self.limits.rate_limit_burst
                ),
                "events": TokenBucket(
                    self.limits.rate_limit_events_per_second,
                    self.limits.rate_limit_events_per_second * 2,
                ),
            },
        )
        await self.enter_room(sid, visitor_room(vid))
        self.connections.open += 1
        if self.catch_up is not None:
            # After the connection is acknowledged (a task), so the client is listening.
            shown = auth.get("persona") if isinstance(auth, dict) else None
            task = asyncio.create_task(
                self._send_missed(sid, vid, shown if isinstance(shown, str) else "unknown",
                                  consent.personalization)
            )  # fmt: skip
            self._catching_up.add(task)
            task.add_done_callback(self._catching_up.discard)
        return True

    async def _send_missed(self, sid: str, vid: str, shown: str, personalization: bool) -> None:
        assert self.catch_up is not None
        try:
            for event, data in await self.catch_up(vid, shown[:40], personalization):
                await self.emit(event, data, to=sid)
        except (aioredis.RedisError, OSError, PyMongoError):
            log.warning("could not send %s the pushes it missed", vid, exc_info=True)

    async def on_disconnect(self, sid: str, reason: Any = None) -> None:
        self.connections.open -= 1

    async def on_batch(self, sid: str, data: Any) -> dict[str, Any]:
        session = await self.get_session(sid)
        events = data.get("events") if isinstance(data, dict) else None
        cost = len(events) if isinstance(events, list) else 1
        if not session["batches"].take() or not session["events"].take(min(cost, 500)):
            return self.ingest.reject("rate_limited")
        if await self.consent.revoked(session):
            return self.ingest.reject("no_consent")
        return await self.ingest.accept(data, session["vid"])

    async def on_replay(self, sid: str, data: Any) -> dict[str, Any]:
        """A chunk of rrweb events `{sid, pvid, seq, events}`; its own budget, not the batches'."""
        if self.replay is None:
            return {"ok": False, "error": "unavailable"}
        session = await self.get_session(sid)
        bucket = session.setdefault("replay", self.replay.new_bucket())
        if not bucket.take():
            return self.replay.reject("rate_limited")
        if await self.consent.revoked(session):
            return self.replay.reject("no_consent")
        return await self.replay.accept(session["vid"], data)
