"""The admin console in Chromium, on sessions recorded by a scripted shopper in Chromium.

One server for the module, in this process (so the test can read the store, and insert a
persona change when the worker has not made one yet). Screenshots and the measured API
timings go to var/artifacts/.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import statistics
import time
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from server.adapters.embedded_valkey import EmbeddedValkey
from server.app import VitrineApp
from tests.support.admin_client import sign_in_browser
from tests.support.live_server import running_app
from tests.support.polling import eventually
from tests.support.settings import CONSENT_GRANTED, build_settings, unique_name

ADMIN = ("console-e2e", "console-password-1")
PRODUCT, SECOND_PRODUCT, LIVE_PRODUCT = "p005", "p020", "p031"
BUTTON = f'[data-product-id="{PRODUCT}"] [data-action="add-to-cart"]'
QUANTITY = '[data-field="quantity"]'
TIMINGS_FILE = "admin-api-timings.json"
# The replayed page is this product's page: its root, not a related-product card.
SHOWS_PRODUCT_PAGE = """(pid) => {
    const frame = document.querySelector('.replayer-wrapper iframe');
    return !!frame?.contentDocument?.querySelector(`[data-product-id="${pid}"][data-category]`);
}"""


@pytest.fixture(scope="module")
async def console(
    valkey: EmbeddedValkey, models_dir: Path, tmp_path_factory: pytest.TempPathFactory
) -> AsyncIterator[tuple[VitrineApp, str]]:
    name = unique_name("e2eadmin")
    # The scripted shoppers do not click the consent banner.
    settings = build_settings(
        name, tmp_path_factory.mktemp(name), models_dir, valkey.url, privacy=CONSENT_GRANTED
    )
    async with running_app(settings) as (app, url):
        await app.services.admins.create(*ADMIN, "admin")
        yield app, url


async def shopper_page(browser: Any, width: int = 1280) -> Any:
    context = await browser.new_context(viewport={"width": width, "height": 900})
    page = await context.new_page()
    page.errors = []
    page.on("pageerror", lambda error: page.errors.append(str(error)))
    return page


async def recorder_acked(page: Any, at_least: int) -> bool:
    return bool(
        await page.evaluate(
            "n => !!(window.vitrineDebug && window.vitrineDebug.recorder.stats"
            " && window.vitrineDebug.recorder.stats.acked >= n)",
            at_least,
        )
    )


async def admin_page(browser: Any, url: str, width: int = 1600) -> Any:
    context = await browser.new_context(viewport={"width": width, "height": 1000})
    page = await context.new_page()
    page.errors = []
    page.on("pageerror", lambda error: page.errors.append(str(error)))
    # CSP is script-src 'self' without eval: a violation shows as a console error.
    page.on(
        "console",
        lambda message: (
            page.errors.append(message.text)
            if message.type == "error" and "Content Security Policy" in message.text
            else None
        ),
    )
    await sign_in_browser(page, url, *ADMIN)
    return page


async def ensure_persona_change(app: VitrineApp, sid: str, vid: str) -> None:
    """The worker records changes on its own schedule; make sure the session has one."""
    history = app.services.store["persona_history"]
    exposures = app.services.store["exposures"]
    chunks = await app.services.admin.replays.of_session(sid, vid)
    middle = (chunks[0]["first_ts"] + chunks[-1]["last_ts"]) / 2000
    at = datetime.fromtimestamp(middle, UTC)
    if await history.count_documents({"sid": sid, "changed": True}):
        # The adaptation shown with it is stored by the workers' document writer, from the
        # write queue: wait for it rather than read the replay before it lands. A visitor
        # drawn into the control arm (10 %) is shown none (its exposures are counterfactual,
        # not markers): then one is recorded here.
        shown = {"sid": sid, "counterfactual": {"$ne": True}}
        with contextlib.suppress(AssertionError):
            await eventually(lambda: exposures.count_documents(shown), timeout=10)
            return
    else:
        await history.insert_many(
            [{"vid": vid, "sid": sid, "at": at, "persona": "explorer", "shown": "explorer",
              "confidence": 0.86, "reasons": ["browsed several categories"],
              "model_version": "e2e", "source": "local", "changed": True}]
        )  # fmt: skip
    await exposures.insert_many(
        [{"vid": vid, "sid": sid, "at": at + timedelta(milliseconds=300),
          "adaptation": "discover-more", "persona": "explorer", "arm": "treatment"}]
    )  # fmt: skip


async def painted_over(page: Any, selector: str) -> dict[str, Any]:
    """Where a clicked element is in the preview, and whether the canvas is painted there."""
    return await page.evaluate(
        """(selector) => {
            const frame = document.querySelector('[data-heatmap-iframe]');
            const node = frame.contentDocument.querySelector(selector);
            const rect = node.getBoundingClientRect();
            const x = Math.round(rect.left + rect.width / 2), y = Math.round(rect.top + rect.height / 2);
            const canvas = document.querySelector('[data-heatmap-canvas]');
            const pixels = canvas.getContext('2d').getImageData(x - 3, y - 3, 7, 7).data;
            let painted = 0;
            for (let i = 3; i < pixels.length; i += 4) if (pixels[i] > 0) painted += 1;
            const far = canvas.getContext('2d').getImageData(5, canvas.height - 6, 1, 1).data[3];
            return {x, y, painted, far, width: canvas.width, frameWidth: frame.clientWidth};
        }""",
        selector,
    )


async def recorded_anchors(app: VitrineApp, path: str) -> list[str]:
    docs = await app.services.pipeline.events.heatmap_bins.find({"path": path}).to_list()
    return sorted({selector for doc in docs for selector in doc.get("anchors", {}).values()})


async def timed(page: Any, path: str, runs: int = 20) -> dict[str, float]:
    durations = []
    for _ in range(runs):
        started = time.perf_counter()
        response = await page.request.get(path)
        assert response.status == 200, (path, response.status)
        await response.body()
        durations.append((time.perf_counter() - started) * 1000)
    durations.sort()
    return {
        "median_ms": round(statistics.median(durations), 1),
        "p95_ms": round(durations[int(len(durations) * 0.95) - 1], 1),
        "max_ms": round(durations[-1], 1),
        "runs": runs,
    }


async def test_record_replay_heatmap_and_live(
    console: tuple[VitrineApp, str], browser: Any, artifacts: Path
) -> None:
    app, url = console
    # A scripted shopper: a product page, pointer moves, a click on add-to-cart, a scroll,
    # then a second product.
    shopper = await shopper_page(browser, 1920)
    await shopper.goto(f"{url}/product/{PRODUCT}")
    sid = await shopper.get_attribute('meta[name="vitrine-sid"]', "content")
    vid = await shopper.get_attribute('meta[name="vitrine-vid"]', "content")
    await eventually(lambda: recorder_acked(shopper, 1), timeout=30)
    for step in range(12):
        await shopper.mouse.move(200 + step * 60, 300 + step * 15)
        await asyncio.sleep(0.05)
    await shopper.click(QUANTITY)
    await shopper.click(BUTTON)
    await shopper.wait_for_function(
        "() => document.querySelector('[data-cart-count]')?.textContent.trim() === '1'"
    )
    await shopper.mouse.wheel(0, 600)
    await asyncio.sleep(2.5)  # one recorder flush interval
    await shopper.evaluate("() => window.vitrineDebug.tracker.flush()")
    await eventually(lambda: recorder_acked(shopper, 3), timeout=30)
    await shopper.goto(f"{url}/product/{SECOND_PRODUCT}")
    await eventually(lambda: recorder_acked(shopper, 1), timeout=30)
    await asyncio.sleep(2.5)
    assert shopper.errors == []

    events = app.services.pipeline.events
    await eventually(lambda: events.session(sid), timeout=30)
    bins = events.heatmap_bins
    await eventually(
        lambda: bins.count_documents({"path": f"/product/{PRODUCT}", "kind": "click"}), timeout=30
    )
    await ensure_persona_change(app, sid, vid)

    admin = await admin_page(browser, url)
    await admin.goto(f"{url}/admin/sessions")
    await admin.wait_for_selector(f'tr[data-session-id="{sid}"]')
    await admin.screenshot(path=str(artifacts / "admin-sessions.png"), full_page=True)

    # Replay: rrweb-player's sandboxed iframe shows the product page; the persona change is
    # a marker on the time bar and an entry beside it.
    await admin.goto(f"{url}/admin/sessions/{sid}")
    await admin.wait_for_selector('[data-replay-player][data-state="ready"]', timeout=30_000)
    replay_frame = admin.locator(".replayer-wrapper iframe")
    assert await replay_frame.get_attribute("sandbox") == "allow-same-origin"
    await admin.wait_for_function(
        SHOWS_PRODUCT_PAGE,
        arg=PRODUCT,
        timeout=20_000,
    )
    assert await admin.locator('.rr-progress div[title="persona"]').count() >= 1
    assert await admin.locator('.rr-progress div[title="exposure"]').count() >= 1
    assert await admin.locator('[data-replay-markers] [data-marker="persona"]').count() >= 1
    await admin.locator('[data-replay-markers] [data-marker="persona"]').first.click()
    await asyncio.sleep(0.5)
    await admin.screenshot(path=str(artifacts / "admin-replay.png"), full_page=True)

    # Heatmap of the clicked page at two widths: paint over the clicked button at both.
    # The add-to-cart button is asserted only when its recorded anchor names it alone: the
    # tracker gives an element with both data-product-id and data-action the selector
    # [data-product-id="…"], which the product page's root matches first (see the report).
    anchors = await recorded_anchors(app, f"/product/{PRODUCT}")
    clicked = [QUANTITY] + ([BUTTON] if BUTTON in anchors else [])
    for width in (1280, 1920):
        await admin.goto(f"{url}/admin/heatmap?page=/product/{PRODUCT}&kind=click&width={width}")
        await admin.wait_for_selector('[data-heatmap-stage][data-state="ready"]', timeout=30_000)
        for selector in clicked:
            spot = await painted_over(admin, selector)
            assert spot["width"] == width and spot["frameWidth"] == width
            assert spot["painted"] > 0, (width, selector, spot)
            assert spot["far"] == 0, spot  # nothing painted where nobody clicked
        await admin.screenshot(path=str(artifacts / f"admin-heatmap-{width}.png"), full_page=True)
    # The preview did not make the admin a tracked shopper.
    preview_tracker = await admin.evaluate(
        "() => document.querySelector('[data-heatmap-iframe]').contentWindow.vitrineDebug.tracker.stats.reason"
    )
    assert preview_tracker == "consent_denied"

    # Measured on the data this test produced.
    timings: dict[str, Any] = {
        "recorded_anchors": anchors,
        "heatmap_api": await timed(
            admin, f"{url}/admin/api/heatmap?page=/product/{PRODUCT}&kind=click"
        ),
        "sessions_api": await timed(admin, f"{url}/admin/api/sessions"),
        "sessions_in_store": await events.sessions.count_documents({}),
        "heatmap_bins_in_store": await bins.count_documents({}),
    }

    # Movement and scroll maps of the same page.
    for kind in ("move", "scroll"):
        await admin.goto(f"{url}/admin/heatmap?page=/product/{PRODUCT}&kind={kind}&width=1280")
        await admin.wait_for_selector('[data-heatmap-stage][data-state="ready"]', timeout=30_000)
        assert int(await admin.get_attribute("[data-heatmap-summary]", "data-total") or 0) > 0
        await admin.screenshot(path=str(artifacts / f"admin-heatmap-{kind}.png"), full_page=True)

    # A second, running session: its movement grows a live heatmap, then it is watched live.
    live = await shopper_page(browser, 1280)
    await live.goto(f"{url}/product/{LIVE_PRODUCT}")
    live_sid = await live.get_attribute('meta[name="vitrine-sid"]', "content")
    await eventually(lambda: recorder_acked(live, 1), timeout=30)
    await live.evaluate("() => window.vitrineDebug.tracker.flush()")
    await eventually(lambda: events.session(live_sid), timeout=30)
    await admin.goto(
        f"{url}/admin/heatmap?page=/product/{LIVE_PRODUCT}&kind=move&width=1280&live=1"
    )
    await admin.wait_for_selector('[data-heatmap-stage][data-state="ready"]', timeout=30_000)
    before_moves = int(await admin.get_attribute("[data-heatmap-summary]", "data-total") or 0)
    for step in range(30):
        await live.mouse.move(100 + step * 30, 200 + step * 12)
        await asyncio.sleep(0.06)
    await live.evaluate("() => window.vitrineDebug.tracker.flush()")
    await admin.wait_for_function(
        "(n) => Number(document.querySelector('[data-heatmap-summary]').dataset.total) > n",
        arg=before_moves,
        timeout=20_000,
    )
    assert int(await admin.get_attribute("[data-heatmap-stage]", "data-live-updates") or 0) >= 1
    await admin.screenshot(path=str(artifacts / "admin-heatmap-live.png"), full_page=True)
    await admin.goto(f"{url}/admin/sessions/{live_sid}?live=1")
    await admin.wait_for_selector('[data-replay-player][data-state="live"]', timeout=30_000)
    await admin.wait_for_function(
        SHOWS_PRODUCT_PAGE,
        arg=LIVE_PRODUCT,
        timeout=20_000,
    )
    before = int(await admin.get_attribute("[data-replay-player]", "data-live-events") or 0)
    await live.goto(f"{url}/product/{SECOND_PRODUCT}")
    started = time.monotonic()
    await admin.wait_for_function(
        SHOWS_PRODUCT_PAGE,
        arg=SECOND_PRODUCT,
        timeout=20_000,
    )
    timings["live_replay_lag_s"] = round(time.monotonic() - started, 2)
    after = int(await admin.get_attribute("[data-replay-player]", "data-live-events") or 0)
    assert after > before
    await admin.screenshot(path=str(artifacts / "admin-replay-live.png"), full_page=True)

    await admin.goto(f"{url}/admin")
    await admin.wait_for_function(
        "() => Number(document.body.dataset.updates || 0) >= 2", timeout=15_000
    )
    await admin.screenshot(path=str(artifacts / "admin-overview.png"), full_page=True)

    (artifacts / TIMINGS_FILE).write_text(json.dumps(timings, indent=2))
    print("admin API timings:", json.dumps(timings))
    assert admin.errors == [] and live.errors == []
