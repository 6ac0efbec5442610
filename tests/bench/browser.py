"""Tracker cost in Chromium: main-thread time of scripted browsing on the catalog, on vs off.

Three runs of the same seeded script (pointer sweeps over the product grid, hovers on prices,
clicks on prices, which are no links, wheel scrolls, a catalog page change every 20 s): one
with tracking on; one with the tracker as it was before issue 14 (tests/bench/tracker_before,
served in place of today's), to measure what the frustration and zone facts add; and one
with Global Privacy Control set (the tracker and the rrweb recorder do not start; their
modules still load). A Chrome trace of each run gives:

Times are the main thread's CPU time (Chrome's thread time), so other work on the machine
does not inflate them; wall-clock times are kept under "wall".

- main-thread time: the sum of the renderer main thread's top-level tasks;
- attributable time: inside those tasks, the outermost script calls (FunctionCall,
  EvaluateScript, module evaluation, compilation) whose script is the tracker, its transport,
  the recorder, rrweb or the Socket.IO client — with the layout, style and GC they cause;
- the longest task's attributable part.
"""

from __future__ import annotations

import json
import os
import random
import shutil
import time
from collections import defaultdict
from pathlib import Path
from typing import Any

CHROMIUM = os.environ.get("VITRINE_CHROMIUM") or shutil.which("chromium") or "/usr/bin/chromium"
FLAGS = [
    "--no-sandbox", "--disable-gpu", "--disable-background-networking",
    "--disable-component-update", "--disable-sync", "--no-first-run",
    "--explicitly-allowed-ports=1-65535",
]  # fmt: skip
TRACKER_SCRIPTS = (
    "/client/tracker.js", "/client/transport.js", "/client/recorder.js", "/client/anchors.js",
    "/client/schema.js", "/vendor/rrweb", "/vendor/socket.io",
)  # fmt: skip
CATEGORIES = ["toplevel", "devtools.timeline", "v8.execute"]
TOP_LEVEL = {"RunTask", "ThreadControllerImpl::RunTask", "ThreadPool_RunTask"}
SCRIPT_EVENTS = {"FunctionCall", "EvaluateScript", "v8.evaluateModule", "v8.compile",
                 "v8.compileModule", "TimerFire", "EventDispatch", "FireAnimationFrame"}  # fmt: skip
GPC_ON = "Object.defineProperty(Navigator.prototype, 'globalPrivacyControl', {get: () => true});"
BEFORE = Path(__file__).parent / "tracker_before"  # the tracker before issue 14


def _url_of(event: dict[str, Any]) -> str:
    args = event.get("args") or {}
    data = args.get("data") or {}
    for source in (data, args):
        for key in ("url", "fileName", "scriptName"):
            value = source.get(key)
            if isinstance(value, str) and value:
                return value
    frames = data.get("stackTrace") or []
    return str(frames[0].get("url", "")) if frames else ""


def is_tracker(url: str) -> bool:
    return any(part in url for part in TRACKER_SCRIPTS)


def analyse(trace: dict[str, Any], seconds: float) -> dict[str, Any]:
    """Main-thread and tracker-attributable time from a Chrome trace of `seconds` browsing."""
    events = trace["traceEvents"] if isinstance(trace, dict) else trace
    main_threads = {
        (e["pid"], e["tid"]) for e in events
        if e.get("ph") == "M" and e.get("name") == "thread_name"
        and e.get("args", {}).get("name") == "CrRendererMain"
    }  # fmt: skip
    by_thread: dict[tuple[int, int], list[dict[str, Any]]] = defaultdict(list)
    for event in events:
        key = (event.get("pid"), event.get("tid"))
        if key in main_threads and event.get("ph") == "X" and "dur" in event:
            by_thread[key].append(event)
    # Thread time (tdur) where Chrome gives it, so a busy machine does not inflate the
    # figures; wall time (dur) is kept alongside.
    busy = [0.0, 0.0]  # [thread, wall] microseconds
    attributed = [0.0, 0.0]
    longest = [0.0, 0.0]
    longest_task = 0.0
    for items in by_thread.values():
        items.sort(key=lambda e: (e["ts"], -e["dur"]))
        task_end, task_dur, in_task, script_end = -1.0, 0.0, [0.0, 0.0], -1.0
        for event in items:
            start, end = event["ts"], event["ts"] + event["dur"]
            spent = (float(event.get("tdur", event["dur"])), float(event["dur"]))
            if event["name"] in TOP_LEVEL and start >= task_end:
                if in_task[0] > longest[0]:
                    longest, longest_task = in_task, task_dur
                task_end, task_dur, in_task = end, spent[0], [0.0, 0.0]
                busy = [busy[0] + spent[0], busy[1] + spent[1]]
                continue
            if event["name"] in SCRIPT_EVENTS and start >= script_end:
                script_end = end
                if is_tracker(_url_of(event)):
                    attributed = [attributed[0] + spent[0], attributed[1] + spent[1]]
                    in_task = [in_task[0] + spent[0], in_task[1] + spent[1]]
        if in_task[0] > longest[0]:
            longest, longest_task = in_task, task_dur
    per_min = 60.0 / seconds / 1000
    return {
        "main_thread_ms_per_min": round(busy[0] * per_min, 1),
        "tracker_ms_per_min": round(attributed[0] * per_min, 1),
        "longest_tracker_task_ms": round(longest[0] / 1000, 1),
        "longest_tracker_task_whole_task_ms": round(longest_task / 1000, 1),
        "wall": {
            "main_thread_ms_per_min": round(busy[1] * per_min, 1),
            "tracker_ms_per_min": round(attributed[1] * per_min, 1),
            "longest_tracker_task_ms": round(longest[1] / 1000, 1),
        },
    }


