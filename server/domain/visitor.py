"""Who is shopping: the visitor id, the current visit, the sticky experiment arm."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Visitor:
    vid: str
    session_id: str
    arm: str
    is_new: bool
