"""One simulated page view: a clock, a pointer and a scroll position that emit tracker events.

The events follow docs/events.md: `t` in ms since the page view's t0, page coordinates in CSS
pixels, moves at most 20 Hz while moving, scroll samples at most 5 Hz, hovers of 100 ms or more.
"""

from __future__ import annotations

import math
import random
from dataclasses import dataclass
from typing import Any

MAX_COORD = 100_000
BATCH_EVENTS = 50
MOVE_MIN_MS = 50
SCROLL_MIN_MS = 200


@dataclass(frozen=True)
class Device:
    """A shopper's screen and pointer: `dense` mouse, `sparse` (scripted/trackpad) or `touch`."""

    kind: str  # desktop / tablet / mobile
    vw: int
    vh: int
    pointer: str

    @property
    def narrow(self) -> bool:
        """Tell whether layouts stack into one column."""
        return self.vw < 700


@dataclass(frozen=True)
class Box:
    """An element's box in page coordinates."""

    x: float
    y: float
    w: float
    h: float


class PageRecorder:
    """Emit the events of one page view in time order."""

    def __init__(
        self,
        rng: random.Random,
        *,
        pvid: str,
        t0: int,
        path: str,
        kind: str,
        device: Device,
        dh: int,
        ref: str,
        pointer: tuple[float, float],
        extra: dict[str, Any],
    ) -> None:
        self.rng = rng
        self.pvid = pvid
        self.t0 = t0
        self.path = path
        self.kind = kind
        self.device = device
        self.dh = max(dh, device.vh)
        self.events: list[dict[str, Any]] = []
        self.t = rng.randint(15, 250)  # the page event fires once the DOM is ready
        self.scroll_y = 0.0
        self.depth = min(1.0, device.vh / self.dh)
        self.x, self.y = pointer
        self.last_vis = 0
        self.last_move = self.last_scroll = -10_000
        self.pid: str = str(extra.get("pid", ""))
        page: dict[str, Any] = {
            "path": path,
            "title": kind.capitalize(),
            "ref": ref,
            "vw": device.vw,
            "vh": device.vh,
            "dh": self.dh,
            "dev": device.kind,
            "hov": 0 if device.pointer == "touch" else 1,
        }
        page.update(extra)
        self.emit("page", **page)

    @property
    def now(self) -> int:
        """Return the current time in epoch ms."""
        return self.t0 + self.t

    def emit(self, kind: str, **fields: Any) -> None:
        """Append one event at the current time."""
        self.events.append({"k": kind, "t": self.t, **fields})

    def wait(self, ms: float) -> None:
        """Let time pass without any event."""
        self.t += max(0, int(ms))

    def read(self, ms: float, wiggle: bool = True) -> None:
        """Pass time reading; a mouse user drifts the pointer now and then."""
        end = self.t + int(ms)
        while self.device.pointer == "dense" and wiggle and end - self.t > 2_500:
            self.wait(self.rng.uniform(800, 2_400))
            if self.rng.random() < 0.5:
                dx, dy = self.rng.gauss(0, 60), self.rng.gauss(0, 40)
                self.move_to(self.x + dx, self.y + dy, speed=300, curvature=0.3)
        self.t = max(self.t, end)

    def move_to(self, x: float, y: float, *, speed: float, curvature: float) -> None:
        """Move the pointer to a page position, sampling at <= 20 Hz for a mouse."""
        x = min(max(x, 0.0), self.device.vw - 1.0)
        y = min(max(y, 0.0), self.dh - 1.0)
        pointer = self.device.pointer
        if pointer == "touch":
            self.x, self.y = x, y
            return
        dist = math.hypot(x - self.x, y - self.y)
        if dist < 2:
            return
        if pointer == "sparse":
            self.wait(self.rng.randint(5, 40))
            self._emit_move(x, y)
            return
        steps = max(1, int((dist / max(speed, 50.0) * 1000 + self.rng.uniform(30, 120)) / 55))
        side = self.rng.choice((-1.0, 1.0)) * curvature * dist
        nx, ny = -(y - self.y) / dist, (x - self.x) / dist  # unit normal of the straight path
        cx = (self.x + x) / 2 + nx * side
        cy = (self.y + y) / 2 + ny * side
        sx, sy = self.x, self.y
        for i in range(1, steps + 1):
            s = i / steps
            s = s * s * (3 - 2 * s)  # ease in and out, like a hand
            px = (1 - s) ** 2 * sx + 2 * (1 - s) * s * cx + s * s * x
            py = (1 - s) ** 2 * sy + 2 * (1 - s) * s * cy + s * s * y
            self.wait(self.rng.randint(50, 62))
            self._emit_move(px, py)
        self.x, self.y = x, y

    def _emit_move(self, x: float, y: float) -> None:
        self.t = max(self.t, self.last_move + MOVE_MIN_MS)  # the tracker throttles to 20 Hz
        self.last_move = self.t
        self.x, self.y = x, y
        self.emit("move", x=_coord(x), y=_coord(y))

    def scroll_to(self, target: float, *, speed: float, jump: bool = False) -> None:
        """Scroll to a page offset; smooth samples at <= 5 Hz, or one jump (scripted)."""
        target = min(max(target, 0.0), float(self.dh - self.device.vh))
        dist = target - self.scroll_y
        if abs(dist) < 1:
            return
        if jump:
            self.wait(self.rng.randint(20, 80))
            self._emit_scroll(target)
            return
        duration = abs(dist) / max(speed, 100.0) * 1000
        steps = max(1, round(duration / 220))
        start = self.scroll_y
        for i in range(1, steps + 1):
            self.wait(max(200, duration / steps + self.rng.uniform(-10, 20)))
            self._emit_scroll(start + dist * i / steps)

    def scroll_in_steps(self, target: float, *, step_px: float, pause_ms: float) -> None:
        """Scroll like a script's wheel calls: chunks with a pause between them."""
        target = min(max(target, 0.0), float(self.dh - self.device.vh))
        while abs(target - self.scroll_y) >= 1:
            delta = max(-step_px, min(step_px, target - self.scroll_y))
            self.wait(pause_ms * self.rng.uniform(0.7, 1.3))
            self._emit_scroll(self.scroll_y + delta)

    def _emit_scroll(self, y: float) -> None:
        self.t = max(self.t, self.last_scroll + SCROLL_MIN_MS)  # and scroll samples to 5 Hz
        self.last_scroll = self.t
        # The pointer keeps its place on screen, so its page position moves with the scroll.
        self.y = min(self.y + (y - self.scroll_y), self.dh - 1.0)
        self.scroll_y = y
        self.depth = max(self.depth, min(1.0, (y + self.device.vh) / self.dh))
        self.emit("scroll", y=_coord(y), d=round(self.depth, 3))

    def ensure_visible(self, box: Box, *, speed: float, jump: bool = False) -> None:
        """Scroll so that a box is comfortably on screen."""
        top, bottom = self.scroll_y + 40, self.scroll_y + self.device.vh - 40
        if box.y >= top and box.y + box.h <= bottom:
            return
        self.scroll_to(box.y - self.device.vh * 0.35, speed=speed, jump=jump)

    def hover(
        self,
        anchor: str,
        tag: str,
        box: Box,
        ms: float,
        *,
        speed: float,
        curvature: float,
        pid: str | None = None,
    ) -> None:
        """Rest the pointer on a tagged element; on a touch screen, bring it into view and look."""
        if self.device.pointer == "touch":
            # A finger cannot hover: the shopper swipes the element on screen and stops there.
            self.ensure_visible(box, speed=speed * 2)
            self.wait(ms)
            return
        self.ensure_visible(box, speed=speed * 2)
        self.move_to(*_inside(self.rng, box), speed=speed, curvature=curvature)
        self.wait(ms)
        event: dict[str, Any] = {"a": anchor, "tag": tag, "ms": max(100, int(ms))}
        if pid is not None:
            event["pid"] = pid
        self.emit("hover", **event)

    def click(
        self,
        anchor: str,
        box: Box,
        *,
        speed: float,
        curvature: float,
        hesitate_ms: float,
        act: str | None = None,
        pid: str | None = None,
    ) -> None:
        """Point at an element, maybe hesitate, and click it."""
        self.ensure_visible(box, speed=speed * 2)
        rx, ry = self.rng.uniform(0.2, 0.8), self.rng.uniform(0.25, 0.75)
        x, y = box.x + rx * box.w, box.y + ry * box.h
        self.move_to(x, y, speed=speed, curvature=curvature)
        self.wait(hesitate_ms)
        self.wait(self.rng.randint(30, 120))  # press to release
        event: dict[str, Any] = {
            "x": _coord(x),
            "y": _coord(y),
            "a": anchor,
            "rx": round(rx, 3),
            "ry": round(ry, 3),
        }
        if act is not None:
            event["act"] = act
        if pid is not None:
            event["pid"] = pid
        event["pt"] = "touch" if self.device.pointer == "touch" else "mouse"
        self.emit("click", **event)

    def visibility(self, hidden_ms: float) -> None:
        """Switch to another tab for a while and come back."""
        self.emit("vis", s="hidden", act_ms=self.t - self.last_vis)
        self.last_vis = self.t
        self.wait(hidden_ms)
        self.emit("vis", s="visible", act_ms=0)
        self.last_vis = self.t


