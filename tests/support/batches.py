"""Build tracker batches in the schema of docs/events.md (and the events of rrweb replay chunks)
for tests and load generators."""

from __future__ import annotations

import json
import secrets
import time
from pathlib import Path
from typing import Any

SCRIPTED_VISITS = Path(__file__).parent.parent / "fixtures" / "personas"


def page_view_id() -> str:
    return secrets.token_urlsafe(16)


def batch(
    vid: str, sid: str, pvid: str, seq: int, events: list[dict[str, Any]],
    path: str = "/product/p001", t0: int | None = None,
) -> dict[str, Any]:  # fmt: skip
    return {
        "v": 1, "vid": vid, "sid": sid, "pvid": pvid, "seq": seq,
        "t0": t0 or int(time.time() * 1000), "path": path, "events": events,
    }  # fmt: skip


def page_event(path: str = "/product/p001", width: int = 1280) -> dict[str, Any]:
    return {
        "k": "page", "t": 0, "path": path, "title": "Test page", "ref": "", "vw": width,
        "vh": 800, "dh": 2400, "dev": "desktop" if width >= 1024 else "mobile",
    }  # fmt: skip


def moves(count: int, start_t: int = 10) -> list[dict[str, Any]]:
    return [
        {"k": "move", "t": start_t + i * 50, "x": 100 + i % 900, "y": 200 + i % 700}
        for i in range(count)
    ]


def click(t: int, selector: str = '[data-action="add-to-cart"]') -> dict[str, Any]:
    return {"k": "click", "t": t, "x": 640, "y": 400, "a": selector, "rx": 0.5, "ry": 0.5}


def replay_as(visitor: dict[str, Any], fixture: str) -> list[dict[str, Any]]:
    """A scripted visit's batches (tests/fixtures/personas), re-addressed to a real visitor
    (`/api/me`) and visit."""
    batches = json.loads((SCRIPTED_VISITS / fixture).read_text())["batches"]
    return [{**b, "vid": visitor["vid"], "sid": visitor["session_id"]} for b in batches]


def rrweb_events(start: int, count: int = 3) -> list[dict[str, Any]]:
    """A replay chunk's rrweb events: meta, full snapshot, then mouse moves (`count` in all)."""
    meta = {
        "type": 4,
        "timestamp": start,
        "data": {"href": "http://x/", "width": 1280, "height": 800},
    }
    snapshot = {"type": 2, "timestamp": start + 1, "data": {"node": {"type": 0, "childNodes": []}}}
    pointer = [
        {"type": 3, "timestamp": start + 10 + i, "data": {"source": 1, "positions": []}}
        for i in range(max(0, count - 2))
    ]
    return [meta, snapshot, *pointer][:count]
