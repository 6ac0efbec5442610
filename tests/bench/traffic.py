"""What simulated shoppers send: tracker batches cut from the persona simulator's page views.

The simulator (personas_engine.simulate) produces visits event by event in the tracker's
schema. Load shoppers replay its page views 50 events per batch (the tracker's upper
bound, and the batch size the throughput target names); persona probes replay whole
clear-cut visits in batches big enough that each one triggers a prediction.
"""

from __future__ import annotations

import itertools
import secrets
import time
from collections import defaultdict
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

from personas_engine.simulate import Mixture, simulate_visits

BATCH_EVENTS = 50
PURE = Mixture(pure_fraction=1.0, noise=0.0, sparse_pointer=0.0, phone=0.0, tablet=0.0, late_batch=0.0,
               duplicate=0.0)  # fmt: skip


@dataclass(frozen=True)
class PageView:
    """One page view's events, already cut into batches (lists of events)."""

    path: str
    batches: tuple[tuple[dict[str, Any], ...], ...]


def _page_views(visits: Any) -> list[tuple[str, list[dict[str, Any]]]]:
    """Every page view of the visits: (path, events in time order)."""
    out: list[tuple[str, list[dict[str, Any]]]] = []
    for visit in visits:
        events: dict[str, list[dict[str, Any]]] = defaultdict(list)
        paths: dict[str, str] = {}
        seen: set[tuple[str, int]] = set()
        for batch in visit.batches:
            if (batch["pvid"], batch["seq"]) in seen:  # the simulator's duplicate deliveries
                continue
            seen.add((batch["pvid"], batch["seq"]))
            events[batch["pvid"]].extend(batch["events"])
            paths[batch["pvid"]] = batch["path"]
        for pvid, items in events.items():
            ordered = sorted(items, key=lambda e: (e["k"] != "page", e["t"]))
            out.append((paths[pvid], ordered))
    return out


def load_page_views(visits: int = 240, seed: int = 7) -> list[PageView]:
    """Page views with at least 50 events, cut into full 50-event batches."""
    views: list[PageView] = []
    for path, events in _page_views(simulate_visits(visits, seed)):
        full = len(events) // BATCH_EVENTS
        if full:
            views.append(
                PageView(path, tuple(tuple(events[i * BATCH_EVENTS : (i + 1) * BATCH_EVENTS])
                                     for i in range(full)))
            )  # fmt: skip
    if not views:
        raise RuntimeError("the simulator produced no page view of 50 events")
    return views


def probe_visits(visits: int = 60, seed: int = 11, min_events: int = 20) -> list[list[PageView]]:
    """Clear-cut visits (one persona, no noise), each batch carrying at least `min_events`."""
    out: list[list[PageView]] = []
    for visit in simulate_visits(visits, seed, PURE):
        views: list[PageView] = []
        for path, events in _page_views([visit]):
            cut: list[tuple[dict[str, Any], ...]] = []
            for start in range(0, len(events), BATCH_EVENTS):
                part = tuple(events[start : start + BATCH_EVENTS])
                if cut and len(part) < min_events:
                    cut[-1] = cut[-1] + part  # a short tail joins the previous batch
                else:
                    cut.append(part)
            views.append(PageView(path, tuple(cut)))
        out.append(views)
    return out


def new_id(prefix: str) -> str:
    return prefix + secrets.token_urlsafe(12)


class ShopperTraffic:
    """An endless stream of batches for one visitor: page view after page view."""

    def __init__(self, vid: str, sid: str, views: list[PageView], offset: int) -> None:
        self.vid = vid
        self.sid = sid
        self._views = itertools.cycle(views[offset % len(views) :] + views[: offset % len(views)])
        self._batches: Iterator[tuple[int, tuple[dict[str, Any], ...]]] = iter(())
        self._pvid = ""
        self._path = "/"
        self._t0 = 0

    def next_batch(self) -> dict[str, Any]:
        for seq, events in self._batches:
            return self._wrap(seq, events)
        view = next(self._views)
        self._pvid, self._path, self._t0 = new_id("pv"), view.path, int(time.time() * 1000)
        self._batches = enumerate(view.batches)
        return self.next_batch()

    def _wrap(self, seq: int, events: tuple[dict[str, Any], ...]) -> dict[str, Any]:
        return {
            "v": 1, "vid": self.vid, "sid": self.sid, "pvid": self._pvid, "seq": seq,
            "t0": self._t0, "path": self._path, "events": list(events),
        }  # fmt: skip


def visit_batches(vid: str, visit: list[PageView]) -> list[dict[str, Any]]:
    """One probe visit re-addressed to a real visitor, with a fresh visit id."""
    sid = new_id("s")
    out: list[dict[str, Any]] = []
    for view in visit:
        pvid, t0 = new_id("pv"), int(time.time() * 1000)
        for seq, events in enumerate(view.batches):
            out.append({"v": 1, "vid": vid, "sid": sid, "pvid": pvid, "seq": seq, "t0": t0,
                        "path": view.path, "events": list(events)})  # fmt: skip
    return out