def _coord(value: float) -> int:
    return int(min(max(value, 0), MAX_COORD))


def _inside(rng: random.Random, box: Box) -> tuple[float, float]:
    return box.x + rng.uniform(0.2, 0.8) * box.w, box.y + rng.uniform(0.25, 0.75) * box.h


def batch_page(
    rng: random.Random, page: PageRecorder, *, vid: str, sid: str, unload_abs: int
) -> list[tuple[int, dict[str, Any]]]:
    """Group a page view's events into tracker batches: about one a second, at most 50 events."""
    batches: list[tuple[int, dict[str, Any]]] = []
    pending: list[dict[str, Any]] = []
    next_flush = rng.randint(900, 1_100)

    def flush(at_t: int) -> None:
        batch = {
            "v": 1,
            "vid": vid,
            "sid": sid,
            "pvid": page.pvid,
            "seq": len(batches),
            "t0": page.t0,
            "path": page.path,
            "events": list(pending),
        }
        batches.append((page.t0 + at_t, batch))
        pending.clear()

    for event in page.events:
        while event["t"] > next_flush:
            if pending:
                flush(next_flush)
            next_flush += rng.randint(950, 1_050)
        pending.append(event)
        if len(pending) == BATCH_EVENTS:
            flush(event["t"])
            next_flush = event["t"] + rng.randint(950, 1_050)
    if pending:
        # The last events leave with the unload beacon, or at the next tick if that is sooner.
        flush(min(next_flush, max(unload_abs - page.t0, pending[-1]["t"])))
    return batches
