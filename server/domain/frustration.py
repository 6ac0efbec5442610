"""Frustration signals: where shoppers struggle, found in the events already streamed.

Pure: no I/O. A visit is read one batch at a time (the flusher sees a page view's events
spread over several rounds), so detection is a small state machine per session whose
state is a JSON-ready dict: the flusher keeps it in Redis between rounds, the replay reads
a whole session from an empty state, and both find the same signals.

The signals (docs/admin.md "Frustration signals"), each with thresholds in
`FrustrationRules` (settings [frustration]):
- rage: `rage_clicks` clicks within `rage_window_ms` and `rage_radius_px` of the last one.
  One episode is one signal, however long the shopper keeps clicking.
- dead: a click on a non-interactive element followed by no DOM change and no navigation
  within `dead_window_ms`. The tracker watches each such click and reports what followed
  it (an `outcome` event); the verdict, and its threshold, are the server's.
- error: an uncaught error in the page within `error_window_ms` of a click (its kind and
  the script's origin only: never a message).
- quick_back: from page A to page B and back to A within `quick_back_ms`: B disappointed.
- thrash: `thrash_turns` sharp reversals of the pointer's direction (each after a run of at
  least `thrash_min_px`) within `thrash_window_ms`: a cursor shaken in annoyance. Mouse and
  pen only: touch visits send no pointer path.
A click inside an element marked `data-vitrine-frustration="off"` (the tracker sends
`nf: 1`) is never part of a signal: a quantity stepper is meant to be clicked fast.
"""

from __future__ import annotations

import copy
import math
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, replace
from typing import Any

RAGE, DEAD, ERROR, QUICK_BACK, THRASH = "rage", "dead", "error", "quick_back", "thrash"
SIGNALS = (RAGE, DEAD, ERROR, QUICK_BACK, THRASH)
# The tracker watches a click this long (OUTCOME_WINDOW_MS in server/domain/events.py):
# a dead- or error-click window longer than that could never be checked.
MAX_WINDOW_MS = 2000
_VIEWS_KEPT = 4  # page views of a session whose state is kept (late batches of the last ones)
_RECENT_CLICKS = 16  # at most this many clicks in the rage window are remembered


@dataclass(frozen=True)
class FrustrationRules:
    rage_clicks: int = 3
    rage_window_ms: int = 700
    rage_radius_px: int = 30
    dead_window_ms: int = 1000
    error_window_ms: int = 1000
    quick_back_ms: int = 5000
    thrash_turns: int = 5
    thrash_window_ms: int = 1500
    thrash_min_px: int = 20

    def __post_init__(self) -> None:
        if self.rage_clicks < 2:
            raise ValueError("rage_clicks is at least 2")
        for name in ("dead_window_ms", "error_window_ms"):
            if not 0 < getattr(self, name) <= MAX_WINDOW_MS:
                raise ValueError(f"{name} is 1..{MAX_WINDOW_MS} ms (the tracker's window)")


DEFAULT_RULES = FrustrationRules()


@dataclass(frozen=True)
class Signal:
    """One detected signal, where it happened (page view time `t`, browser epoch `at_ms`)."""

    kind: str
    pvid: str
    path: str
    t: int
    at_ms: int
    anchor: str | None = None  # the clicked element's anchor (click signals)
    x: int | None = None  # page coordinates (click and pointer signals)
    y: int | None = None
    rx: float | None = None  # inside the anchor's box (click signals)
    ry: float | None = None
    error_kind: str | None = None  # error clicks
    error_origin: str | None = None


