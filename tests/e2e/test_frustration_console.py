"""Frustration in Chromium, end to end: a shopper rage-clicks and dead-clicks the product title (no
link); both show on the open overview's signal counts, on the console's heatmap layer and among
the session's replay markers."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import orjson
import pytest

from tests.e2e.conftest import ADMIN_PASSWORD, ADMIN_USER
from tests.support.admin_client import AdminClient, sign_in_browser
from tests.support.live_server import ServerProcess
from tests.support.polling import eventually

PAGE = "/product/p004"


@pytest.fixture
async def admin(shop: ServerProcess) -> AsyncIterator[AdminClient]:
    async with AdminClient(shop.url, ADMIN_USER, ADMIN_PASSWORD) as client:
        yield client


async def console(browser: Any, url: str) -> Any:
    context = await browser.new_context(viewport={"width": 1400, "height": 1000})
    page = await context.new_page()
    page.csp_errors = []
    page.on("console", lambda m: page.csp_errors.append(m.text)
            if m.type == "error" and "Content Security Policy" in m.text else None)  # fmt: skip
    await sign_in_browser(page, url, ADMIN_USER, ADMIN_PASSWORD)
    return page


async def test_a_rage_and_a_dead_click_show_on_the_layer_and_the_replay(
    shop: ServerProcess, page: Any, admin: AdminClient, browser: Any
) -> None:
    desk = await console(browser, shop.url)  # the overview, open before the shopper comes
    rage_total = desk.locator('[data-signal-total="rage"]')
    await rage_total.wait_for()
    rage_before = int((await rage_total.text_content()).replace(",", ""))

    await page.goto(shop.url + PAGE)
    await page.wait_for_function("() => window.vitrineDebug?.tracker.stats.running")
    # The page changes itself about 1 s after load (the persona and cart count arrive): any
    # change within 1 s of a click counts as its effect, so the shopper clicks once settled.
    await page.wait_for_timeout(3000)
    title = page.locator("#product-title")
    box = await title.bounding_box()
    x, y = box["x"] + box["width"] / 2, box["y"] + box["height"] / 2
    for _ in range(3):  # a burst on the title: a rage click (and dead clicks: no link)
        await page.mouse.click(x, y)
        await page.wait_for_timeout(120)
    await page.wait_for_timeout(2300)  # the tracker watches each click 2 s
    await page.evaluate("() => window.vitrineDebug.tracker.flush()")

    async def counted() -> dict[str, Any] | None:
        status, body = await admin._get(f"/admin/api/frustration?page={PAGE}")
        assert status == 200, body
        totals = orjson.loads(body)["totals"]
        return totals if totals["rage"] >= 1 and totals["dead"] >= 1 else None

    totals = await eventually(counted, timeout=60)
    assert totals["rage"] == 1  # one burst, one signal

    # The overview counts it without a reload (pushed every ~2 s, recomputed every 10 s).
    await desk.wait_for_function(
        "before => Number(document.querySelector('[data-signal-total=\"rage\"]')"
        ".textContent.replace(/,/g, '')) > before",
        arg=rage_before, timeout=30_000,
    )  # fmt: skip
    await desk.screenshot(path="var/artifacts/screenshots/overview-struggle.png", full_page=True)

    await desk.goto(f"{shop.url}/admin/heatmap?page={PAGE}&kind=frustration&width=1280")
    await desk.wait_for_function(
        "() => document.querySelector('[data-heatmap-stage]').dataset.state === 'ready'"
    )
    placed = await desk.locator("[data-heatmap-canvas]").get_attribute("data-signals")
    kinds = dict(item.split(":") for item in placed.split(","))
    assert float(kinds["rage"]) == 1 and float(kinds["dead"]) >= 1, placed
    await desk.screenshot(path="var/artifacts/screenshots/heatmap-frustration.png", full_page=True)

    sessions = orjson.loads((await admin._get("/admin/api/sessions?signal=rage"))[1])["sessions"]
    sid = next(s["session_id"] for s in sessions if s["frustration"].get("rage"))
    await desk.goto(f"{shop.url}/admin/sessions/{sid}")
    markers = desk.locator('[data-marker-kind="frustration"]')
    await markers.first.wait_for(timeout=20_000)
    labels = await markers.evaluate_all("els => els.map(e => e.dataset.markerLabel)")
    assert labels.count("rage") == 1 and "dead" in labels, labels
    await desk.screenshot(path="var/artifacts/screenshots/replay-frustration.png", full_page=True)
    assert desk.csp_errors == []