async def _browse(page: Any, url: str, seconds: float, seed: int) -> None:
    """The scripted shopper: sweeps, hovers, scrolls, and a new catalog page every 20 s."""
    rng = random.Random(seed)
    await page.goto(url + "/catalog", wait_until="load")
    started = time.monotonic()
    next_nav, page_no = 20.0, 1
    while (elapsed := time.monotonic() - started) < seconds:
        if elapsed >= next_nav:
            page_no = page_no % 3 + 1
            await page.goto(f"{url}/catalog?page={page_no}", wait_until="load")
            next_nav += 20.0
        action = rng.random()
        if action < 0.6:
            await page.mouse.move(
                rng.randint(20, 1260), rng.randint(80, 880), steps=rng.randint(8, 25)
            )
        elif action < 0.66:
            # A click on a price: no link, so the tracker watches what follows (a dead click)
            prices = page.locator("[data-price]")
            count = await prices.count()
            if count:
                await prices.nth(rng.randrange(count)).click(timeout=2000)
        elif action < 0.8:
            prices = page.locator("[data-price]")
            count = await prices.count()
            if count:
                await prices.nth(rng.randrange(count)).hover(timeout=2000)
                await page.wait_for_timeout(rng.randint(120, 400))
        else:
            await page.mouse.wheel(0, rng.choice((-1, 1, 1)) * rng.randint(200, 700))
        await page.wait_for_timeout(rng.randint(30, 120))


async def _serve_tracker_before(context: Any) -> None:
    """Answer the tracker's modules with their copies from before issue 14."""
    for name in ("tracker.js", "schema.js", "anchors.js"):
        body = (BEFORE / name).read_text()

        async def fulfil(route: Any, _request: Any = None, body: str = body) -> None:
            await route.fulfill(status=200, body=body, content_type="text/javascript")

        await context.route(f"**/client/{name}", fulfil)


async def measure(url: str, seconds: float) -> dict[str, Any]:
    """Run the script with tracking on, with the tracker before issue 14, then off."""
    from playwright.async_api import async_playwright

    if not os.path.exists(CHROMIUM):
        return {"skipped": f"no Chromium at {CHROMIUM}"}
    out: dict[str, Any] = {"seconds": seconds, "page": "/catalog"}
    async with async_playwright() as playwright:
        browser = await playwright.chromium.launch(executable_path=CHROMIUM, headless=True,
                                                   args=FLAGS)  # fmt: skip
        try:
            for label in ("on", "before", "off"):
                context = await browser.new_context(viewport={"width": 1280, "height": 900})
                if label == "off":
                    await context.add_init_script(GPC_ON)
                if label == "before":
                    await _serve_tracker_before(context)
                page = await context.new_page()
                await browser.start_tracing(page=page, categories=CATEGORIES)
                started = time.monotonic()
                await _browse(page, url, seconds, seed=5)
                elapsed = time.monotonic() - started
                running = await page.evaluate(
                    "() => Boolean(window.vitrineDebug?.tracker.stats.running)"
                )
                trace = json.loads(await browser.stop_tracing())
                out[label] = {**analyse(trace, elapsed), "tracker_running": running}
                await context.close()
            now, before = out["on"]["tracker_ms_per_min"], out["before"]["tracker_ms_per_min"]
            out["added_ms_per_min"] = round(now - before, 1)
        finally:
            await browser.close()
    return out
