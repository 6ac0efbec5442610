"""Socket.IO namespaces and room names, shared by the sockets and the workers that emit."""

from __future__ import annotations

TRACK_NAMESPACE = "/track"
ADMIN_NAMESPACE = "/admin"
OVERVIEW_ROOM = "overview"
HEATMAP_ROOM = "heatmap"


def visitor_room(vid: str) -> str:
    """The /track room every open page of one visitor joins (persona and adapt pushes)."""
    return f"vid:{vid}"


def replay_room(sid: str) -> str:
    """The /admin room of admins watching one session live."""
    return f"replay:{sid}"