class SessionFrustration:
    """The detection state of one session, fed its batches in the order they arrive."""

    def __init__(
        self, state: Mapping[str, Any] | None = None, rules: FrustrationRules = DEFAULT_RULES
    ) -> None:
        state = state or {}
        self.rules = rules
        # pvid -> {"c": recent clicks [t, x, y], "r": last click of an open rage episode,
        #          "m": last pointer point [t, x, y], "ax"/"ay": [direction, run px] per axis,
        #          "k": recent turn times, "h": last turn of an open thrash episode}
        self.views: dict[str, dict[str, Any]] = {
            str(k): _copy_view(v) for k, v in dict(state.get("v", {})).items()
        }
        # the session's latest page views, oldest first: [pvid, path, start epoch ms]
        self.nav: list[list[Any]] = [list(item) for item in state.get("n", [])]

    def to_state(self) -> dict[str, Any]:
        return {"v": self.views, "n": self.nav}

    def feed(self, batch: Mapping[str, Any]) -> list[Signal]:
        """The signals this batch completes (each is reported once, in this call only)."""
        pvid, path, t0 = str(batch["pvid"]), str(batch["path"]), int(batch["t0"])
        view = self.views.pop(pvid, None) or _new_view()
        self.views[pvid] = view  # most recently fed last: the oldest is dropped first
        while len(self.views) > _VIEWS_KEPT:
            self.views.pop(next(iter(self.views)))
        found: list[Signal] = []
        for event in batch["events"]:
            kind = event["k"]
            if kind == "click":
                found.extend(self._click(view, event, pvid, path, t0))
            elif kind == "outcome":
                found.extend(self._outcome(event, pvid, path, t0))
            elif kind == "move":
                found.extend(self._move(view, event, pvid, path, t0))
            elif kind == "page":
                found.extend(self._page(pvid, str(event["path"]), t0 + int(event["t"])))
        return found

    def _click(
        self, view: dict[str, Any], event: Mapping[str, Any], pvid: str, path: str, t0: int
    ) -> list[Signal]:
        if event.get("nf") == 1:
            return []
        rules, t, x, y = self.rules, int(event["t"]), int(event["x"]), int(event["y"])
        recent = [c for c in view["c"] if abs(t - c[0]) <= rules.rage_window_ms]
        near = [c for c in recent if math.dist((c[1], c[2]), (x, y)) <= rules.rage_radius_px]
        view["c"] = [*recent, [t, x, y]][-_RECENT_CLICKS:]
        if len(near) + 1 < rules.rage_clicks:
            return []
        open_episode = view["r"] >= 0 and abs(t - view["r"]) <= rules.rage_window_ms
        view["r"] = max(t, view["r"])
        if open_episode:
            return []
        return [_click_signal(RAGE, event, t, pvid, path, t0)]

    def _outcome(self, event: Mapping[str, Any], pvid: str, path: str, t0: int) -> list[Signal]:
        rules, t = self.rules, int(event["ct"])
        found = []
        if event.get("ia") == 0:
            changed = "dm" in event and event["dm"] <= rules.dead_window_ms
            left = "nv" in event and event["nv"] <= rules.dead_window_ms
            if not changed and not left:
                found.append(_click_signal(DEAD, event, t, pvid, path, t0))
        if "em" in event and event["em"] <= rules.error_window_ms:
            signal = _click_signal(ERROR, event, t, pvid, path, t0)
            kind, origin = event.get("ek", "other"), event.get("eo", "unknown")
            found.append(replace(signal, error_kind=kind, error_origin=origin))
        return found

    def _move(
        self, view: dict[str, Any], event: Mapping[str, Any], pvid: str, path: str, t0: int
    ) -> list[Signal]:
        rules, t, x, y = self.rules, int(event["t"]), int(event["x"]), int(event["y"])
        last = view["m"]
        view["m"] = [t, x, y]
        if last is None or not 0 <= t - last[0] <= rules.thrash_window_ms:
            view["ax"], view["ay"] = [0, 0], [0, 0]  # a pause or a late batch: start afresh
            return []
        turned = False
        for axis, delta in (("ax", x - last[1]), ("ay", y - last[2])):
            direction, run = view[axis]
            step = (delta > 0) - (delta < 0)
            if step == 0:
                continue
            if step == direction:
                view[axis] = [direction, run + abs(delta)]
                continue
            turned = turned or (direction != 0 and run >= rules.thrash_min_px)
            view[axis] = [step, abs(delta)]
        if not turned:
            return []
        view["k"] = [k for k in view["k"] if t - k <= rules.thrash_window_ms] + [t]
        if len(view["k"]) < rules.thrash_turns:
            return []
        open_episode = view["h"] >= 0 and t - view["h"] <= rules.thrash_window_ms
        view["h"] = t
        if open_episode:
            return []
        return [Signal(THRASH, pvid, path, t, t0 + t, x=x, y=y)]

    def _page(self, pvid: str, path: str, start_ms: int) -> list[Signal]:
        if any(item[0] == pvid for item in self.nav):
            return []  # the same page view announced again
        self.nav = sorted([*self.nav, [pvid, path, start_ms]], key=lambda item: item[2])[-3:]
        if len(self.nav) < 3 or self.nav[-1][0] != pvid:
            return []
        (_, before, _), (left_pvid, left_path, left_at), _ = self.nav
        if path != before or left_path == before:
            return []
        if start_ms - left_at > self.rules.quick_back_ms:
            return []
        return [Signal(QUICK_BACK, left_pvid, left_path, 0, left_at)]


def _new_view() -> dict[str, Any]:
    return {"c": [], "r": -1, "m": None, "ax": [0, 0], "ay": [0, 0], "k": [], "h": -1}


def _copy_view(view: Mapping[str, Any]) -> dict[str, Any]:
    """A stored view state as a fresh dict (unknown keys from another version dropped)."""
    fresh = _new_view()
    fresh.update({key: copy.deepcopy(value) for key, value in view.items() if key in fresh})
    return fresh


def _click_signal(
    kind: str, event: Mapping[str, Any], t: int, pvid: str, path: str, t0: int
) -> Signal:
    return Signal(
        kind, pvid, path, t, t0 + t, anchor=str(event["a"]), x=int(event["x"]),
        y=int(event["y"]), rx=float(event["rx"]), ry=float(event["ry"]),
    )  # fmt: skip


def session_signals(
    batches: Iterable[Mapping[str, Any]], rules: FrustrationRules = DEFAULT_RULES
) -> list[Signal]:
    """Every signal of a session's batches, fed in order (the replay's markers)."""
    detector = SessionFrustration(rules=rules)
    found: list[Signal] = []
    for batch in batches:
        found.extend(detector.feed(batch))
    return sorted(found, key=lambda s: s.at_ms)
