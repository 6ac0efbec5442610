"""When a visitor's persona changes, push the adaptations that go with it to their pages.

Whether it now qualifies for one is logged in both arms (adaptation_service).
"""

from __future__ import annotations

import logging
from typing import Any

from server.bootstrap import Services
from server.domain.experiments import assign_arm
from server.sockets.track import visitor_room
from server.web.adaptation_service import build_adaptations, opted_out, record_qualification

log = logging.getLogger(__name__)


class AdaptationPusher:
    def __init__(self, services: Services, notifier: Any) -> None:
        self.services = services
        self.notifier = notifier

    async def __call__(self, vid: str, sid: str, payload: dict[str, Any], path: str) -> None:
        """Send `adapt` (treatment, not opted out, "ab") and log qualifying in either arm."""
        settings = self.services.settings.experiments
        arm = assign_arm(vid, settings.holdout_fraction, settings.force_arm)
        persona = payload["persona"]
        opted = await opted_out(self.services, vid)
        # Empty for control visitors and in A/A mode: they are predicted and logged, never adapted.
        adaptations = await build_adaptations(self.services, vid, persona, arm, opted=opted)
        if adaptations:
            await self.notifier.emit(
                "adapt",
                {"persona": persona, "reasons": payload.get("reasons", []),
                 "adaptations": adaptations},
                room=visitor_room(vid),
                namespace="/track",
            )  # fmt: skip
        await record_qualification(
            self.services, vid, sid, persona, arm, path,
            opted=opted, built=[a["name"] for a in adaptations],
        )  # fmt: skip
