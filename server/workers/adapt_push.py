"""When a visitor's persona changes, push the adaptations that go with it to their pages."""

from __future__ import annotations

import logging
from typing import Any

from server.bootstrap import Services
from server.domain.adaptations import page_kind
from server.domain.experiments import assign_arm
from server.sockets.track import visitor_room
from server.web.adaptation_service import build_adaptations, log_exposures

log = logging.getLogger(__name__)


class AdaptationPusher:
    def __init__(self, services: Services, notifier: Any) -> None:
        self.services = services
        self.notifier = notifier

    async def __call__(self, vid: str, sid: str, payload: dict[str, Any], path: str) -> None:
        """Send `adapt` (treatment, not opted out) and log what the current page shows."""
        settings = self.services.settings.experiments
        arm = assign_arm(vid, settings.holdout_fraction, settings.force_arm)
        persona = payload["persona"]
        adaptations = await build_adaptations(self.services, vid, persona, arm)
        if not adaptations:
            return  # control visitors are predicted and recorded, never adapted
        await self.notifier.emit(
            "adapt",
            {"persona": persona, "reasons": payload.get("reasons", []), "adaptations": adaptations},
            room=visitor_room(vid),
            namespace="/track",
        )
        kind = page_kind(path)
        shown = [a["name"] for a in adaptations if kind in a["payload"]["pages"]]
        await log_exposures(self.services, vid, sid, persona, arm, shown, path)
