"""Live views: what the workers push to open pages and to the admin console as it happens.

- the shopper's pages (room `vid:<vid>` on /track) get the new persona, when the visitor
  allows personalization;
- the admin console (/admin) gets each persona change as a replay marker, and the heatmap
  bins and scroll depths each flush round added.

The notifier is whatever emits Socket.IO events: the server itself, or, from the workers'
process, python-socketio's write-only Redis manager. Pushes are best effort: the data they
describe is already stored.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Protocol

from server.domain.heatmap import merge_bins
from server.domain.rooms import (
    ADMIN_NAMESPACE,
    HEATMAP_ROOM,
    TRACK_NAMESPACE,
    replay_room,
    visitor_room,
)
from server.pipeline.aggregate import FlushPlan, Update

log = logging.getLogger(__name__)


class Notifier(Protocol):
    """Anything with Socket.IO's emit: the server itself, or a write-only Redis manager."""

    async def emit(self, event: str, data: Any, *, room: str, namespace: str) -> Any: ...


class PersonalizationConsent(Protocol):
    async def personalization_allowed(self, vid: str) -> bool: ...


@dataclass(frozen=True)
class PersonaChange:
    """A visitor's shown persona changed: what the persona worker tells its listeners."""

    vid: str
    sid: str
    payload: dict[str, Any]
    path: str  # the page in view when it changed


class ShopperPersonaPush:
    """Tell the visitor's open pages; without personalization consent, tell them nothing."""

    def __init__(self, notifier: Notifier, consent: PersonalizationConsent) -> None:
        self.notifier = notifier
        self.consent = consent

    async def __call__(self, change: PersonaChange) -> None:
        if await self.consent.personalization_allowed(change.vid):
            await self.notifier.emit(
                "persona", change.payload, room=visitor_room(change.vid), namespace=TRACK_NAMESPACE
            )


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


class AdminLiveViews:
    """Heatmap deltas after each flush and persona markers, to the /admin rooms."""

    def __init__(self, notifier: Notifier, *, coalesce_s: float = 0.0) -> None:
        self.notifier = notifier
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

    async def on_persona_change(self, change: PersonaChange) -> None:
        payload = change.payload
        marker = {"kind": "persona", "label": payload.get("persona"), "at": payload.get("at")}
        marker.update(confidence=payload.get("confidence"), reasons=payload.get("reasons", []))
        await self.notifier.emit(
            "marker", marker, room=replay_room(change.sid), namespace=ADMIN_NAMESPACE
        )

    async def _emit(self, plan: FlushPlan, scroll: Mapping[str, Mapping[int, int]]) -> None:
        delta = heatmap_delta(plan, scroll)
        if delta["bins"] or delta["scroll"]:
            await self.notifier.emit("heatmap", delta, room=HEATMAP_ROOM, namespace=ADMIN_NAMESPACE)

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
