"""Touch helpers for the browser tests: a phone context, a finger swipe and a long press.

Chromium only (the gestures go through the DevTools protocol). The swipe and the long press
are real touch input: the page sees touch and pointer events with pointerType "touch" and
scrolls natively, as it would under a finger; nothing moves a mouse pointer.
"""

from __future__ import annotations

import asyncio
from typing import Any

PHONE_VIEWPORT = {"width": 390, "height": 844}
# Chromium starts a touch scroll only once the finger has moved this far, and does not
# scroll by that first stretch: a swipe moves the finger this much further than `dy`.
TOUCH_SLOP_PX = 15


async def phone_context(browser: Any, **options: Any) -> Any:
    """A new browser context that looks like a phone: 390 x 844, mobile, touch screen.

    In it `matchMedia("(hover: hover)")` does not match, so the tracker's page events carry
    `hov: 0` and `dev: "mobile"`. Extra keyword arguments go to `browser.new_context`.
    """
    settings: dict[str, Any] = {
        "viewport": dict(PHONE_VIEWPORT),
        "is_mobile": True,
        "has_touch": True,
        "device_scale_factor": 2,
    }
    settings.update(options)
    return await browser.new_context(**settings)


async def _cdp(page: Any) -> Any:
    """One DevTools session per page, kept on the page object."""
    session = getattr(page, "_vitrine_cdp", None)
    if session is None:
        session = await page.context.new_cdp_session(page)
        page._vitrine_cdp = session
    return session


async def swipe(page: Any, dy: int, *, x: int = 195, y: int = 600, speed: int = 1200) -> None:
    """A finger swipe that scrolls the page down by `dy` CSS px (up when `dy` < 0).

    The finger is put down at (x, y) in the viewport (for an upward swipe, at the same
    distance from the bottom edge), dragged the other way at `speed` px/s in 16 ms steps,
    held still for a moment so there is no fling, and lifted; a long `dy` is done in
    several strokes. Returns when the page has stopped scrolling.

    Real touch events through the DevTools protocol (touchstart/touchmove/touchend, pointer
    events with pointerType "touch", a native scroll). `Input.synthesizeScrollGesture` with
    `gestureSourceType: "touch"` does not scroll headless Chromium, hence the manual drag.
    """
    if dy == 0:
        return
    session = await _cdp(page)
    height = int(await page.evaluate("() => window.innerHeight"))
    down = dy > 0
    start = y if down else max(40, height - y)
    room = (start - 40) if down else (height - 40 - start)
    room = max(room, 40 + TOUCH_SLOP_PX) - TOUCH_SLOP_PX
    step = max(4.0, speed * 0.016)
    remaining = abs(int(dy))
    while remaining > 0:
        stroke = min(remaining, room)
        remaining -= stroke
        await _touch(session, "touchStart", x, start)
        travel, moved = float(stroke + TOUCH_SLOP_PX), 0.0
        while moved < travel:
            moved = min(travel, moved + step)
            await asyncio.sleep(0.016)
            await _touch(session, "touchMove", x, start - moved if down else start + moved)
        end = start - travel if down else start + travel
        for _ in range(8):  # hold still before lifting: no velocity, no fling
            await asyncio.sleep(0.016)
            await _touch(session, "touchMove", x, end)
        await session.send("Input.dispatchTouchEvent", {"type": "touchEnd", "touchPoints": []})
    await settle_scroll(page)


async def _touch(session: Any, kind: str, x: float, y: float) -> None:
    point = {"x": x, "y": y, "radiusX": 4, "radiusY": 4, "force": 1, "id": 0}
    await session.send("Input.dispatchTouchEvent", {"type": kind, "touchPoints": [point]})


async def long_press(page: Any, x: float, y: float, *, hold_ms: int = 900) -> None:
    """A finger pressed at viewport point (x, y), held `hold_ms` without moving, lifted."""
    session = await _cdp(page)
    await _touch(session, "touchStart", x, y)
    await asyncio.sleep(hold_ms / 1000)
    await session.send("Input.dispatchTouchEvent", {"type": "touchEnd", "touchPoints": []})


async def settle_scroll(page: Any, *, quiet_ms: int = 300) -> None:
    """Wait until scrollY has not changed for `quiet_ms`."""
    await page.wait_for_function(
        """(quiet) => new Promise((resolve) => {
          let last = window.scrollY;
          const tick = () => { if (window.scrollY === last) resolve(true);
                               else { last = window.scrollY; setTimeout(tick, quiet); } };
          setTimeout(tick, quiet);
        })""",
        arg=quiet_ms,
    )
